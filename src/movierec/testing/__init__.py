"""Helpers for testing code that uses movierec: seeded synthetic data
(:mod:`movierec.testing.synthetic`)."""

from movierec.testing.synthetic import (
    N_RATED_ITEMS,
    N_UNRATED_ITEMS,
    N_USERS,
    item_id,
    synthetic_catalog,
    synthetic_frame,
    synthetic_interactions,
    taste_clusters,
    user_id,
)

__all__ = [
    "N_RATED_ITEMS",
    "N_UNRATED_ITEMS",
    "N_USERS",
    "item_id",
    "synthetic_catalog",
    "synthetic_frame",
    "synthetic_interactions",
    "taste_clusters",
    "user_id",
]
