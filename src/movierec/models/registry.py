"""Model names (as used by ``--model``) mapped to their classes, imported lazily; and
:func:`load_model`, which rebuilds a saved model by its registered name."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from movierec import __version__
from movierec.errors import ConfigError, ModelError
from movierec.interactions import Interactions
from movierec.models.base import Recommender
from movierec.models.common.modelfile import (
    DECODE_ERRORS,
    FORMAT_VERSION,
    damaged,
    read_arrays,
    read_metadata,
    restore_state,
)

# name -> "module:Class"; a module is imported only when its model is used.
MODELS: dict[str, str] = {
    "popularity": "movierec.models.baseline:Popularity",
    "baseline": "movierec.models.baseline:BaselineOnly",
    "user-knn": "movierec.models.knn.user:UserKNN",
    "item-knn": "movierec.models.knn.item:ItemKNN",
    "svd": "movierec.models.mf:FunkSVD",
    "svdpp": "movierec.models.mf:SVDpp",
    "als": "movierec.models.mf:ExplicitALS",
    "ials": "movierec.models.implicit_mf:ImplicitALS",
    "bpr": "movierec.models.implicit_mf:BPR",
    "ease": "movierec.models.ease:EASE",
    "autorec": "movierec.models.autorec:AutoRec",
    "edlae": "movierec.models.edlae:EDLAE",
    "local-ease": "movierec.models.local_ease:LocalEASE",
    "content": "movierec.models.content:ContentBased",
    "hybrid": "movierec.models.hybrid:Hybrid",
    "rp3beta": "movierec.models.graph:RP3beta",
    "slist": "movierec.models.slist:SLIST",
    "blend": "movierec.models.blend:RatingBlend",
    "rank-blend": "movierec.models.blend:RankBlend",
}

ENSEMBLES = frozenset({"blend", "rank-blend", "hybrid"})
"""Models built from other registered models (never parts of one another)."""


def available_models() -> list[str]:
    return sorted(MODELS)


def model_class(name: str) -> type[Recommender]:
    """The class registered as ``name``; :class:`ConfigError` listing valid names otherwise."""
    try:
        target = MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(available_models())}"
        ) from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def make_model(name: str, **params: Any) -> Recommender:
    """Instantiate model ``name``; unknown parameters raise :class:`ConfigError`."""
    cls = model_class(name)
    valid = cls._param_names()
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ConfigError(
            f"model {name!r} has no parameter {', '.join(bad)}; valid: {', '.join(valid)}"
        )
    return cls(**params)


def load_model(
    path: str | os.PathLike[str],
    expected_fingerprint: str | None = None,
) -> Recommender:
    """Load a model saved by :meth:`Recommender.save`.

    The file is untrusted input: whatever is wrong with it (truncated, bit-flipped, empty,
    foreign, an object array, an unknown model or parameter, missing state, a
    hyperparameter its model's ``validate()`` refuses) ends as one
    :class:`~movierec.errors.ModelFileError`; loading never executes code from it.

    Raises:
        ModelError: no file, an incompatible format or package version, or a data
            fingerprint different from ``expected_fingerprint``.
        ModelFileError: the file is damaged or not a movierec model.
    """
    path = Path(path)
    meta = read_metadata(path)
    if meta["format_version"] != FORMAT_VERSION:
        raise ModelError(
            f"{path} has model format {meta['format_version']}, this movierec "
            f"{__version__} reads format {FORMAT_VERSION}; retrain with 'movierec train'"
        )
    if meta["package_version"].split(".")[:2] != __version__.split(".")[:2]:
        raise ModelError(
            f"{path} was written by movierec {meta['package_version']}, incompatible "
            f"with {__version__}; retrain with 'movierec train'"
        )
    if expected_fingerprint is not None and meta["data_fingerprint"] != expected_fingerprint:
        raise ModelError(
            f"{path} was trained on different data (fingerprint {meta['data_fingerprint']}, "
            f"current data {expected_fingerprint}); retrain with 'movierec train'"
        )
    arrays = read_arrays(path)
    try:
        if meta["model"] not in MODELS:
            raise ValueError(f"unknown model {meta['model']!r}")
        cls = model_class(meta["model"])
        unknown = sorted(set(meta["params"]) - set(cls._param_names()))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} of {meta['model']}")
        model = cls(**meta["params"]).validate()
        restore_state(model, arrays, meta["state"])
    except DECODE_ERRORS as exc:
        raise damaged(path, exc) from None
    if not isinstance(getattr(model, "data_", None), Interactions):
        raise damaged(path, "no training data in the file")
    if not hasattr(model, "items_catalog_"):
        model.items_catalog_ = None
    return model
