"""Per-user normalisation of score rows, so that models with different score scales can be
combined (the hybrid and the blends)."""

from __future__ import annotations

import numpy as np

__all__ = ["finite_zscore", "zscore"]


def zscore(scores: np.ndarray) -> np.ndarray:
    """Row-wise z-normalisation over the finite entries; ``-inf`` stays ``-inf``.

    Args:
        scores: shape ``(b, n_items)``.

    Returns:
        float64 ``(s − mean_row) / std_row`` (0 where a row's std is 0).
    """
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    cnt = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    x = np.where(finite, s, 0.0)
    mean = x.sum(axis=1, keepdims=True) / cnt
    var = (np.where(finite, (s - mean) ** 2, 0.0)).sum(axis=1, keepdims=True) / cnt
    std = np.sqrt(var)
    z = np.divide(s - mean, std, out=np.zeros_like(s), where=(std > 1e-12) & finite)
    return np.where(finite, z, -np.inf)


def finite_zscore(scores: np.ndarray) -> np.ndarray:
    """:func:`zscore` with each row's ``-inf`` entries set to that row's lowest finite z
    (0 for a row with none), so a movie a model cannot score ranks last but stays finite."""
    z = zscore(scores)
    finite = np.isfinite(z)
    low = np.where(finite, z, np.inf).min(axis=1, keepdims=True)
    low = np.where(np.isfinite(low), low, 0.0)
    return np.where(finite, z, low)
