"""Recommender models; see :mod:`movierec.models.registry` for the names."""

from movierec.models.base import ABILITIES, Recommender
from movierec.models.common.modelfile import read_metadata
from movierec.models.common.topk import top_k
from movierec.models.registry import available_models, load_model, make_model, model_class

__all__ = [
    "ABILITIES",
    "Recommender",
    "available_models",
    "load_model",
    "make_model",
    "model_class",
    "read_metadata",
    "top_k",
]
