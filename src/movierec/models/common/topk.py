"""Top-k selection over dense score rows."""

from __future__ import annotations

import numpy as np

__all__ = ["top_ids", "top_k"]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest values per row, sorted descending; shape ``(b, k)``.

    Uses ``argpartition`` (O(n_items)) then sorts only the ``k`` winners; ties are broken by
    the lower column index so results are deterministic.
    """
    n_items = scores.shape[1]
    k = min(k, n_items)
    if k == n_items:
        part = np.tile(np.arange(n_items), (scores.shape[0], 1))
    else:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)


def top_ids(scores: np.ndarray, n: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best columns of each row as external ids, padded.

    Args:
        scores: shape ``(b, n_items)``; ``-inf`` marks a column that must not be returned.
        n: list length (may exceed ``n_items``).
        ids: external id of each column, shape ``(n_items,)``.

    Returns:
        ``(ids int64, scores float32)``, both ``(b, n)``, best first (ties: lower column);
        where fewer than ``n`` columns have a finite score, the tail holds id ``-1`` and
        score ``-inf``.
    """
    n_items = scores.shape[1]
    k = min(n, n_items)
    top = top_k(scores, k)
    top_scores = np.take_along_axis(scores, top, axis=1)
    got = ids[top]
    got[~np.isfinite(top_scores)] = -1
    out_ids = np.full((scores.shape[0], n), -1, dtype=np.int64)
    out_scores = np.full((scores.shape[0], n), -np.inf, dtype=np.float32)
    out_ids[:, :k] = got
    out_scores[:, :k] = top_scores
    return out_ids, out_scores
