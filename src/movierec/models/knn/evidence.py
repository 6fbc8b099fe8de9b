"""Compiled kernels that find the neighbours behind many (user, movie) pairs at once, for
the kNN models' batch explanations (:meth:`UserKNN.explain_users`,
:meth:`ItemKNN.explain_users`).

Both take the movies to explain as column indices of shape ``(b, n)`` (``-1``: padding,
skipped) and run in parallel over the ``b`` users; the cost is linear in the neighbours
and ratings visited, with no per-pair Python.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["item_neighbour_evidence", "user_loved_choice", "user_neighbour_raters"]


@numba.njit(cache=True)
def _find(sorted_keys: np.ndarray, lo: int, hi: int, key: int) -> int:
    """Position of ``key`` in ``sorted_keys[lo:hi]`` (ascending), or -1."""
    end = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < end and sorted_keys[lo] == key else -1


@numba.njit(parallel=True, cache=True)
def user_neighbour_raters(
    rows: np.ndarray,
    nb_indptr: np.ndarray,
    nb_indices: np.ndarray,
    item_indptr: np.ndarray,
    item_rows: np.ndarray,
    item_ratings: np.ndarray,
    cols: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``N_k(u;i)`` of each pair: the first ``k`` users of ``u``'s best-first neighbour list
    (``nb_*``, CSR by user row) who rated movie ``i`` (a positive rating in the CSC
    ``item_*``, user rows sorted per movie).

    Args:
        rows: shape ``(b,)`` rows of ``nb_indptr`` (the users).
        cols: shape ``(b, n)`` movie columns (``-1``: skipped).

    Returns:
        ``(count, total)`` shape ``(b, n)``: how many neighbours are in ``N_k(u;i)`` and
        the sum of their ratings of ``i`` (added in neighbour order).
    """
    b, n = cols.shape
    count = np.zeros((b, n), np.int64)
    total = np.zeros((b, n), np.float64)
    for a in numba.prange(b):
        u = rows[a]
        for t in range(n):
            c = cols[a, t]
            if c < 0:
                continue
            plo, phi = item_indptr[c], item_indptr[c + 1]
            found, s = 0, 0.0
            for q in range(nb_indptr[u], nb_indptr[u + 1]):
                pos = _find(item_rows, plo, phi, nb_indices[q])
                if pos >= 0 and item_ratings[pos] > 0:
                    found += 1
                    s += item_ratings[pos]
                    if found == k:
                        break
            count[a, t] = found
            total[a, t] = s
    return count, total


@numba.njit(parallel=True, cache=True)
def item_neighbour_evidence(
    h_indptr: np.ndarray,
    h_cols: np.ndarray,
    h_devs: np.ndarray,
    s_indptr: np.ndarray,
    s_indices: np.ndarray,
    s_data: np.ndarray,
    cols: np.ndarray,
    k: int,
) -> np.ndarray:
    """``N_k(i;u)`` of each pair and the rated movies that add most to it.

    ``N_k(i;u)``: the ``k`` movies of ``u``'s history (CSR ``h_*``: columns and rating
    deviations ``dev_uj``) with the largest positive similarity ``s_ij`` to ``i`` (row ``i``
    of the CSR ``s_*``, columns sorted), ties to the lower column. Their contributions
    ``c_j = s_ij·dev_uj`` are ranked descending, ties kept in neighbourhood order.

    Returns:
        int64 shape ``(b, n, 3)``: positions (into the user's history) of the most similar
        neighbour and of the first and second largest contributions when positive; ``-1``
        where there is none (an empty ``N_k(i;u)`` has -1 everywhere).
    """
    b, n = cols.shape
    out = np.full((b, n, 3), -1, np.int64)
    for a in numba.prange(b):
        lo, hi = h_indptr[a], h_indptr[a + 1]
        m = hi - lo
        sims = np.empty(m, np.float64)
        where = np.empty(m, np.int64)
        keys = np.empty(m, np.int64)
        for t in range(n):
            c = cols[a, t]
            if c < 0:
                continue
            slo, shi = s_indptr[c], s_indptr[c + 1]
            size = 0
            for p in range(m):
                pos = _find(s_indices, slo, shi, h_cols[lo + p])
                if pos >= 0 and s_data[pos] > 0:
                    sims[size] = np.float64(s_data[pos])
                    where[size] = p
                    keys[size] = h_cols[lo + p]
                    size += 1
            if size == 0:
                continue
            by_col = np.argsort(keys[:size], kind="mergesort")
            neg = np.empty(size, np.float64)
            for q in range(size):
                neg[q] = -sims[by_col[q]]
            order = by_col[np.argsort(neg, kind="mergesort")][:k]
            out[a, t, 0] = where[order[0]]
            first, second = -1, -1
            c1, c2 = 0.0, 0.0
            for q in range(order.size):
                contrib = sims[order[q]] * h_devs[lo + where[order[q]]]
                if first < 0 or contrib > c1:
                    second, c2 = first, c1
                    first, c1 = q, contrib
                elif second < 0 or contrib > c2:
                    second, c2 = q, contrib
            if first >= 0 and c1 > 0:
                out[a, t, 1] = where[order[first]]
                if second >= 0 and c2 > 0:
                    out[a, t, 2] = where[order[second]]
    return out


@numba.njit(parallel=True, cache=True)
def user_loved_choice(
    rows: np.ndarray,
    nb_indptr: np.ndarray,
    nb_indices: np.ndarray,
    item_indptr: np.ndarray,
    item_rows: np.ndarray,
    item_ratings: np.ndarray,
    liked_indptr: np.ndarray,
    liked_cols: np.ndarray,
    cols: np.ndarray,
    active: np.ndarray,
    k: int,
    threshold: float,
    n_users: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The movie of each user's that drove each reason (``UserKNN._loved_clauses`` for a
    batch, the same arithmetic).

    For user ``a`` (row ``rows[a]``, neighbours ``nbrs`` best first) and the movies it loved
    ``liked_cols[liked_indptr[a]:liked_indptr[a + 1]]`` (best first): ``B[p, j]`` = neighbour
    ``p`` rated loved movie ``j`` at least ``threshold``; ``b_j`` = mean of ``B[:, j]``. For
    each pair ``(a, t)`` with ``active[a, t]`` and a movie ``cols[a, t] >= 0``:
    ``N_k(u;i)`` = the first ``k`` neighbours who rated it, ``c_j`` = how many of them loved
    ``j``, ``lift_j = c_j / max(|N_k|, 1) − b_j``; the choice is the largest lift, then the
    larger ``c_j``, then the earlier ``j``.

    Returns:
        ``(choice, count)`` shape ``(b, n)``: the position ``j`` in the user's loved list
        (``-1``: none) and its ``c_j``.
    """
    b, n = cols.shape
    choice = np.full((b, n), -1, np.int64)
    count = np.zeros((b, n), np.int64)
    for a in numba.prange(b):
        u = rows[a]
        p0, p1 = nb_indptr[u], nb_indptr[u + 1]
        n_nb = p1 - p0
        l0, l1 = liked_indptr[a], liked_indptr[a + 1]
        n_liked = l1 - l0
        if n_nb == 0 or n_liked == 0:
            continue
        pos = np.full(n_users, -1, np.int64)
        for p in range(n_nb):
            pos[nb_indices[p0 + p]] = p
        loved = np.zeros((n_nb, n_liked), np.bool_)
        base = np.zeros(n_liked, np.float64)
        for jj in range(n_liked):
            j = liked_cols[l0 + jj]
            hits = 0
            for q in range(item_indptr[j], item_indptr[j + 1]):
                p = pos[item_rows[q]]
                if p >= 0 and item_ratings[q] >= threshold:
                    loved[p, jj] = True
                    hits += 1
            base[jj] = hits / n_nb
        rated = np.zeros(n_users, np.bool_)
        chosen = np.empty(k, np.int64)
        counts = np.zeros(n_liked, np.int64)
        for t in range(n):
            c = cols[a, t]
            if c < 0 or not active[a, t]:
                continue
            for q in range(item_indptr[c], item_indptr[c + 1]):
                if item_ratings[q] > 0:
                    rated[item_rows[q]] = True
            size = 0
            for p in range(n_nb):
                if rated[nb_indices[p0 + p]]:
                    chosen[size] = p
                    size += 1
                    if size == k:
                        break
            for q in range(item_indptr[c], item_indptr[c + 1]):
                rated[item_rows[q]] = False
            counts[:] = 0
            for s in range(size):
                for jj in range(n_liked):
                    if loved[chosen[s], jj]:
                        counts[jj] += 1
            denom = max(size, 1)
            best, best_lift, best_count = -1, 0.0, 0
            for jj in range(n_liked):
                lift = counts[jj] / denom - base[jj]
                if best < 0 or lift > best_lift or (lift == best_lift and counts[jj] > best_count):
                    best, best_lift, best_count = jj, lift, counts[jj]
            if best_count > 0:
                choice[a, t] = best
                count[a, t] = best_count
    return choice, count
