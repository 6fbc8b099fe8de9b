"""Recommender models; see :mod:`movierec.models.registry` for the names."""

from movierec.models.base import Recommender, load_model
from movierec.models.registry import available_models, make_model, model_class

__all__ = ["Recommender", "available_models", "load_model", "make_model", "model_class"]
