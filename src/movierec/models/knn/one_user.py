"""One user's kNN scores and neighbour counts in plain numpy, with the same arithmetic as
the compiled kernels (:func:`movierec.models.knn.kernels.user_knn_serial`,
:func:`movierec.models.knn.evidence.user_neighbour_raters`).

A single request (``movierec recommend --user 1``, an API call, a new user's fold-in)
then needs no numba: importing it and loading its compiled kernels costs more than the
work. The results are bit for bit the kernels' (same float64 sums in the same order);
``tests/models/test_knn_one_user.py`` checks it.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["kernels_loaded", "neighbour_raters", "user_scores"]


def kernels_loaded() -> bool:
    """Whether this process has loaded the compiled kernels (:mod:`.kernels`): a server
    after :meth:`~movierec.models.base.Recommender.warm_up`, or a process that already
    scored a batch. Then one request uses them too (an ml-100k new user's scores: 0.15 ms
    against 6 ms here); otherwise this module spares a one-shot command numba's import."""
    return "movierec.models.knn.kernels" in sys.modules


def _gather(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries of CSR rows ``rows`` in order: ``(entry positions, lengths per row)``."""
    starts = indptr[rows]
    lens = (indptr[rows + 1] - starts).astype(np.int64)
    offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens)
    return np.arange(int(lens.sum()), dtype=np.int64) + offsets, lens


def user_scores(
    u: int,
    nb_indptr: np.ndarray,
    nb_indices: np.ndarray,
    nb_sims: np.ndarray,
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_vals: np.ndarray,
    mu: float,
    item_base: np.ndarray,
    n_items: int,
    k: int,
    min_k: int,
    beta: float,
    gamma: float,
    centred: bool,
) -> np.ndarray:
    """The user-kNN score of neighbour-list row ``u`` for every item, float32 ``(n_items,)``.

    Walking the neighbours best first, each item accepts the first ``k`` who rated it; per
    item ``num = Σ s·r`` and ``den = Σ s`` are added in that order (one pass per neighbour
    rank ``t < k``, as the kernel adds them), then ``b + (num + γ·den) / (den + β)``
    (centred) or ``(num + γ·den + β·b) / (den + β)`` with ``b = mu + item_base``
    (``item_base``: ``(n_items,)``), ``b`` below ``min_k`` neighbours.
    """
    lo, hi = int(nb_indptr[u]), int(nb_indptr[u + 1])
    nbrs, sims = nb_indices[lo:hi].astype(np.int64), nb_sims[lo:hi]
    entry, lens = _gather(r_indptr, nbrs)
    items = r_indices[entry].astype(np.int64)
    order = np.argsort(items, kind="stable")  # by item, then neighbour order
    items = items[order]
    s = np.repeat(sims, lens)[order]
    prod = s * r_vals[entry][order]
    n = items.size
    first = np.ones(n, dtype=bool)
    first[1:] = items[1:] != items[:-1]
    rank = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))
    num = np.zeros(n_items)
    den = np.zeros(n_items)
    for t in range(min(int(k), int(rank.max()) + 1 if n else 0)):
        at = rank == t
        num[items[at]] += prod[at]
        den[items[at]] += s[at]
    cnt = np.bincount(items[rank < k], minlength=n_items)
    ok = (cnt >= min_k) & (den > 0)
    base = mu + np.asarray(item_base, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if centred:
            value = base + (num + gamma * den) / (den + beta)
        else:
            value = (num + gamma * den + beta * base) / (den + beta)
    return np.where(ok, value, base).astype(np.float32)


def neighbour_raters(
    nbrs: np.ndarray,
    item_indptr: np.ndarray,
    item_rows: np.ndarray,
    item_ratings: np.ndarray,
    cols: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For one user's best-first neighbour list ``nbrs`` and movie columns ``cols`` (shape
    ``(n,)``, ``-1`` skipped): how many of the first ``k`` neighbours who rated each movie
    (positive rating) there are, and the sum of their ratings in neighbour order."""
    count = np.zeros(cols.size, dtype=np.int64)
    total = np.zeros(cols.size)
    for t, c in enumerate(cols.tolist()):
        if c < 0:
            continue
        raters = item_rows[item_indptr[c] : item_indptr[c + 1]]
        if raters.size == 0 or nbrs.size == 0:
            continue
        pos = np.searchsorted(raters, nbrs)
        pos = np.minimum(pos, raters.size - 1)
        hit = raters[pos] == nbrs
        values = item_ratings[item_indptr[c] + pos[hit]]
        values = values[values > 0][:k]
        count[t] = values.size
        s = 0.0
        for v in values.tolist():
            s += v
        total[t] = s
    return count, total
