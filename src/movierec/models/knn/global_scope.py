"""Compiled kernels of :class:`~movierec.models.knn.item.ItemKNN`'s global (top-k item) mode.

Both kernels touch only stored values, never a dense ``n_items × n_items`` or
``n_users × n_items`` block, so large data sets (25M ratings, 37k items, 162k users) fit in a
few hundred MB and take time linear in the work that is really there:

* :func:`item_topk_similarities`: each item's ``k`` most similar items. For item ``a`` the
  co-rated sums over ``C = U_a ∩ U_b`` for *every* ``b`` are accumulated by walking the
  users ``u ∈ U_a`` and, for each, the items ``b ∈ I_u`` (cost ``Σ_u |I_u|²`` for all
  items), then :func:`~movierec.models.knn.similarity.sim_value` (the formula of
  :func:`~movierec.models.knn.similarity.similarity_block`) and a bounded heap keep the ``k`` best
  positive ones (ties: lower index).
* :func:`item_topk_recommend`: a user's top-``n`` under the global-mode score::

      score_ui = base_ui + (num_ui + γ·den_ui) / (den_ui + β)       (centred)
      num_ui = Σ_{j∈I_u, i∈topk(j)} s_ji dev_uj,   den_ui = Σ_{j∈I_u, i∈topk(j)} s_ji

  (Deshpande & Karypis 2004: every rated item votes for its ``k`` most similar items)
  walking, for each rated ``j``, the row ``topk(j)`` of the similarity, so the cost is
  ``Σ_u |I_u| · k = nnz · k``. An item no rated item votes for scores
  ``base_ui = user_off_u + item_base_i``; the best of those
  are the first items of a single global order by ``item_base`` that the user has not seen,
  so they are found without scoring all items.

Work is split over threads in interleaved chunks of rows (item ``a`` goes to chunk
``a mod n_chunks``) so that popular items, wherever they are, are spread over the threads;
each chunk keeps its own dense accumulators and resets only the entries it touched.
"""

from __future__ import annotations

import numba
import numpy as np

from movierec.models.knn.heap import heap_push, worse
from movierec.models.knn.similarity import sim_value

N_CHUNKS = 256
"""Interleaved work chunks per kernel call (many more than threads, for load balance)."""


@numba.njit(parallel=True, cache=True)
def _topk_sims_kernel(
    by_item_indptr: np.ndarray,
    by_item_users: np.ndarray,
    by_item_vals: np.ndarray,
    by_user_indptr: np.ndarray,
    by_user_items: np.ndarray,
    by_user_vals: np.ndarray,
    k: int,
    pearson: bool,
    min_support: int,
    shrinkage: float,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    n_items = by_item_indptr.size - 1
    hs = np.empty((n_items, k))
    hj = np.empty((n_items, k), dtype=np.int64)
    hd = np.empty((n_items, k))  # unused payload of the shared heap helper
    sizes = np.zeros(n_items, dtype=np.int64)
    for c in numba.prange(n_chunks):
        acc = np.zeros((n_items, 6 if pearson else 4))  # 32 bytes a row for cosine
        touched = np.empty(n_items, dtype=np.int64)
        for a in range(c, n_items, n_chunks):
            n_touched = 0
            for p in range(by_item_indptr[a], by_item_indptr[a + 1]):
                u = by_item_users[p]
                x = by_item_vals[p]
                for q in range(by_user_indptr[u], by_user_indptr[u + 1]):
                    b = by_user_items[q]
                    y = by_user_vals[q]
                    if acc[b, 0] == 0.0:
                        touched[n_touched] = b
                        n_touched += 1
                    acc[b, 0] += 1.0
                    acc[b, 1] += x * y
                    acc[b, 2] += x * x
                    acc[b, 3] += y * y
                    if pearson:
                        acc[b, 4] += x
                        acc[b, 5] += y
            size = 0
            root_s = -np.inf
            root_j = 0
            for t in range(n_touched):
                b = touched[t]
                if b != a:
                    s = sim_value(
                        acc[b, 0],
                        acc[b, 1],
                        acc[b, 2],
                        acc[b, 3],
                        acc[b, 4] if pearson else 0.0,
                        acc[b, 5] if pearson else 0.0,
                        pearson,
                        min_support,
                        shrinkage,
                    )
                    if s > 0 and (size < k or worse(root_s, root_j, s, b)):
                        size = heap_push(hs, hj, hd, a, size, k, s, b, 0.0)
                        if size == k:
                            root_s = hs[a, 0]
                            root_j = hj[a, 0]
                acc[b, :] = 0.0
            sizes[a] = size
    return hs, hj, sizes


def item_topk_similarities(
    by_item: tuple[np.ndarray, np.ndarray, np.ndarray],
    by_user: tuple[np.ndarray, np.ndarray, np.ndarray],
    k: int,
    kind: str,
    min_support: int,
    shrinkage: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` most similar items of every item (positive similarities only, self excluded).

    Args:
        by_item: the values ``x`` as item × user CSR ``(indptr int64 (n_items+1,),
            user indices, values float64)``; ``by_user``: the same values as user × item CSR.
        k: neighbours kept per item (ties at the cut: lower item index).
        kind: ``"cosine"`` or ``"pearson"`` (co-rated sums as in
            :func:`~movierec.models.knn.similarity.similarity_block`), then ``min_support`` and
            ``shrinkage``.

    Returns:
        ``(indptr, indices, sims)``: CSR ``(n_items, n_items)`` with at most ``k`` entries
        per row, indices ascending within a row (int64, int32, float32).
    """
    hs, hj, sizes = _topk_sims_kernel(
        by_item[0].astype(np.int64),
        by_item[1].astype(np.int64),
        by_item[2].astype(np.float64),
        by_user[0].astype(np.int64),
        by_user[1].astype(np.int64),
        by_user[2].astype(np.float64),
        int(k),
        kind == "pearson",
        max(int(min_support), 1),
        float(shrinkage),
        N_CHUNKS,
    )
    keep = np.arange(int(k))[None, :] < sizes[:, None]
    cols = np.where(keep, hj, np.iinfo(np.int64).max)
    order = np.argsort(cols, axis=1, kind="stable")
    cols = np.take_along_axis(cols, order, axis=1)
    sims = np.take_along_axis(hs, order, axis=1)
    keep = np.take_along_axis(keep, order, axis=1)
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return indptr, cols[keep].astype(np.int32), sims[keep].astype(np.float32)


@numba.njit(parallel=True, cache=True)
def _topk_recommend_kernel(
    rows: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_dev: np.ndarray,
    user_off: np.ndarray,
    item_base: np.ndarray,
    base_order: np.ndarray,
    st_indptr: np.ndarray,
    st_indices: np.ndarray,
    st_data: np.ndarray,
    blocked: np.ndarray,
    exclude_seen: bool,
    n: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    b = rows.size
    n_items = item_base.size
    out_cols = np.full((b, n), -1, dtype=np.int64)
    out_scores = np.full((b, n), -np.inf, dtype=np.float32)
    for c in numba.prange(n_chunks):
        acc = np.zeros((n_items, 3))  # num, den, count: one cache line per item
        seen = np.zeros(n_items, dtype=np.bool_)
        touched = np.empty(n_items, dtype=np.int64)
        hs = np.empty((1, n))
        hj = np.empty((1, n), dtype=np.int64)
        hd = np.empty((1, n))
        for a in range(c, b, n_chunks):
            u = rows[a]
            n_touched = 0
            for q in range(r_indptr[u], r_indptr[u + 1]):
                j = r_indices[q]
                seen[j] = exclude_seen
                d = r_dev[q]
                for p in range(st_indptr[j], st_indptr[j + 1]):
                    i = st_indices[p]
                    if acc[i, 2] == 0.0:
                        touched[n_touched] = i
                        n_touched += 1
                    acc[i, 0] += st_data[p] * d
                    acc[i, 1] += st_data[p]
                    acc[i, 2] += 1.0
            size = 0
            for t in range(n_touched):
                i = touched[t]
                if not (seen[i] or blocked[i]):
                    base = user_off[a] + item_base[i]
                    num, den = acc[i, 0], acc[i, 1]
                    if acc[i, 2] >= min_k and den > 0:
                        if centred:
                            s = base + (num + gamma * den) / (den + beta)
                        else:
                            s = (num + gamma * den + beta * base) / (den + beta)
                    else:
                        s = base
                    s32 = np.float64(np.float32(s))
                    size = heap_push(hs, hj, hd, 0, size, n, s32, i, 0.0)
            # items no neighbour reached score their baseline: the best are first in base_order
            # (after n of them, go on through float32 ties so the lower column wins as usual)
            taken = 0
            last = np.inf
            for t in range(base_order.size):
                i = base_order[t]
                if acc[i, 2] == 0.0 and not (seen[i] or blocked[i]):
                    s32 = np.float64(np.float32(user_off[a] + item_base[i]))
                    if taken >= n and s32 < last:
                        break
                    size = heap_push(hs, hj, hd, 0, size, n, s32, i, 0.0)
                    taken += 1
                    last = s32
            # heap → best first (score desc, lower column first)
            for pos in range(size - 1, -1, -1):
                best = 0
                for t in range(1, pos + 1):
                    if worse(hs[0, best], hj[0, best], hs[0, t], hj[0, t]):
                        best = t
                out_cols[a, size - 1 - pos] = hj[0, best]
                out_scores[a, size - 1 - pos] = hs[0, best]
                hs[0, best], hj[0, best] = hs[0, pos], hj[0, pos]
            for t in range(n_touched):
                i = touched[t]
                acc[i, 0] = 0.0
                acc[i, 1] = 0.0
                acc[i, 2] = 0.0
            for q in range(r_indptr[u], r_indptr[u + 1]):
                seen[r_indices[q]] = False
    return out_cols, out_scores


def item_topk_recommend(
    rows: np.ndarray,
    rated: tuple[np.ndarray, np.ndarray, np.ndarray],
    user_off: np.ndarray,
    item_base: np.ndarray,
    votes: tuple[np.ndarray, np.ndarray, np.ndarray],
    blocked: np.ndarray,
    exclude_seen: bool,
    n: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` columns and scores for each user row (see the module docstring).

    Args:
        rows: user rows, shape ``(b,)``; ``rated``: user × item CSR ``(indptr, indices,
            dev)`` of the training values; ``user_off`` ``(b,)`` and ``item_base``
            ``(n_items,)``: ``base_ui = user_off[a] + item_base[i]``.
        votes: CSR whose row ``j`` lists the items ``i`` (and ``s_ji``) that a rating of
            ``j`` votes for (``topk(j)``: the similarity itself).
        blocked: ``(n_items,)`` bool, never recommended.
        exclude_seen: leave out the items each user rated.

    Returns:
        ``(cols int64, scores float32)``, both ``(b, n)``, best first (ties: lower column);
        ``-1`` / ``-inf`` where fewer than ``n`` items are left.
    """
    item_base = np.asarray(item_base, dtype=np.float64)
    base_order = np.lexsort((np.arange(item_base.size), -item_base))
    return _topk_recommend_kernel(
        np.asarray(rows, dtype=np.int64),
        rated[0].astype(np.int64),
        rated[1].astype(np.int64),
        np.asarray(rated[2], dtype=np.float64),
        np.asarray(user_off, dtype=np.float64),
        item_base,
        base_order.astype(np.int64),
        votes[0].astype(np.int64),
        votes[1].astype(np.int64),
        votes[2].astype(np.float64),
        np.asarray(blocked, dtype=np.bool_),
        bool(exclude_seen),
        int(n),
        int(min_k),
        float(beta),
        float(gamma),
        bool(centred),
        N_CHUNKS,
    )
