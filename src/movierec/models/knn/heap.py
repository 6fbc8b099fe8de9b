"""A bounded min-heap per row, compiled: keeps the ``k`` best ``(score, index, payload)``
entries of each row of preallocated ``(n_rows, k)`` arrays (ties: lower index is better).
Used by the per-item item-kNN kernel and the global top-k kernels."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["heap_push", "worse"]


@numba.njit(inline="always")
def worse(s1: float, j1: int, s2: float, j2: int) -> bool:  # pragma: no cover - compiled
    """Whether entry ``(s1, j1)`` ranks below ``(s2, j2)``: lower score, or equal score and
    higher index."""
    return s1 < s2 or (s1 == s2 and j1 > j2)


@numba.njit(cache=True)
def heap_push(
    hs: np.ndarray,
    hj: np.ndarray,
    hd: np.ndarray,
    i: int,
    size: int,
    k: int,
    s: float,
    j: int,
    d: float,
) -> int:  # pragma: no cover - compiled
    """Push ``(s, j, d)`` into row ``i`` of a bounded min-heap keeping the k best entries
    (by ``s``, ties: lower ``j``); returns the new size."""
    if size < k:
        pos = size
        while pos > 0:
            parent = (pos - 1) // 2
            if worse(s, j, hs[i, parent], hj[i, parent]):
                hs[i, pos], hj[i, pos], hd[i, pos] = hs[i, parent], hj[i, parent], hd[i, parent]
                pos = parent
            else:
                break
        hs[i, pos], hj[i, pos], hd[i, pos] = s, j, d
        return size + 1
    if not worse(hs[i, 0], hj[i, 0], s, j):
        return size
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= k:
            break
        child = left
        right = left + 1
        if right < k and worse(hs[i, right], hj[i, right], hs[i, left], hj[i, left]):
            child = right
        if worse(hs[i, child], hj[i, child], s, j):
            hs[i, pos], hj[i, pos], hd[i, pos] = hs[i, child], hj[i, child], hd[i, child]
            pos = child
        else:
            break
    hs[i, pos], hj[i, pos], hd[i, pos] = s, j, d
    return size
