"""A new user's ``{movieId: rating}`` as index-space columns (the input of every fold-in)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from movierec.errors import ConfigError
from movierec.interactions import Interactions

__all__ = ["fold_in_columns", "fold_ratings"]


def fold_ratings(data: Interactions, ratings: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """``{movieId: rating}`` → (column indices int64, float64 ratings), both ``(len(ratings),)``;
    unknown movie ids raise :class:`~movierec.errors.UnknownIdError`; may be empty."""
    ids = np.fromiter((int(k) for k in ratings), dtype=np.int64, count=len(ratings))
    cols = data.items.index(ids)
    vals = np.fromiter((float(v) for v in ratings.values()), dtype=np.float64, count=len(ratings))
    return cols, vals


def fold_in_columns(data: Interactions, ratings: Mapping[int, float]) -> tuple[np.ndarray, ...]:
    """:func:`fold_ratings` for models that need at least one finite rating
    (:class:`ConfigError` otherwise)."""
    if not ratings:
        raise ConfigError("fold_in needs at least one rating")
    cols, values = fold_ratings(data, ratings)
    if not np.all(np.isfinite(values)):
        raise ConfigError("fold_in ratings must be finite numbers")
    return cols, values
