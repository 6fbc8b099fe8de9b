"""Model names (as used by ``--model``) mapped to their classes, imported lazily."""

from __future__ import annotations

import importlib
from typing import Any

from movierec.errors import ConfigError
from movierec.models.base import Recommender

# name -> "module:Class"; a module is imported only when its model is used.
MODELS: dict[str, str] = {
    "popularity": "movierec.models.baseline:Popularity",
    "baseline": "movierec.models.baseline:BaselineOnly",
    "user-knn": "movierec.models.knn:UserKNN",
    "item-knn": "movierec.models.knn:ItemKNN",
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
