"""Share identical model fits within one evaluation run.

The ensembles (``blend``, ``rank-blend``, ``hybrid``) refit their parts on the full training
data, and most parts are registered models with their default hyperparameters: exactly the
fits an evaluation of ``--models all`` has just made for those models on the same fold.
Inside :func:`shared_fits`, :func:`fit` returns the already fitted model for the same
``(model name, hyperparameters, training data object, catalogue object)`` instead of fitting
again. Fitting is deterministic (every stochastic model is seeded), so the result is the
same model; only the time is saved. Outside the context nothing is cached.

The cache holds strong references to the data it was keyed on (object identity is only
meaningful while the object is alive) and is dropped when the context exits; the evaluation
opens one context per fold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender

_Key = tuple[str, str, int, int]
_active: dict[_Key, tuple[Recommender, Interactions, ItemCatalog | None]] | None = None


@contextmanager
def shared_fits() -> Iterator[None]:
    """Within this context, :func:`fit` reuses identical fits (nested contexts share one)."""
    global _active
    if _active is not None:
        yield
        return
    _active = {}
    try:
        yield
    finally:
        _active = None


def fit(model: Recommender, data: Interactions, items: ItemCatalog | None) -> Recommender:
    """``model.fit(data, items)``, or the identical model already fitted in this context.

    Returns the fitted model to use (``model`` itself on a miss).
    """
    if _active is None:
        return model.fit(data, items)
    params = json.dumps(model.get_params(), sort_keys=True, default=repr)
    key = (model.name, params, id(data), id(items))
    hit = _active.get(key)
    if hit is not None and hit[1] is data and hit[2] is items:
        return hit[0]
    model.fit(data, items)
    _active[key] = (model, data, items)
    return model
