"""Similarities between the rows of a ratings matrix over co-rated columns (users over
the movies they both rated, or movies over the users who rated both), the neighbour lists
both kNN models keep, and the same lists for a single new row.

Similarities are computed with sparse matrix products, in row blocks whose dense size stays
under :data:`BLOCK_BYTES`; each row keeps its positive similarities sorted in decreasing
order (optionally only the ``max_neighbors`` best). :func:`sim_value` is the one formula
(compiled) every path uses, so the batch, single-row and global top-k paths agree bit for bit.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from movierec.errors import ConfigError

__all__ = [
    "BLOCK_BYTES",
    "neighbour_lists",
    "query_neighbours",
    "sim_value",
    "similarity_block",
]

BLOCK_BYTES = 64 * 2**20
"""Upper bound on the dense similarity block built at once (bytes, per temporary array)."""


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
def sim_value(
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
            out[a, b] = sim_value(
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
    order of the sparse products in :func:`similarity_block`), then :func:`sim_value`.
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
            out[v] = sim_value(
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
    :func:`sim_value`), the same order (decreasing, ties: lower index) and truncation to
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
