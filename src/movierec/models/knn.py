"""Neighbourhood collaborative filtering: :class:`UserKNN` and :class:`ItemKNN`.

Both use *per-item neighbourhoods*, exactly as Surprise's ``KNNWithMeans`` / ``KNNBaseline``:
the rating of user ``u`` for item ``i`` is predicted from the ``k`` most similar users who
rated ``i`` (user-based), or from the ``k`` items most similar to ``i`` that ``u`` rated
(item-based). Only positive similarities take part (a neighbour with ``s ≤ 0`` never
contributes; this is Surprise's rule too). Ties in similarity are broken by the lower
row/column index.

Similarities are computed with sparse matrix products, in row blocks whose dense size stays
under :data:`BLOCK_BYTES`; each row keeps its positive similarities sorted in decreasing
order (optionally only the ``max_neighbors`` best, for data sets where all of them would not
fit in memory). Scoring a batch of users runs a numba kernel (parallel over users) that is
linear in the number of (neighbour, rating) pairs it visits: no per-rating Python loops.

Ranking vs rating prediction: :meth:`predict` returns the rating formula exactly (clipped to
the rating scale). :meth:`score`, used for top-N ranking, is *support-aware*::

    score_ui = base_ui + (Σ s·dev + γ·Σ s) / (Σ s + β)        (sums over the neighbourhood)

``rank_damping`` β shrinks predictions backed by little similarity mass (e.g. an item rated
by one weakly similar neighbour) towards the baseline, and ``rank_offset`` γ credits every
neighbour who rated the item with γ·s of evidence on top of their opinion (having been
rated by close neighbours is itself a signal: with large β and γ the score tends to the
neighbourhood vote ``Σ s``, Cremonesi et al. 2010's non-normalised kNN). β = γ = 0 ranks by
the predicted rating. Defaults were tuned for precision@10 on a validation split carved
from ``u1.base`` (rating-prediction hyperparameters for RMSE on the same split).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.models.baseline import fit_baselines, fold_ratings

BLOCK_BYTES = 64 * 2**20
"""Upper bound on the dense similarity block built at once (bytes, per temporary array)."""

EXACT_LIMIT = 10_000
"""With ``max_neighbors=None``, all positive similarities are kept (exact per-item
neighbourhoods) up to this many users (UserKNN) / items (ItemKNN); above it only the
``10·k`` best per row, so memory stays linear in the data size."""


GLOBAL_CELLS = 1e7
"""``ItemKNN(neighbour_scope="auto")`` switches to the global top-k item model when
``n_users × n_items`` exceeds this (ml-100k: 1.6e6 and ml-latest-small: 5.9e6 stay per-item;
the 1M-rating synthetic scale set, 6480 × 4775 = 3.1e7, goes global)."""


def _cap(max_neighbors: int | None, n: int, k: int) -> int | None:
    if max_neighbors is not None:
        return int(max_neighbors)
    return None if n <= EXACT_LIMIT else 10 * int(k)


# ====================================================================== similarities
def _pattern(x: sp.csr_matrix) -> sp.csr_matrix:
    """Binary matrix with the stored pattern of ``x`` (stored zeros count as present)."""
    b = sp.csr_matrix((np.ones_like(x.data), x.indices, x.indptr), shape=x.shape)
    return b


class _Rhs:
    """The right-hand sides of the similarity products for the rows of ``x`` (``n × d``):
    its pattern ``B``, values ``X`` and squares ``X²``, transposed to ``d × n``. Kept dense
    when the three fit in ``4·BLOCK_BYTES`` (then every product is sparse × dense with a dense
    result), else sparse."""

    def __init__(self, x: sp.csr_matrix) -> None:
        x = sp.csr_matrix(x, dtype=np.float64)
        b = _pattern(x)
        x2 = sp.csr_matrix((x.data**2, x.indices, x.indptr), shape=x.shape)
        self.dense = 3 * 8 * x.shape[0] * x.shape[1] <= 4 * BLOCK_BYTES
        mats = (b.T, x.T, x2.T)
        if self.dense:
            self.bt, self.xt, self.x2t = (np.asarray(m.toarray(), dtype=np.float64) for m in mats)
        else:
            self.bt, self.xt, self.x2t = (sp.csc_matrix(m).tocsr() for m in mats)

    def mul(self, left: sp.csr_matrix, right: Any) -> np.ndarray:
        out = left @ right
        return np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float64)


@numba.njit(cache=True)
def _sim_value(
    f: float,
    prod: float,
    sq_a: float,
    sq_b: float,
    s_a: float,
    s_b: float,
    pearson: bool,
    min_support: int,
    shrinkage: float,
) -> float:  # pragma: no cover - compiled
    """One similarity from its co-rated sums (see :func:`similarity_block`); 0 if unsupported."""
    if f < min_support or f <= 0:
        return 0.0
    if pearson:
        num = f * prod - s_a * s_b
        va = max(f * sq_a - s_a**2, 0.0)
        vb = max(f * sq_b - s_b**2, 0.0)
        den = np.sqrt(va * vb)
    else:
        num = prod
        den = np.sqrt(sq_a * sq_b)
    if den <= 1e-12:
        return 0.0
    v = min(max(num / den, -1.0), 1.0)
    if shrinkage > 0:
        v *= f / (f + shrinkage)
    return v


@numba.njit(parallel=True, cache=True)
def _finish_sims(
    freq: np.ndarray,
    prods: np.ndarray,
    sq_a: np.ndarray,
    sq_b: np.ndarray,
    s_a: np.ndarray,
    s_b: np.ndarray,
    pearson: bool,
    min_support: int,
    shrinkage: float,
) -> np.ndarray:  # pragma: no cover - compiled
    """Fused element-wise part of :func:`similarity_block` (one pass, no temporaries)."""
    m, n = freq.shape
    out = np.zeros((m, n))
    for a in numba.prange(m):
        for b in range(n):
            out[a, b] = _sim_value(
                freq[a, b],
                prods[a, b],
                sq_a[a, b],
                sq_b[a, b],
                s_a[a, b],
                s_b[a, b],
                pearson,
                min_support,
                shrinkage,
            )
    return out


def similarity_block(
    q: sp.csr_matrix,
    x: sp.csr_matrix | _Rhs,
    kind: str,
    min_support: int,
    shrinkage: float,
) -> np.ndarray:
    """Similarities between the rows of ``q`` and the rows of ``x`` over co-rated columns.

    For rows ``a`` (of ``q``) and ``b`` (of ``x``) with common columns ``C = C_a ∩ C_b``,
    ``n = |C|`` (Surprise's definitions):

    * ``cosine``:  ``Σ_C a·b / sqrt(Σ_C a² · Σ_C b²)``
    * ``pearson``: ``(n Σ a·b − Σa Σb) / sqrt((n Σa² − (Σa)²)(n Σb² − (Σb)²))`` (means over C)

    then ``s = 0`` where ``n < min_support`` or the denominator is 0, and with shrinkage λ
    ``s ← s · n / (n + λ)`` (Koren 2010, eq. 2). Centred variants (adjusted cosine, baseline
    residuals) are obtained by passing centred values with ``kind="cosine"``. Every sum over
    ``C`` is one sparse product with a pattern matrix (e.g. ``Σ_C a² = (Q∘Q) Bₓᵀ``).

    Args:
        q: CSR float, shape ``(m, d)``; x: CSR float, shape ``(n, d)`` (or its prepared
            :class:`_Rhs`).
        kind: ``"cosine"`` or ``"pearson"``.

    Returns:
        float64 array, shape ``(m, n)``, values in ``[-1, 1]``.
    """
    rhs = x if isinstance(x, _Rhs) else _Rhs(x)
    q = sp.csr_matrix(q, dtype=np.float64)
    bq = _pattern(q)
    q2 = sp.csr_matrix((q.data**2, q.indices, q.indptr), shape=q.shape)
    freq = rhs.mul(bq, rhs.bt)
    prods = rhs.mul(q, rhs.xt)
    sq_a = rhs.mul(q2, rhs.bt)
    sq_b = rhs.mul(bq, rhs.x2t)
    if kind == "pearson":
        s_a, s_b = rhs.mul(q, rhs.bt), rhs.mul(bq, rhs.xt)
    elif kind == "cosine":
        s_a = s_b = prods  # unused
    else:  # pragma: no cover - validated by callers
        raise ConfigError(f"unknown similarity {kind!r}")
    return _finish_sims(
        freq,
        prods,
        sq_a,
        sq_b,
        s_a,
        s_b,
        kind == "pearson",
        max(int(min_support), 1),
        float(shrinkage),
    )


def _truncate_rows(s: np.ndarray, m: int) -> None:
    """Zero, in place, all but the ``m`` largest entries of each row (ties: lower index)."""
    t = -np.partition(-s, m - 1, axis=1)[:, m - 1 : m]  # each row's m-th largest value
    above = s > t
    need = m - above.sum(axis=1, keepdims=True)
    tie = s == t
    keep = above | (tie & (np.cumsum(tie, axis=1) <= need))
    s[~keep] = 0.0


def neighbour_lists(
    x: sp.csr_matrix,
    kind: str,
    min_support: int,
    shrinkage: float,
    max_neighbors: int | None = None,
    query: sp.csr_matrix | None = None,
    sort: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positive similarities of each row of ``query`` (default: ``x`` itself, self excluded)
    to the rows of ``x``.

    Computed in blocks of rows so that no dense temporary exceeds :data:`BLOCK_BYTES`.

    Args:
        sort: order each row by decreasing similarity (ties: lower index first); otherwise
            by increasing index (when ``max_neighbors`` is given the best ones are still the
            ones kept).

    Returns:
        ``(indptr, indices, sims)`` in CSR layout (int64, int32, float32): row ``a``'s
        neighbours are ``indices[indptr[a]:indptr[a+1]]``; at most ``max_neighbors`` per
        row when given.
    """
    self_sim = query is None
    q_all = x if query is None else query
    n_rows, n = q_all.shape[0], x.shape[0]
    rhs = _Rhs(x)
    block = max(1, int(BLOCK_BYTES // (8 * max(n, 1))))
    indptr = [np.zeros(1, dtype=np.int64)]
    indices: list[np.ndarray] = []
    sims: list[np.ndarray] = []
    offset = 0
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        s = similarity_block(q_all[start:stop], rhs, kind, min_support, shrinkage)
        if self_sim:
            s[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if max_neighbors is not None and int(max_neighbors) < n:
            _truncate_rows(s, int(max_neighbors))
        if sort:
            order = np.argsort(-s, axis=1, kind="stable")
            ranked = np.take_along_axis(s, order, axis=1)
            keep = ranked > 0
            idx, val = order[keep], ranked[keep]
        else:
            keep = s > 0
            idx, val = np.nonzero(keep)[1], s[keep]
        counts = keep.sum(axis=1)
        indices.append(idx.astype(np.int32))
        sims.append(val.astype(np.float32))
        indptr.append(offset + np.cumsum(counts, dtype=np.int64))
        offset += int(counts.sum())
    return (
        np.concatenate(indptr),
        np.concatenate(indices) if indices else np.zeros(0, np.int32),
        np.concatenate(sims) if sims else np.zeros(0, np.float32),
    )


@numba.njit(cache=True)
def _query_sims(
    cols: np.ndarray,
    vals: np.ndarray,
    c_indptr: np.ndarray,
    c_indices: np.ndarray,
    c_data: np.ndarray,
    n: int,
    pearson: bool,
    min_support: int,
    shrinkage: float,
) -> np.ndarray:  # pragma: no cover - compiled
    """Similarities of one query row ``a`` to every row ``b`` of ``x``, shape ``(n,)``.

    ``cols`` (ascending) / ``vals``: the query's columns and values; ``c_*``: ``x`` in CSC
    layout (``c_data`` float64). Only the columns the query rated are visited: the co-rated
    sums ``n_ab, Σ a·b, Σ a², Σ b², Σ a, Σ b`` are accumulated in increasing column order (the
    order of the sparse products in :func:`similarity_block`), then :func:`_sim_value`.
    """
    sums = np.zeros((6, n))
    for t in range(cols.size):
        c = cols[t]
        a = vals[t]
        for p in range(c_indptr[c], c_indptr[c + 1]):
            b = c_data[p]
            v = c_indices[p]
            sums[0, v] += 1.0
            sums[1, v] += a * b
            sums[2, v] += a * a
            sums[3, v] += b * b
            sums[4, v] += a
            sums[5, v] += b
    out = np.zeros(n)
    for v in range(n):
        if sums[0, v] > 0:
            out[v] = _sim_value(
                sums[0, v],
                sums[1, v],
                sums[2, v],
                sums[3, v],
                sums[4, v],
                sums[5, v],
                pearson,
                min_support,
                shrinkage,
            )
    return out


def query_neighbours(
    by_col: tuple[np.ndarray, np.ndarray, np.ndarray],
    n: int,
    cols: np.ndarray,
    vals: np.ndarray,
    kind: str,
    min_support: int,
    shrinkage: float,
    max_neighbors: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`neighbour_lists` (``sort=True``) for a single query row, in time linear in the
    number of stored values in the columns it rated instead of in the size of ``x``.

    Same similarities bit for bit (the same sums in the same order, then the same formula,
    :func:`_sim_value`), the same order (decreasing, ties: lower index) and truncation to
    ``max_neighbors``. Single-threaded: it serves one request.

    Args:
        by_col: ``x`` (``n × d``) in CSC layout as ``(indptr int64 (d+1,), indices int32,
            data float64)``; its row indices are the neighbour ids returned.
        n: number of rows of ``x``.
        cols, vals: the query's distinct column indices and values, shape ``(q,)``.

    Returns:
        ``(indptr, indices, sims)`` of one row: ``indptr = [0, count]`` (int64), neighbour
        rows (int32) and similarities (float32), best first.
    """
    if kind not in ("cosine", "pearson"):  # pragma: no cover - validated by callers
        raise ConfigError(f"unknown similarity {kind!r}")
    order = np.argsort(cols, kind="stable")
    s = _query_sims(
        np.asarray(cols, dtype=np.int64)[order],
        np.asarray(vals, dtype=np.float64)[order],
        by_col[0],
        by_col[1],
        by_col[2],
        int(n),
        kind == "pearson",
        max(int(min_support), 1),
        float(shrinkage),
    )
    pos = np.flatnonzero(s > 0)
    best = pos[np.argsort(-s[pos], kind="stable")]
    if max_neighbors is not None:
        best = best[: int(max_neighbors)]
    return (
        np.array([0, best.size], dtype=np.int64),
        best.astype(np.int32),
        s[best].astype(np.float32),
    )


# ====================================================================== kernels
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
    k: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Scores of neighbour-list row ``u`` into ``out`` (``(n_items,)`` float32).

    Walking u's neighbours in decreasing similarity, each item accepts the first ``k``
    neighbours who rated it, i.e. the k most similar users who rated the item.
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
        if cnt[i] >= min_k and den[i] > 0:
            if centred:
                out[i] = mu + (num[i] + gamma * den[i]) / (den[i] + beta)
            else:
                out[i] = (num[i] + gamma * den[i] + beta * mu) / (den[i] + beta)
        else:
            out[i] = mu


@numba.njit(parallel=True, cache=True)
def _user_knn_kernel(
    rows: np.ndarray,
    nb_indptr: np.ndarray,
    nb_indices: np.ndarray,
    nb_sims: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_vals: np.ndarray,
    base: np.ndarray,
    n_items: int,
    k: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
) -> np.ndarray:  # pragma: no cover - compiled
    """Per-item top-k user neighbourhoods for a batch (parallel over users); returns
    ``(b, n_items)`` float32 (:func:`_user_knn_row` for each of ``rows``)."""
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
            k,
            min_k,
            beta,
            gamma,
            centred,
            out[a],
        )
    return out


@numba.njit(cache=True)
def _user_knn_serial(
    rows: np.ndarray,
    nb_indptr: np.ndarray,
    nb_indices: np.ndarray,
    nb_sims: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_vals: np.ndarray,
    base: np.ndarray,
    n_items: int,
    k: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
) -> np.ndarray:  # pragma: no cover - compiled
    """:func:`_user_knn_kernel` on the calling thread only (for one user, e.g. a fold-in:
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
            k,
            min_k,
            beta,
            gamma,
            centred,
            out[a],
        )
    return out


@numba.njit(inline="always")
def _worse(s1: float, j1: int, s2: float, j2: int) -> bool:  # pragma: no cover - compiled
    return s1 < s2 or (s1 == s2 and j1 > j2)


@numba.njit(cache=True)
def _heap_push(
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
            if _worse(s, j, hs[i, parent], hj[i, parent]):
                hs[i, pos], hj[i, pos], hd[i, pos] = hs[i, parent], hj[i, parent], hd[i, parent]
                pos = parent
            else:
                break
        hs[i, pos], hj[i, pos], hd[i, pos] = s, j, d
        return size + 1
    if not _worse(hs[i, 0], hj[i, 0], s, j):
        return size
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= k:
            break
        child = left
        right = left + 1
        if right < k and _worse(hs[i, right], hj[i, right], hs[i, left], hj[i, left]):
            child = right
        if _worse(hs[i, child], hj[i, child], s, j):
            hs[i, pos], hj[i, pos], hd[i, pos] = hs[i, child], hj[i, child], hd[i, child]
            pos = child
        else:
            break
    hs[i, pos], hj[i, pos], hd[i, pos] = s, j, d
    return size


@numba.njit(parallel=True, cache=True)
def _item_knn_kernel(
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
                    if size[i] == k and not _worse(root_s[i], root_j[i], s, j):
                        continue  # not better than the current k-th best
                    size[i] = _heap_push(hs, hj, hd, i, size[i], k, s, j, d)
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


# ====================================================================== shared helpers
def _title(catalog: ItemCatalog | None, movie_id: int) -> str:
    if catalog is not None and movie_id in catalog:
        return catalog.title(movie_id)
    return f"movie {movie_id}"


def _stars(x: float) -> str:
    return f"{x:.1f}★" if x % 1 else f"{int(x)}★"


def _check_common(model: Recommender, sims: tuple[str, ...]) -> None:
    name = model.name
    k = model.k  # type: ignore[attr-defined]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"{name}: k must be an integer >= 1, got {k!r}")
    if model.similarity not in sims:  # type: ignore[attr-defined]
        raise ConfigError(
            f"{name}: similarity must be one of {', '.join(sims)}, got {model.similarity!r}"  # type: ignore[attr-defined]
        )
    min_k = model.min_k  # type: ignore[attr-defined]
    if not isinstance(min_k, int | np.integer) or not 1 <= min_k <= k:
        raise ConfigError(f"{name}: min_k must be an integer in [1, k={k}], got {min_k!r}")
    ms = model.min_support  # type: ignore[attr-defined]
    if not isinstance(ms, int | np.integer) or ms < 0:
        raise ConfigError(f"{name}: min_support must be an integer >= 0, got {ms!r}")
    for key in ("shrinkage", "rank_damping", "rank_offset"):
        value = getattr(model, key)
        if not isinstance(value, int | float) or not value >= 0:
            raise ConfigError(f"{name}: {key} must be a number >= 0, got {value!r}")
    mn = model.max_neighbors  # type: ignore[attr-defined]
    if mn is not None and (not isinstance(mn, int | np.integer) or mn < k):
        raise ConfigError(f"{name}: max_neighbors must be None or an integer >= k, got {mn!r}")


def _unique_batches(user_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inverse = np.unique(np.asarray(user_rows, dtype=np.int64), return_inverse=True)
    return uniq, inverse


# ====================================================================== UserKNN
class _KNNFoldIn(Recommender):
    """New users for both kNN models, from their ``_fold(ratings, β, γ)``: the damped ranking
    score (:meth:`fold_in`) or the plain rating formula (:meth:`fold_in_ratings`)."""

    rank_damping: float
    rank_offset: float

    def _fold(self, ratings: Mapping[int, float], beta: float, gamma: float) -> np.ndarray:
        raise NotImplementedError

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        return self._fold(ratings, self.rank_damping, self.rank_offset)

    def fold_in_ratings(self, ratings: Mapping[int, float]) -> np.ndarray:
        """The rating formula (β = γ = 0) for a new user, clipped to the rating scale."""
        lo, hi = self.data_.rating_scale
        return np.clip(self._fold(ratings, 0.0, 0.0), lo, hi)


class UserKNN(_KNNFoldIn):
    """User-user collaborative filtering (Herlocker et al. 1999), the seed's model.

    With mean-centring (Surprise ``KNNWithMeans``, user-based)::

        r̂_ui = μ_u + Σ_{v∈N_k(u;i)} s_uv (r_vi − μ_v) / Σ_{v∈N_k(u;i)} s_uv

    and without: ``r̂_ui = Σ s_uv r_vi / Σ s_uv``; ``N_k(u;i)`` = the ``k`` users most similar
    to ``u`` (positive similarity only) who rated ``i``. When fewer than ``min_k`` such users
    exist the prediction falls back to ``μ_u``. Similarities (over co-rated items, see
    :func:`similarity_block`): ``cosine`` or ``pearson``, zeroed below ``min_support``
    co-rated items, shrunk by ``n/(n+shrinkage)``. Predictions are clipped to the rating scale.

    Args:
        k: neighbours per prediction (≥ 1).
        similarity: ``"cosine"`` or ``"pearson"``.
        mean_center: predict deviations from user means (see above).
        min_support: minimum co-rated items for a similarity to count.
        shrinkage: λ ≥ 0 of ``s ← s·n/(n+λ)``.
        min_k: minimum neighbours for a neighbourhood prediction (1 ≤ min_k ≤ k).
        rank_damping: β ≥ 0 added to ``Σ s`` in :meth:`score` (see module docstring).
        rank_offset: γ ≥ 0, evidence per rating neighbour in :meth:`score` (ditto).
        max_neighbors: keep only this many most similar users per user (``None``: all
            positive ones, i.e. exact per-item neighbourhoods, up to :data:`EXACT_LIMIT`
            users; ``10·k`` beyond).

    Attributes:
        user_means_: ``(n_users,)`` mean rating μ_u (the global mean for a user without
            ratings).
        nb_indptr_, nb_indices_, nb_sims_: per-user neighbour lists (user row indices),
            CSR layout, sorted by decreasing similarity.
        values_: ``(nnz,)`` per-rating values used by the kernel, aligned with
            ``data_.matrix.data`` (``r − μ_u`` when centring, else ``r``).
    """

    name = "user-knn"
    predicts_ratings = True

    def __init__(
        self,
        k: int = 30,
        similarity: str = "cosine",
        mean_center: bool = True,
        min_support: int = 1,
        shrinkage: float = 5.0,
        min_k: int = 1,
        rank_damping: float = 1000.0,
        rank_offset: float = 1000.0,
        max_neighbors: int | None = None,
    ) -> None:
        self.k = k
        self.similarity = similarity
        self.mean_center = mean_center
        self.min_support = min_support
        self.shrinkage = shrinkage
        self.min_k = min_k
        self.rank_damping = rank_damping
        self.rank_offset = rank_offset
        self.max_neighbors = max_neighbors

    def _validate(self) -> None:
        _check_common(self, ("cosine", "pearson"))
        if not isinstance(self.mean_center, bool):
            raise ConfigError(f"user-knn: mean_center must be true/false, got {self.mean_center!r}")

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        m = data.matrix
        counts = np.diff(m.indptr)
        means = data.user_means().astype(np.float64)
        self.user_means_ = np.where(counts > 0, means, float(m.data.mean()))
        self.nb_indptr_, self.nb_indices_, self.nb_sims_ = neighbour_lists(
            m,
            self.similarity,
            self.min_support,
            float(self.shrinkage),
            _cap(self.max_neighbors, data.n_users, self.k),
        )
        vals = m.data.astype(np.float64)
        if self.mean_center:
            vals = vals - np.repeat(self.user_means_, np.diff(m.indptr))
        self.values_ = vals

    def _run(
        self,
        rows: np.ndarray,
        nb: tuple[np.ndarray, np.ndarray, np.ndarray],
        base: np.ndarray,
        beta: float,
        gamma: float = 0.0,
    ) -> np.ndarray:
        m = self.data_.matrix
        rows = np.asarray(rows, dtype=np.int64)
        kernel = _user_knn_serial if rows.size <= 1 else _user_knn_kernel
        return kernel(
            rows,
            nb[0],
            nb[1],
            nb[2],
            m.indptr.astype(np.int64),
            m.indices,
            self.values_,
            np.asarray(base, dtype=np.float64),
            self.data_.n_items,
            int(self.k),
            int(self.min_k),
            float(beta),
            float(gamma),
            bool(self.mean_center),
        )

    def _nb(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.nb_indptr_, self.nb_indices_, self.nb_sims_

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Damped predicted ratings (unclipped), shape ``(b, n_items)`` float32."""
        self._check_fitted()
        rows = np.asarray(user_rows, dtype=np.int64)
        return self._run(
            rows, self._nb(), self.user_means_[rows], self.rank_damping, self.rank_offset
        )

    def predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """The rating formula (β = 0), clipped to the rating scale; shape ``(n,)``."""
        self._check_fitted()
        uniq, inv = _unique_batches(user_rows)
        out = np.empty(inv.size, dtype=np.float32)
        cols = np.asarray(item_cols, dtype=np.int64)
        for start in range(0, uniq.size, 512):
            block = uniq[start : start + 512]
            scores = self._run(block, self._nb(), self.user_means_[block], 0.0)
            sel = (inv >= start) & (inv < start + block.size)
            out[sel] = scores[inv[sel] - start, cols[sel]]
        lo, hi = self.data_.rating_scale
        return np.clip(out, lo, hi)

    def _by_item(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The training ratings by movie column: CSC ``(indptr int64, user rows int32,
        ratings float64)``, built once per fitted matrix (a cache, not saved)."""
        m = self.data_.matrix
        cache = getattr(self, "_by_item_cache", None)
        if cache is None or cache[0] is not m:
            c = m.tocsc()
            c.sort_indices()
            arrays = (
                c.indptr.astype(np.int64),
                c.indices.astype(np.int32),
                c.data.astype(np.float64),
            )
            cache = (m, arrays)
            self._by_item_cache = cache
        return cache[1]

    def _new_user_nb(
        self, cols: np.ndarray, vals: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A new user's neighbour list (CSR of one row, best first), exactly as
        :func:`neighbour_lists` would compute it, reading only the movies they rated.
        The last result is kept so that :meth:`fold_in` then :meth:`explain_ratings` on the
        same ratings (one API request) compute it once."""
        key = (cols.tobytes(), vals.tobytes())
        last = getattr(self, "_new_user_cache", None)
        if last is not None and last[0] is self.nb_indptr_ and last[1] == key:
            return last[2]
        nb = query_neighbours(
            self._by_item(),
            self.data_.n_users,
            cols,
            vals,
            self.similarity,
            self.min_support,
            float(self.shrinkage),
            _cap(self.max_neighbors, self.data_.n_users, self.k),
        )
        self._new_user_cache = (self.nb_indptr_, key, nb)
        return nb

    def _fold(self, ratings: Mapping[int, float], beta: float, gamma: float) -> np.ndarray:
        """Similarities of the new user to every training user who shares a rated movie,
        then the same kernel."""
        self._check_fitted()
        cols, vals = fold_ratings(self.data_, ratings)
        if cols.size == 0:
            return np.full(self.data_.n_items, float(self.data_.matrix.data.mean()), np.float32)
        return self._run(
            np.zeros(1, np.int64),
            self._new_user_nb(cols, vals),
            np.array([vals.mean()]),
            beta,
            gamma,
        )[0]

    def _nb_of(self, user_row: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.nb_indptr_[user_row], self.nb_indptr_[user_row + 1]
        return self.nb_indices_[lo:hi], self.nb_sims_[lo:hi]

    def _restrict(
        self, nbrs: np.ndarray, sims: np.ndarray, item_col: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first ``k`` of a best-first neighbour list who rated ``item_col``, their
        similarities and ratings."""
        indptr, rows, ratings = self._by_item()
        lo, hi = indptr[int(item_col)], indptr[int(item_col) + 1]
        m = self.data_.matrix
        col = np.zeros(m.shape[0], dtype=m.dtype)  # the column, dense (float64 → float32 exact)
        col[rows[lo:hi]] = ratings[lo:hi]
        rated = col[nbrs] > 0
        k = int(self.k)
        return nbrs[rated][:k], sims[rated][:k], col[nbrs][rated][:k]

    def neighbourhood(self, user_row: int, item_col: int) -> tuple[np.ndarray, np.ndarray]:
        """The users (row indices) in ``N_k(u;i)`` and their similarities, best first."""
        self._check_fitted()
        nbrs, sims, _ = self._restrict(*self._nb_of(int(user_row)), int(item_col))
        return nbrs, sims

    def _reasons(
        self, nbrs: np.ndarray, sims: np.ndarray, mean: float, cols: np.ndarray
    ) -> list[str]:
        out = []
        for c in cols:
            chosen, _, ratings = self._restrict(nbrs, sims, int(c))
            if chosen.size == 0:
                out.append(
                    "none of your nearest neighbours rated it; "
                    f"predicted from your average rating ({mean:.1f}★)"
                )
                continue
            avg = float(ratings.mean())
            how = "rated it highly" if avg >= 3.5 else "rated it"
            out.append(
                f"users with similar taste {how} ({chosen.size} of your nearest neighbours, "
                f"avg {avg:.1f}★)"
            )
        return out

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """How many of the user's nearest neighbours (``N_k(u;i)``) rated each movie, and
        their average rating."""
        self._check_fitted()
        u = int(self.data_.users.index([user_id])[0])
        cols = self.data_.items.index(np.atleast_1d(np.asarray(item_ids)))
        return self._reasons(*self._nb_of(u), float(self.user_means_[u]), cols)

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}`` (as :meth:`fold_in`)."""
        self._check_fitted()
        cols, vals = fold_ratings(self.data_, ratings)
        items = self.data_.items.index(np.atleast_1d(np.asarray(item_ids)))
        if cols.size == 0:
            return self._reasons(np.zeros(0, np.int32), np.zeros(0, np.float32), 0.0, items)
        _, nbrs, sims = self._new_user_nb(cols, vals)
        return self._reasons(nbrs, sims, float(vals.mean()), items)


# ====================================================================== ItemKNN
class ItemKNN(_KNNFoldIn):
    """Item-item collaborative filtering (Sarwar et al. 2001; Koren 2010 §2.2).

    ``center="baseline"`` (Surprise ``KNNBaseline``, Koren 2010 eq. 3)::

        r̂_ui = b_ui + Σ_{j∈N_k(i;u)} s_ij (r_uj − b_uj) / Σ_{j∈N_k(i;u)} s_ij,
        b_ui = μ + b_u + b_i   (biases from :func:`~movierec.models.baseline.fit_baselines`)

    ``center="mean"`` uses ``b_ui = μ_i`` (item mean, ``KNNWithMeans``); ``center="none"`` is
    Sarwar's weighted sum ``Σ s_ij r_uj / Σ s_ij`` (``KNNBasic``; falls back to the item mean).
    ``N_k(i;u)`` = the ``k`` items most similar to ``i`` (positive similarity) that ``u`` rated;
    fewer than ``min_k`` → ``b_ui``. Similarities between item columns over co-rating users:
    ``cosine``, ``adjusted_cosine`` (ratings minus user mean, Sarwar 2001), ``pearson``, or
    ``pearson_baseline`` (cosine of baseline residuals ``r − b_ui``; Koren 2010 / Surprise),
    zeroed below ``min_support`` common users and shrunk by ``n/(n+shrinkage)``.

    Args:
        k, min_k, min_support, shrinkage, rank_damping, rank_offset, max_neighbors: as in
            :class:`UserKNN`.
        similarity: see above.
        center: ``"baseline"``, ``"mean"`` or ``"none"``.
        reg_u, reg_i, n_epochs: baseline ALS parameters (used by ``center="baseline"`` and
            ``similarity="pearson_baseline"``).

    Neighbourhood scope (``neighbour_scope``):
        ``"per-item"``: ``N_k(i;u)`` as above (exact Surprise semantics; the score kernel is
        ``O(Σ_u |I_u| · |{i : s_ij > 0}|)`` with a bounded heap per (user, item), too slow
        for millions of users × tens of thousands of items).
        ``"global"``: the item-based top-N model of Deshpande & Karypis 2004 (what
        ``implicit``'s ``ItemItemRecommender`` does): every item keeps only its ``k`` most
        similar items ``topk(j)`` (``sim_`` has ≤ k nonzeros per row, computed by the
        compiled kernel of :mod:`movierec.models._knn_global`), and each item ``j`` the
        user rated votes for the items of ``topk(j)``: ``N(i;u) = {j ∈ I_u : i ∈ topk(j)}``.
        A batch of users is scored with two sparse products::

            num = D_b @ sim,  den = P_b @ sim      (both (b, n_items))
            num_ui = Σ_{j∈I_u, i∈topk(j)} s_ji dev_uj,  den_ui = Σ_{j∈I_u, i∈topk(j)} s_ji

        (``D_b`` = the batch's ``dev_`` rows, ``P_b`` their 0/1 pattern; ``s_ji = s_ij``) and
        the same support-aware formula as the per-item mode; top-``n`` lists for many users
        come straight from the sparse sums, without the dense block. The cost per user is
        ``|I_u| · k``. :meth:`predict` / :meth:`fold_in` use the exact kernel with the same
        neighbourhoods, which gives identical values.
        ``"auto"`` (default): global when ``n_users × n_items >`` :data:`GLOBAL_CELLS`.

    Attributes:
        sim_: CSR ``(n_items, n_items)``; row i holds the positive ``s_ij`` (column indices).
        neighbour_scope_: the resolved mode, ``"per-item"`` or ``"global"``.
        mu_, user_bias_ ``(n_users,)``, item_bias_ ``(n_items,)``: baselines (zeros if unused).
        item_means_: ``(n_items,)`` item means (global mean for unrated items).
        dev_: ``(nnz,)`` per-rating values aligned with ``data_.matrix.data``
            (``r − b_ui`` / ``r − μ_i`` / ``r``).
    """

    name = "item-knn"
    predicts_ratings = True

    def __init__(
        self,
        k: int = 40,
        similarity: str = "pearson_baseline",
        center: str = "baseline",
        min_support: int = 1,
        shrinkage: float = 200.0,
        min_k: int = 1,
        rank_damping: float = 0.3,
        rank_offset: float = 20.0,
        max_neighbors: int | None = None,
        reg_u: float = 15.0,
        reg_i: float = 10.0,
        n_epochs: int = 10,
        neighbour_scope: str = "auto",
    ) -> None:
        self.k = k
        self.similarity = similarity
        self.center = center
        self.neighbour_scope = neighbour_scope
        self.min_support = min_support
        self.shrinkage = shrinkage
        self.min_k = min_k
        self.rank_damping = rank_damping
        self.rank_offset = rank_offset
        self.max_neighbors = max_neighbors
        self.reg_u = reg_u
        self.reg_i = reg_i
        self.n_epochs = n_epochs

    def _validate(self) -> None:
        _check_common(self, ("cosine", "adjusted_cosine", "pearson", "pearson_baseline"))
        if self.center not in ("baseline", "mean", "none"):
            raise ConfigError(
                f"item-knn: center must be 'baseline', 'mean' or 'none', got {self.center!r}"
            )
        for key in ("reg_u", "reg_i"):
            if not float(getattr(self, key)) >= 0:
                raise ConfigError(f"item-knn: {key} must be >= 0, got {getattr(self, key)}")
        if int(self.n_epochs) < 1:
            raise ConfigError(f"item-knn: n_epochs must be >= 1, got {self.n_epochs}")
        if self.neighbour_scope not in ("auto", "per-item", "global"):
            raise ConfigError(
                "item-knn: neighbour_scope must be 'auto', 'per-item' or 'global', "
                f"got {self.neighbour_scope!r}"
            )

    # ------------------------------------------------------------------ fitting
    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        m = data.matrix
        rows = np.repeat(np.arange(data.n_users), np.diff(m.indptr))
        r = m.data.astype(np.float64)
        counts = np.diff(m.tocsc().indptr)
        sums = np.asarray(m.sum(axis=0), dtype=np.float64).ravel()
        mu = float(r.mean())
        self.item_means_ = np.where(counts > 0, sums / np.maximum(counts, 1), mu)
        need_bias = self.center == "baseline" or self.similarity == "pearson_baseline"
        if need_bias:
            self.mu_, self.user_bias_, self.item_bias_ = fit_baselines(
                m, float(self.reg_u), float(self.reg_i), int(self.n_epochs)
            )
        else:
            self.mu_ = mu
            self.user_bias_ = np.zeros(data.n_users)
            self.item_bias_ = np.zeros(data.n_items)
        resid = r - (self.mu_ + self.user_bias_[rows] + self.item_bias_[m.indices])
        sim_values = {
            "cosine": r,
            "pearson": r,
            "adjusted_cosine": r - np.repeat(data.user_means(), np.diff(m.indptr)),
            "pearson_baseline": resid,
        }[self.similarity]
        kind = "pearson" if self.similarity == "pearson" else "cosine"
        x = sp.csr_matrix((sim_values, m.indices, m.indptr), shape=m.shape).T.tocsr()
        mode = self.neighbour_scope
        if mode == "auto":
            mode = "global" if data.n_users * data.n_items > GLOBAL_CELLS else "per-item"
        self.neighbour_scope_ = mode
        if mode == "global":
            from movierec.models._knn_global import item_topk_similarities

            indptr, indices, sims = item_topk_similarities(
                (x.indptr, x.indices, x.data),
                (m.indptr, m.indices, np.asarray(sim_values, dtype=np.float64)),
                int(self.k),
                kind,
                self.min_support,
                float(self.shrinkage),
            )
        else:
            indptr, indices, sims = neighbour_lists(
                x,
                kind,
                self.min_support,
                float(self.shrinkage),
                _cap(self.max_neighbors, data.n_items, self.k),
                sort=False,
            )
        sim = sp.csr_matrix((sims, indices, indptr), shape=(data.n_items, data.n_items))
        sim.sort_indices()
        self.sim_ = sim
        self.dev_ = {
            "baseline": resid,
            "mean": r - self.item_means_[m.indices],
            "none": r,
        }[self.center]

    # ------------------------------------------------------------------ scoring
    def _sim_t(self) -> sp.csr_matrix:
        """``sim_ᵀ`` as CSR (cached while ``sim_`` is the same object)."""
        cache = getattr(self, "_sim_t_cache", None)
        if cache is None or cache[0] is not self.sim_:
            cache = (self.sim_, self.sim_.T.tocsr())
            self._sim_t_cache = cache
        return cache[1]

    def _global(self) -> bool:
        return getattr(self, "neighbour_scope_", "per-item") == "global"

    def _push(self) -> sp.csr_matrix:
        """Row ``j`` lists the items ``i`` (with ``s_ij``) that a rating of ``j`` takes part in
        predicting: ``{i : s_ij > 0}`` (per-item, rows of ``sim_ᵀ``) or ``topk(j)`` (global,
        rows of ``sim_``)."""
        return self.sim_ if self._global() else self._sim_t()

    def _pull(self) -> sp.csr_matrix:
        """Row ``i`` lists the candidate neighbours ``j`` of item ``i`` (transpose of
        :meth:`_push`)."""
        return self._sim_t() if self._global() else self.sim_

    def _offsets(self, user_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``b_ui = user_off[u] + item_base[i]`` for the configured centring."""
        if self.center == "baseline":
            return self.mu_ + self.user_bias_[user_rows], self.item_bias_
        return np.zeros(user_rows.size), self.item_means_

    def _run(
        self,
        rows: np.ndarray,
        r: tuple[np.ndarray, np.ndarray, np.ndarray],
        user_off: np.ndarray,
        beta: float,
        gamma: float = 0.0,
    ) -> np.ndarray:
        st = self._push()
        item_base = self._offsets(np.zeros(0, np.int64))[1]
        return _item_knn_kernel(
            np.asarray(rows, dtype=np.int64),
            r[0],
            r[1],
            r[2],
            np.asarray(user_off, dtype=np.float64),
            np.asarray(item_base, dtype=np.float64),
            st.indptr.astype(np.int64),
            st.indices,
            st.data.astype(np.float64),
            self.data_.n_items,
            self.data_.n_items if self._global() else int(self.k),  # global: every vote counts
            int(self.min_k),
            float(beta),
            float(gamma),
            self.center != "none",
        )

    def _train_r(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = self.data_.matrix
        return m.indptr.astype(np.int64), m.indices, np.asarray(self.dev_, dtype=np.float64)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Damped predicted ratings (unclipped), shape ``(b, n_items)`` float32."""
        self._check_fitted()
        rows = np.asarray(user_rows, dtype=np.int64)
        off = self._offsets(rows)[0]
        if self._global():
            return self._global_scores(rows, off, self.rank_damping, self.rank_offset)
        return self._run(rows, self._train_r(), off, self.rank_damping, self.rank_offset)

    def _global_scores(
        self, rows: np.ndarray, user_off: np.ndarray, beta: float, gamma: float
    ) -> np.ndarray:
        """Global-mode scores by sparse products (see the class docstring), ``(b, n_items)``.

        Same formula as :func:`_item_knn_kernel`: ``base + (num + γ·den)/(den + β)`` (centred)
        or ``(num + γ·den + β·base)/(den + β)`` (``center="none"``) where fewer than
        ``min_k`` neighbours or ``den = 0`` give ``base``.
        """
        m = self.data_.matrix
        starts = m.indptr[rows].astype(np.int64)
        lengths = m.indptr[rows + 1].astype(np.int64) - starts
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        take = np.arange(indptr[-1]) + np.repeat(starts - indptr[:-1], lengths)
        shape = (rows.size, self.data_.n_items)
        cols = m.indices[take]
        dev = np.asarray(self.dev_, dtype=np.float32)[take]
        d = sp.csr_matrix((dev, cols, indptr), shape=shape)
        p = sp.csr_matrix((np.ones(take.size, np.float32), cols, indptr), shape=shape)
        st = self._push().astype(np.float32)
        num = (d @ st).toarray()
        den = (p @ st).toarray()
        ok = den > 0
        if int(self.min_k) > 1:
            st.data[:] = 1.0
            ok &= (p @ st).toarray() >= int(self.min_k)
        item_base = np.asarray(self._offsets(rows[:0])[1], dtype=np.float32)
        base = np.asarray(user_off, dtype=np.float32)[:, None] + item_base[None, :]
        num += np.float32(gamma) * den
        if self.center == "none":
            num += np.float32(beta) * base
        den += np.float32(beta)
        den[~ok] = 1.0
        num /= den
        if self.center != "none":
            num += base
        num[~ok] = base[~ok]
        return num

    def _recommend_rows(
        self,
        rows: np.ndarray,
        n: int,
        exclude_seen: bool,
        excluded: np.ndarray | None,
        batch_size: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Global mode: the top-``n`` straight from the sparse sums
        (:func:`~movierec.models._knn_global.item_topk_recommend`), with no dense
        ``(batch, n_items)`` block; the same lists as the base class on :meth:`score`."""
        if not self._global():
            return super()._recommend_rows(rows, n, exclude_seen, excluded, batch_size)
        from movierec.models._knn_global import item_topk_recommend

        st = self._push()
        n_items = self.data_.n_items
        blocked = np.zeros(n_items, dtype=bool) if excluded is None else excluded
        k = min(int(n), n_items)
        out_ids = np.full((rows.size, n), -1, dtype=np.int64)
        out_scores = np.full((rows.size, n), -np.inf, dtype=np.float32)
        rows = np.asarray(rows, dtype=np.int64)
        cols, scores = item_topk_recommend(  # memory is O(b·n): no need for batches
            rows,
            self._train_r(),
            self._offsets(rows)[0],
            self._offsets(rows[:0])[1],
            (st.indptr, st.indices, st.data),
            blocked,
            exclude_seen,
            k,
            int(self.min_k),
            float(self.rank_damping),
            float(self.rank_offset),
            self.center != "none",
        )
        out_ids[:, :k] = np.where(cols >= 0, self.data_.items.ids[np.maximum(cols, 0)], -1)
        out_scores[:, :k] = scores
        return out_ids, out_scores

    def predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """The rating formula (β = 0), clipped to the rating scale; shape ``(n,)``."""
        self._check_fitted()
        uniq, inv = _unique_batches(user_rows)
        cols = np.asarray(item_cols, dtype=np.int64)
        out = np.empty(inv.size, dtype=np.float32)
        for start in range(0, uniq.size, 512):
            block = uniq[start : start + 512]
            scores = self._run(block, self._train_r(), self._offsets(block)[0], 0.0)
            sel = (inv >= start) & (inv < start + block.size)
            out[sel] = scores[inv[sel] - start, cols[sel]]
        lo, hi = self.data_.rating_scale
        return np.clip(out, lo, hi)

    def _fold(self, ratings: Mapping[int, float], beta: float, gamma: float) -> np.ndarray:
        """A new user needs no retraining: their bias from one ALS half-step, then the kernel."""
        self._check_fitted()
        cols, vals = fold_ratings(self.data_, ratings)
        order = np.argsort(cols)
        cols, vals = cols[order], vals[order]
        _, off, dev = self._new_user(cols, vals)
        r = (np.array([0, cols.size], np.int64), cols.astype(np.int32), dev.astype(np.float64))
        return self._run(np.zeros(1, np.int64), r, np.array([off]), beta, gamma)[0]

    def _new_user(self, cols: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """A new user's ``(cols, user_off, dev)``; with baselines ``b_u`` is one ALS
        half-step with the item biases fixed."""
        if self.center == "baseline":
            b_u = np.sum(vals - self.mu_ - self.item_bias_[cols]) / (self.reg_u + cols.size)
            off = float(self.mu_ + b_u)
            return cols, off, vals - off - self.item_bias_[cols]
        if self.center == "mean":
            return cols, 0.0, vals - self.item_means_[cols]
        return cols, 0.0, np.asarray(vals, dtype=np.float64)

    # ------------------------------------------------------------------ similar items / explain
    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` most similar movies by ``sim_`` (positive similarities only)."""
        self._check_fitted()
        if int(n) < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        cols = self.data_.items.index(np.atleast_1d(np.asarray(item_ids)))
        ids = np.full((cols.size, n), -1, dtype=np.int64)
        scores = np.full((cols.size, n), -np.inf, dtype=np.float32)
        for a, c in enumerate(cols):
            lo, hi = self.sim_.indptr[c], self.sim_.indptr[c + 1]
            idx, val = self.sim_.indices[lo:hi], self.sim_.data[lo:hi]
            order = np.lexsort((idx, -val))[:n]
            ids[a, : order.size] = self.data_.items.ids[idx[order]]
            scores[a, : order.size] = val[order]
        return ids, scores

    def _select(
        self, rated: np.ndarray, item_col: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``N_k(i;u)`` among the columns ``rated``: positions into ``rated``, columns, sims."""
        sims = self._pull()[int(item_col)].toarray().ravel()[rated]
        pos = np.flatnonzero(sims > 0)
        order = pos[np.lexsort((rated[pos], -sims[pos]))][: int(self.k)]
        return order, rated[order], sims[order]

    def neighbourhood(self, user_row: int, item_col: int) -> tuple[np.ndarray, np.ndarray]:
        """``N_k(i;u)``: item columns the user rated that are most similar to ``i``, best first,
        with their similarities."""
        self._check_fitted()
        _, cols, sims = self._select(self.data_.seen_items(int(user_row)), int(item_col))
        return cols, sims

    def _reasons(
        self, rated: np.ndarray, ratings: np.ndarray, devs: np.ndarray, cols: np.ndarray
    ) -> list[str]:
        out = []
        for c in cols:
            pos, nbrs, sims = self._select(rated, int(c))
            if nbrs.size == 0:
                out.append("no movie you rated is similar to it; predicted from its average")
                continue
            contrib = sims * devs[pos]
            order = np.argsort(-contrib, kind="stable")
            best = [int(t) for t in order[:2] if contrib[t] > 0]
            if best:
                parts = [
                    f"{_title(self.items_catalog_, int(self.data_.items.ids[nbrs[t]]))} "
                    f"{_stars(float(ratings[pos[t]]))}"
                    for t in best
                ]
                out.append("because you rated " + " and ".join(parts))
            else:
                title = _title(self.items_catalog_, int(self.data_.items.ids[nbrs[0]]))
                out.append(f"similar to {title}, which you rated {_stars(float(ratings[pos[0]]))}")
        return out

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """The rated movies in ``N_k(i;u)`` that contribute most (largest positive
        ``s_ij·(r_uj − b_uj)``) to each prediction: "because you rated Alien (1979) 5★"."""
        self._check_fitted()
        u = int(self.data_.users.index([user_id])[0])
        cols = self.data_.items.index(np.atleast_1d(np.asarray(item_ids)))
        m = self.data_.matrix
        lo, hi = m.indptr[u], m.indptr[u + 1]
        return self._reasons(m.indices[lo:hi], m.data[lo:hi], np.asarray(self.dev_[lo:hi]), cols)

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}`` (as :meth:`fold_in`)."""
        self._check_fitted()
        cols, vals = fold_ratings(self.data_, ratings)
        items = self.data_.items.index(np.atleast_1d(np.asarray(item_ids)))
        _, _, dev = self._new_user(cols, vals)
        return self._reasons(cols, vals, dev, items)
