"""Predictions for cold pairs from the biases that are known (Surprise's fallback).

A test pair whose user or movie has no training rating cannot use a model's interaction
terms (factors, neighbours, codes). Like Surprise's ``SVD`` / ``BaselineOnly`` (whose
``estimate`` adds ``b_u`` only when the user is known and ``b_i`` only when the movie is)
the prediction falls back to the terms that exist::

    r̂_ui = μ + [u known] · b_u + [i known] · b_i

so an unknown movie gets the user's bias, an unknown user the movie's bias, and a pair with
both unknown the global mean ``μ``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cold_estimate"]


def cold_estimate(
    mu: float,
    user_bias: np.ndarray,
    item_bias: np.ndarray,
    user_rows: np.ndarray,
    item_cols: np.ndarray,
) -> np.ndarray:
    """``μ + [u known] b_u + [i known] b_i`` at aligned pairs; ``-1`` marks an unknown user
    row or movie column. Returns float64, shape ``(n,)`` (not clipped)."""
    rows = np.asarray(user_rows, dtype=np.int64)
    cols = np.asarray(item_cols, dtype=np.int64)
    out = np.full(rows.size, float(mu), dtype=np.float64)
    ku, ki = rows >= 0, cols >= 0
    out[ku] += np.asarray(user_bias, dtype=np.float64)[rows[ku]]
    out[ki] += np.asarray(item_bias, dtype=np.float64)[cols[ki]]
    return out
