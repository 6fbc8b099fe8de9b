"""movierec: end-to-end movie recommendations on MovieLens.

The Python API (``import movierec as mr``): :func:`load` a release, :func:`make_model` and
``fit`` it, ``model.recommend`` / ``model.predict`` with MovieLens ids, :func:`recommend`
(titles and reasons), :func:`fold_in` (someone new, without retraining), :func:`evaluate`
(a leaderboard). See :mod:`movierec.library` and docs/python-api.md. The names load on first
use, so ``import movierec`` stays light for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "Dataset": "movierec.interactions",
    "load": "movierec.library",
    "make_model": "movierec.models.registry",
    "load_model": "movierec.models.registry",
    "recommend": "movierec.library",
    "fold_in": "movierec.library",
    "evaluate": "movierec.library",
    "available_models": "movierec.models.registry",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """The Python API's names, imported on first use."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'movierec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
