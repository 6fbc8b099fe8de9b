"""Numba-compiled inner loops of the factor models (SGD epochs, ALS half-sweeps).

Every kernel works on index space (CSR row/column indices, never external MovieLens ids),
float64 parameters updated in place, and is compiled once with ``cache=True`` (the machine
code is stored in ``__pycache__`` so later processes skip the compile step).

The Python references used by the tests live in ``tests/models/test_mf.py``; each kernel is
an exact transcription of the update rules stated in its docstring.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def svd_sgd_range(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    order: np.ndarray,
    start: int,
    end: int,
    mu: float,
    bu: np.ndarray,
    bi: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    lr_b: float,
    lr_f: float,
    reg_b: float,
    reg_f: float,
) -> float:
    """SGD steps of biased MF (Funk SVD) for ``order[start:end]``, in place.

    Surprise ``SVD`` update rules; for each rating position ``t`` with ``(u, i, r)``::

        e    = r - (mu + bu[u] + bi[i] + Q[i] . P[u])
        bu[u] += lr_b * (e - reg_b * bu[u]);   bi[i] += lr_b * (e - reg_b * bi[i])
        P[u] += lr_f * (e * Q[i] - reg_f * P[u]);   Q[i] += lr_f * (e * P[u]_old - reg_f * Q[i])

    All arithmetic is in the dtype of ``P`` (float32 in :class:`~movierec.models.mf.FunkSVD`:
    half the memory traffic of float64, same accuracy for ratings). Compiled with
    reassociation allowed so the dot product vectorises (SIMD); results match a sequential
    reference to rounding, not bitwise. Releases the GIL, so strata that share no user and
    no item can run in parallel Python threads (DSGD, see :class:`~movierec.models.mf.FunkSVD`).

    Args:
        users, items: shape ``(nnz,)`` int row/column index of each rating.
        ratings: shape ``(nnz,)``, same dtype as ``P``.
        order: shape ``(nnz,)`` rating positions in visiting order.
        start, end: the slice of ``order`` to visit.
        mu: global mean.
        bu, bi: shape ``(n_users,)`` / ``(n_items,)`` biases (updated), dtype of ``P``.
        P, Q: shape ``(n_users, k)`` / ``(n_items, k)`` factors (updated).

    Returns:
        Sum of squared errors seen (before each update).
    """
    k = P.shape[1]
    one = P.dtype.type(1.0)
    mu_ = P.dtype.type(mu)
    lr_b_ = P.dtype.type(lr_b)
    reg_b_ = P.dtype.type(reg_b)
    lr_f_ = P.dtype.type(lr_f)
    decay = one - lr_f_ * P.dtype.type(reg_f)
    sse = 0.0
    for t in range(start, end):
        idx = order[t]
        u = users[idx]
        i = items[idx]
        pu = P[u]
        qi = Q[i]
        dot = P.dtype.type(0.0)
        for f in range(k):
            dot += qi[f] * pu[f]
        err = ratings[idx] - (mu_ + bu[u] + bi[i] + dot)
        sse += err * err
        bu[u] += lr_b_ * (err - reg_b_ * bu[u])
        bi[i] += lr_b_ * (err - reg_b_ * bi[i])
        step = lr_f_ * err
        for f in range(k):
            puf = pu[f]
            qif = qi[f]
            pu[f] = decay * puf + step * qif
            qi[f] = decay * qif + step * puf
    return sse


@njit(cache=True)
def svdpp_sgd_epoch(
    indptr: np.ndarray,
    indices: np.ndarray,
    ratings: np.ndarray,
    user_order: np.ndarray,
    pos: np.ndarray,
    mu: float,
    bu: np.ndarray,
    bi: np.ndarray,
    P: np.ndarray,
    Q: np.ndarray,
    Y: np.ndarray,
    lr_b: float,
    lr_f: float,
    lr_y: float,
    reg_b: float,
    reg_f: float,
    reg_y: float,
) -> float:
    """One SGD epoch of SVD++ (Koren 2008), in place; Surprise ``SVDpp`` update rules.

    Users are visited in ``user_order``; a user's ratings are visited consecutively in the
    order ``pos[indptr[u]:indptr[u+1]]`` (CSR positions). For each rating ``(u, i, r)``,
    with ``N(u)`` the user's rated items and ``s = |N(u)|^-1/2``::

        z    = s * sum_{j in N(u)} Y[j]
        e    = r - (mu + bu[u] + bi[i] + Q[i] . (P[u] + z))
        bu[u] += lr_b (e - reg_b bu[u]);  bi[i] += lr_b (e - reg_b bi[i])
        P[u] += lr_f (e Q[i] - reg_f P[u]);  Q[i] += lr_f (e (P[u]_old + z) - reg_f Q[i])
        Y[j] += lr_y (e s Q[i]_old - reg_y Y[j])          for every j in N(u)

    Exact but O(|N(u)| k) per *user*, not per rating: within a user's block every ``Y[j]``,
    ``j in N(u)``, receives the same affine update ``Y[j] <- a Y[j] + c_t`` with
    ``a = 1 - lr_y reg_y`` and ``c_t = lr_y e s Q[i]_old``, and ``Y`` is read only through
    ``z``. So ``z <- a z + lr_y e Q[i]_old`` (since ``s^2 |N(u)| = 1``) is tracked exactly,
    and the composed update ``Y[j] <- a^m Y[j] + D`` is applied once at the end of the block.

    Returns:
        Sum of squared errors seen during the epoch.
    """
    k = P.shape[1]
    z = np.zeros(k)
    d = np.zeros(k)
    a = 1.0 - lr_y * reg_y
    sse = 0.0
    for uu in range(user_order.shape[0]):
        u = user_order[uu]
        start = indptr[u]
        end = indptr[u + 1]
        n = end - start
        if n == 0:
            continue
        s = 1.0 / np.sqrt(n)
        for f in range(k):
            z[f] = 0.0
            d[f] = 0.0
        for t in range(start, end):
            j = indices[t]
            for f in range(k):
                z[f] += Y[j, f]
        for f in range(k):
            z[f] *= s
        scale = 1.0
        for t in range(start, end):
            idx = pos[t]
            i = indices[idx]
            dot = 0.0
            for f in range(k):
                dot += Q[i, f] * (P[u, f] + z[f])
            err = ratings[idx] - (mu + bu[u] + bi[i] + dot)
            sse += err * err
            bu[u] += lr_b * (err - reg_b * bu[u])
            bi[i] += lr_b * (err - reg_b * bi[i])
            for f in range(k):
                puf = P[u, f]
                qif = Q[i, f]
                P[u, f] += lr_f * (err * qif - reg_f * puf)
                Q[i, f] += lr_f * (err * (puf + z[f]) - reg_f * qif)
                z[f] = a * z[f] + lr_y * err * qif
                d[f] = a * d[f] + lr_y * err * qif * s
            scale *= a
        for t in range(start, end):
            j = indices[t]
            for f in range(k):
                Y[j, f] = scale * Y[j, f] + d[f]
    return sse


@njit(cache=True)
def block_shuffle(indptr: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """CSR positions permuted within each row block (Fisher–Yates driven by ``uniforms``).

    Args:
        indptr: shape ``(n_rows + 1,)``.
        uniforms: shape ``(nnz,)`` floats in ``[0, 1)`` (from a seeded generator).

    Returns:
        int64 ``pos`` of shape ``(nnz,)`` with ``pos[indptr[u]:indptr[u+1]]`` a permutation
        of ``range(indptr[u], indptr[u+1])``.
    """
    nnz = indptr[-1]
    pos = np.arange(nnz)
    for u in range(indptr.shape[0] - 1):
        start = indptr[u]
        for t in range(indptr[u + 1] - 1, start, -1):
            j = start + int(uniforms[t] * (t - start + 1))
            tmp = pos[t]
            pos[t] = pos[j]
            pos[j] = tmp
    return pos


@njit(cache=True)
def implicit_sums(indptr: np.ndarray, indices: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``Z[u] = |N(u)|^-1/2 * sum_{j in N(u)} Y[j]`` for every CSR row; shape ``(n_rows, k)``."""
    n_rows = indptr.shape[0] - 1
    k = Y.shape[1]
    Z = np.zeros((n_rows, k))
    for u in range(n_rows):
        n = indptr[u + 1] - indptr[u]
        if n == 0:
            continue
        for t in range(indptr[u], indptr[u + 1]):
            j = indices[t]
            for f in range(k):
                Z[u, f] += Y[j, f]
        s = 1.0 / np.sqrt(n)
        for f in range(k):
            Z[u, f] *= s
    return Z


@njit(parallel=True, cache=True)
def ridge_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    targets: np.ndarray,
    F: np.ndarray,
    offset: np.ndarray,
    lam: float,
    weighted: bool,
    out: np.ndarray,
) -> None:
    """One ALS half-sweep: a ridge regression per CSR row, written into ``out``.

    For row ``u`` with observed columns ``J = N(u)`` (``n_u = |J|``)::

        out[u] = (F_J^T F_J + lam * w_u * I)^-1  F_J^T (targets_J - offset[J])

    with ``w_u = n_u`` when ``weighted`` (Zhou et al. 2008, weighted-lambda) else 1. Rows
    with no observation get zeros.

    Args:
        indptr, indices: CSR structure, ``n_rows + 1`` / ``nnz``.
        targets: shape ``(nnz,)`` float64 values to fit (e.g. ``r - mu``).
        F: shape ``(n_cols, d)`` fixed features of the other side.
        offset: shape ``(n_cols,)`` per-column offset subtracted from the targets.
        out: shape ``(n_rows, d)``, overwritten.
    """
    d = F.shape[1]
    n_rows = indptr.shape[0] - 1
    eye = np.eye(d)
    for u in prange(n_rows):  # rows are independent: parallel over rows, BLAS per row
        start = indptr[u]
        end = indptr[u + 1]
        n = end - start
        if n == 0:
            for f in range(d):
                out[u, f] = 0.0
            continue
        cols = indices[start:end]
        Fu = np.ascontiguousarray(F[cols])
        y = targets[start:end] - offset[cols]
        w = float(n) if weighted else 1.0
        A = Fu.T @ Fu + (lam * w) * eye
        b = Fu.T @ y
        out[u] = np.linalg.solve(A, b)
