"""Compiled scoring kernels of the kNN models: a batch of users against all movies, linear
in the number of (neighbour, rating) pairs visited (no per-rating Python loops).

* :func:`user_knn_kernel` / :func:`user_knn_serial`: per-item user neighbourhoods
  ``N_k(u;i)`` from each user's best-first neighbour list (parallel over users / on the
  calling thread).
* :func:`item_knn_kernel`: per-item item neighbourhoods ``N_k(i;u)`` among the user's rated
  movies, with a bounded heap per (user, movie) (:mod:`.heap`).
* :func:`item_knn_pairs`: the same neighbourhoods for given (user, movie) pairs only (rating
  prediction of test pairs): a merge of the movie's similarity row with the user's ratings.

Both give the support-aware score ``base + (Σ s·dev + γ·Σ s) / (Σ s + β)`` (centred) or
``(Σ s·r + γ·Σ s + β·base) / (Σ s + β)`` (not centred), ``base`` where fewer than ``min_k``
neighbours or ``Σ s = 0``; see :mod:`movierec.models.knn`.
"""

from __future__ import annotations

import numba
import numpy as np

from movierec.models.knn.heap import heap_push, worse

__all__ = ["item_knn_kernel", "item_knn_pairs", "user_knn_kernel", "user_knn_serial"]


@numba.njit(cache=True)
def _user_knn_row(
    u: int,
    nb_indptr: np.ndarray,
    nb_indices: np.ndarray,
    nb_sims: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_vals: np.ndarray,
    mu: float,
    item_base: np.ndarray,
    k: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Scores of neighbour-list row ``u`` into ``out`` (``(n_items,)`` float32).

    Walking u's neighbours in decreasing similarity, each item accepts the first ``k``
    neighbours who rated it, i.e. the k most similar users who rated the item. The base of
    item ``i`` is ``mu + item_base[i]`` (``item_base``: ``(n_items,)``, zeros for user-mean
    centring, ``b_i`` for baseline centring).
    """
    n_items = out.size
    num = np.zeros(n_items)
    den = np.zeros(n_items)
    cnt = np.zeros(n_items, dtype=np.int64)
    for p in range(nb_indptr[u], nb_indptr[u + 1]):
        v = nb_indices[p]
        s = nb_sims[p]
        for q in range(r_indptr[v], r_indptr[v + 1]):
            i = r_indices[q]
            if cnt[i] < k:
                cnt[i] += 1
                num[i] += s * r_vals[q]
                den[i] += s
    for i in range(n_items):
        base = mu + item_base[i]
        if cnt[i] >= min_k and den[i] > 0:
            if centred:
                out[i] = base + (num[i] + gamma * den[i]) / (den[i] + beta)
            else:
                out[i] = (num[i] + gamma * den[i] + beta * base) / (den[i] + beta)
        else:
            out[i] = base


@numba.njit(parallel=True, cache=True)
def user_knn_kernel(
    rows: np.ndarray,
    nb_indptr: np.ndarray,
    nb_indices: np.ndarray,
    nb_sims: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_vals: np.ndarray,
    base: np.ndarray,
    item_base: np.ndarray,
    n_items: int,
    k: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
) -> np.ndarray:  # pragma: no cover - compiled
    """Per-item top-k user neighbourhoods for a batch (parallel over users); returns
    ``(b, n_items)`` float32 (:func:`_user_knn_row` for each of ``rows``, with base
    ``base[a] + item_base[i]``)."""
    out = np.empty((rows.size, n_items), dtype=np.float32)
    for a in numba.prange(rows.size):
        _user_knn_row(
            rows[a],
            nb_indptr,
            nb_indices,
            nb_sims,
            r_indptr,
            r_indices,
            r_vals,
            base[a],
            item_base,
            k,
            min_k,
            beta,
            gamma,
            centred,
            out[a],
        )
    return out


@numba.njit(cache=True)
def user_knn_serial(
    rows: np.ndarray,
    nb_indptr: np.ndarray,
    nb_indices: np.ndarray,
    nb_sims: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_vals: np.ndarray,
    base: np.ndarray,
    item_base: np.ndarray,
    n_items: int,
    k: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`user_knn_kernel` on the calling thread only (for one user, e.g. a fold-in:
    no thread start-up or barrier, which under load cost more than the work)."""
    out = np.empty((rows.size, n_items), dtype=np.float32)
    for a in range(rows.size):
        _user_knn_row(
            rows[a],
            nb_indptr,
            nb_indices,
            nb_sims,
            r_indptr,
            r_indices,
            r_vals,
            base[a],
            item_base,
            k,
            min_k,
            beta,
            gamma,
            centred,
            out[a],
        )
    return out


@numba.njit(parallel=True, cache=True)
def item_knn_kernel(
    rows: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_dev: np.ndarray,
    user_off: np.ndarray,
    item_base: np.ndarray,
    st_indptr: np.ndarray,
    st_indices: np.ndarray,
    st_data: np.ndarray,
    n_items: int,
    k: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
) -> np.ndarray:  # pragma: no cover - compiled
    """Per-item top-k item neighbourhoods among each user's rated items.

    ``st_*`` is the CSR of the *transposed* similarity (row j lists the items i with
    ``s_ij > 0``). For every rated j and every such i, ``(s_ij, j, dev_uj)`` is pushed into
    i's bounded heap; the heap then holds the k items most similar to i that u rated.
    """
    b = rows.size
    out = np.empty((b, n_items), dtype=np.float32)
    for a in numba.prange(b):
        u = rows[a]
        num = np.zeros(n_items)
        den = np.zeros(n_items)
        size = np.zeros(n_items, dtype=np.int64)
        if r_indptr[u + 1] - r_indptr[u] <= k:
            # every positive neighbour the user rated fits in N_k(i;u): plain sums
            for q in range(r_indptr[u], r_indptr[u + 1]):
                j = r_indices[q]
                d = r_dev[q]
                for p in range(st_indptr[j], st_indptr[j + 1]):
                    i = st_indices[p]
                    num[i] += st_data[p] * d
                    den[i] += st_data[p]
                    size[i] += 1
        else:
            hs = np.empty((n_items, k))
            hj = np.empty((n_items, k), dtype=np.int64)
            hd = np.empty((n_items, k))
            root_s = np.full(n_items, -np.inf)  # contiguous copy of each full heap's root
            root_j = np.zeros(n_items, dtype=np.int64)
            for q in range(r_indptr[u], r_indptr[u + 1]):
                j = r_indices[q]
                d = r_dev[q]
                for p in range(st_indptr[j], st_indptr[j + 1]):
                    i = st_indices[p]
                    s = st_data[p]
                    if size[i] == k and not worse(root_s[i], root_j[i], s, j):
                        continue  # not better than the current k-th best
                    size[i] = heap_push(hs, hj, hd, i, size[i], k, s, j, d)
                    if size[i] == k:
                        root_s[i] = hs[i, 0]
                        root_j[i] = hj[i, 0]
            for i in range(n_items):
                for t in range(size[i]):
                    num[i] += hs[i, t] * hd[i, t]
                    den[i] += hs[i, t]
        for i in range(n_items):
            base = user_off[a] + item_base[i]
            if size[i] >= min_k and den[i] > 0:
                if centred:
                    out[a, i] = base + (num[i] + gamma * den[i]) / (den[i] + beta)
                else:
                    out[a, i] = (num[i] + gamma * den[i] + beta * base) / (den[i] + beta)
            else:
                out[a, i] = base
    return out


@numba.njit(parallel=True, cache=True)
def item_knn_pairs(
    prows: np.ndarray,
    pcols: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_dev: np.ndarray,
    user_off: np.ndarray,
    item_base: np.ndarray,
    s_indptr: np.ndarray,
    s_indices: np.ndarray,
    s_data: np.ndarray,
    k: int,
    min_k: int,
    centred: bool,
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`item_knn_kernel`'s rating formula (``β = γ = 0``) at pairs ``(prows[a], pcols[a])``.

    ``s_*`` is the CSR whose row ``i`` lists the movies ``j`` with ``s_ij > 0`` (the kernel's
    ``st`` transposed), ``r_*`` the users' ratings; both rows sorted by column. The
    candidates of pair ``(u, i)`` are the merge of row ``i`` with ``u``'s rated movies; the
    ``k`` best by ``s`` (ties: lower ``j``, as :func:`~.heap.worse`) are summed. ``user_off``
    is indexed by the pair, ``item_base`` by movie. O(|S_i| + |R_u|) per pair instead of
    the kernel's O(Σ_{j ∈ R_u} |S_j|) per user. Returns shape ``(n_pairs,)`` float32.
    """
    n = prows.size
    out = np.empty(n, dtype=np.float32)
    for a in numba.prange(n):
        u = prows[a]
        i = pcols[a]
        p, pe = s_indptr[i], s_indptr[i + 1]
        q, qe = r_indptr[u], r_indptr[u + 1]
        m = min(pe - p, qe - q)
        cs = np.empty(m)
        cd = np.empty(m)
        c = 0
        while p < pe and q < qe:
            jp = s_indices[p]
            jq = r_indices[q]
            if jp == jq:
                cs[c] = s_data[p]
                cd[c] = r_dev[q]
                c += 1
                p += 1
                q += 1
            elif jp < jq:
                p += 1
            else:
                q += 1
        num = 0.0
        den = 0.0
        if c <= k:
            for t in range(c):
                num += cs[t] * cd[t]
                den += cs[t]
            used = c
        else:
            order = np.argsort(-cs[:c], kind="mergesort")  # stable: ties keep lower j first
            for t in range(k):
                num += cs[order[t]] * cd[order[t]]
                den += cs[order[t]]
            used = k
        base = user_off[a] + item_base[i]
        if used >= min_k and den > 0:
            out[a] = base + num / den if centred else num / den
        else:
            out[a] = base
    return out
