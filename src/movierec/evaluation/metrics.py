"""Evaluation metrics as pure functions over numpy arrays.

Ranking metrics take a boolean *hit matrix* ``hits`` of shape ``(n_users, L)``:
``hits[u, j]`` is true when the item at rank ``j + 1`` of user ``u``'s list is relevant, and
``n_relevant`` of shape ``(n_users,)``: how many held-out items the user has (all of them
relevant whatever their rating, as in Microsoft Recommenders' benchmark; a relevant item the
model can never rank, e.g. a movie absent from training, still counts). Only the first ``k``
columns are used, so one top-20 list serves every ``K <= 20``. Every ranking metric is the
mean over the ``n_users`` rows (users with a list and at least one held-out item); a user
without hits contributes 0. Definitions follow ``recommenders.evaluation.python_evaluation``
(Microsoft Recommenders 1.2) so figures compare with their published benchmark table.

Beyond-accuracy metrics take ``rec`` of shape ``(n_users, L)`` holding item *column indices*
(``-1`` pads a list shorter than ``L``; padding is ignored everywhere).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

# --------------------------------------------------------------------------- rating metrics


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error ``sqrt(1/n * sum_i (r_i - r̂_i)^2)`` over aligned ``(n,)`` arrays."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error ``1/n * sum_i |r_i - r̂_i|`` over aligned ``(n,)`` arrays."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape or t.size == 0:
        raise ValueError(f"need two non-empty arrays of equal length, got {t.size} and {p.size}")
    return t, p


# --------------------------------------------------------------------------- hit matrix


def hit_matrix(
    rec_items: np.ndarray,
    list_users: np.ndarray,
    test_users: np.ndarray,
    test_items: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Relevance of each recommended item, and the number of relevant items per user.

    Args:
        rec_items: ``(n_users, L)`` recommended external movie ids, best first (``-1`` = pad).
        list_users: ``(n_users,)`` external user id of each row.
        test_users / test_items: ``(n_test,)`` held-out ``(userId, movieId)`` pairs; every
            pair is relevant.

    Returns:
        ``(hits, n_relevant)``: bool ``(n_users, L)`` and int64 ``(n_users,)``.
    """
    rec_items = np.asarray(rec_items, dtype=np.int64)
    list_users = np.asarray(list_users, dtype=np.int64)
    tu = np.asarray(test_users, dtype=np.int64)
    ti = np.asarray(test_items, dtype=np.int64)
    base = np.int64(max(int(ti.max(initial=0)), int(rec_items.max(initial=0))) + 2)
    rec_keys = list_users[:, None] * base + rec_items
    test_keys = tu * base + ti
    hits = np.isin(rec_keys, test_keys) & (rec_items >= 0)
    uniq, counts = np.unique(tu, return_counts=True)
    pos = np.clip(np.searchsorted(uniq, list_users), 0, max(uniq.size - 1, 0))
    n_relevant = np.where(uniq.size and (uniq[pos] == list_users), counts[pos], 0)
    return hits, n_relevant.astype(np.int64)


def _prep(hits: np.ndarray, k: int) -> np.ndarray:
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    h = np.asarray(hits, dtype=bool)
    if h.ndim != 2:
        raise ValueError("hits must be a 2-D (n_users, L) array")
    return h[:, : int(k)]


def _mean(per_user: np.ndarray) -> float:
    return float(per_user.mean()) if per_user.size else float("nan")


# --------------------------------------------------------------------------- ranking metrics


def precision_at_k(hits: np.ndarray, k: int) -> float:
    """``P@K = mean_u |top_K(u) ∩ R(u)| / K`` (divides by ``K`` even for shorter lists)."""
    return _mean(_prep(hits, k).sum(axis=1) / float(k))


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """``R@K = mean_u |top_K(u) ∩ R(u)| / |R(u)|``."""
    h = _prep(hits, k)
    return _mean(h.sum(axis=1) / np.maximum(np.asarray(n_relevant), 1))


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """Binary-relevance NDCG (Microsoft Recommenders ``ndcg_at_k(score_type="binary")``).

    ``DCG@K(u) = sum_{j<=K, item_j ∈ R(u)} 1 / log(1 + j)``;
    ``IDCG@K(u) = sum_{j=1}^{min(K, |R(u)|)} 1 / log(1 + j)``;
    ``NDCG@K = mean_u DCG/IDCG``. The log base cancels in the ratio.
    """
    return _mean(ndcg_per_user(hits, n_relevant, k))


def ndcg_per_user(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Each user's ``DCG@K(u) / IDCG@K(u)`` (see :func:`ndcg_at_k`), shape ``(n_users,)``;
    0 for a user without relevant items."""
    h = _prep(hits, k)
    disc = 1.0 / np.log2(np.arange(2, h.shape[1] + 2))
    dcg = (h * disc).sum(axis=1)
    ideal_disc = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, int(k) + 2)))])
    idcg = ideal_disc[np.minimum(np.asarray(n_relevant), int(k))]
    out: np.ndarray = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
    return out


def squared_error_per_user(
    users: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user mean squared error ``MSE(u) = 1/|T_u| Σ_{i∈T_u} (r_ui − r̂_ui)²``.

    Returns ``(user ids, MSE)``, both shape ``(n_distinct_users,)``, ids sorted.
    """
    t, p = _pair(y_true, y_pred)
    uniq, inv = np.unique(np.asarray(users), return_inverse=True)
    sums = np.bincount(inv, weights=(t - p) ** 2, minlength=uniq.size)
    counts = np.bincount(inv, minlength=uniq.size)
    return uniq, sums / counts


def map_at_k(
    hits: np.ndarray,
    n_relevant: np.ndarray,
    k: int,
    normalization: Literal["relevant", "min_k"] = "relevant",
) -> float:
    """Mean average precision of the top-``K`` lists.

    ``AP@K(u) = (1 / Z_u) * sum_{j<=K, item_j ∈ R(u)} P@j(u)`` where ``P@j`` is the precision
    of the first ``j`` items (the m-th hit at rank ``j`` adds ``m / j``).

    ``normalization="relevant"`` (default): ``Z_u = |R(u)|`` — Microsoft Recommenders'
    ``map`` function, the one behind the "MAP" column of their benchmark table.
    ``normalization="min_k"``: ``Z_u = min(K, |R(u)|)`` — their ``map_at_k`` (Spark MLlib's
    ``meanAveragePrecisionAt``), bounded by 1 whatever ``|R(u)|``.
    """
    h = _prep(hits, k)
    ranks = np.arange(1, h.shape[1] + 1)
    prec_at_hit = np.where(h, np.cumsum(h, axis=1) / ranks, 0.0).sum(axis=1)
    nrel = np.asarray(n_relevant)
    if normalization == "relevant":
        z = nrel
    elif normalization == "min_k":
        z = np.minimum(nrel, int(k))
    else:
        raise ValueError(f"normalization must be 'relevant' or 'min_k', got {normalization!r}")
    return _mean(prec_at_hit / np.maximum(z, 1))


def mrr(hits: np.ndarray, k: int) -> float:
    """Mean reciprocal rank of the first hit within the top ``K`` (0 when there is none)."""
    h = _prep(hits, k)
    first = np.argmax(h, axis=1)
    return _mean(np.where(h.any(axis=1), 1.0 / (first + 1), 0.0))


def hit_rate_at_k(hits: np.ndarray, k: int) -> float:
    """Fraction of users with at least one relevant item in their top ``K``."""
    return _mean(np.asarray(_prep(hits, k).any(axis=1), dtype=np.float64))


# --------------------------------------------------------------------------- beyond accuracy


def catalogue_coverage(rec: np.ndarray, n_items: int) -> float:
    """``|∪_u top_K(u)| / n_items``: share of the training catalogue ever recommended."""
    r = np.asarray(rec)
    return float(np.unique(r[r >= 0]).size / n_items) if n_items > 0 else float("nan")


def novelty(rec: np.ndarray, item_popularity: np.ndarray) -> float:
    """Mean self-information of recommended items, in bits.

    ``novelty = mean_{u, i ∈ top_K(u)} -log2 p(i)`` with ``p(i) = |U_i| / |U|`` the share of
    training users who rated ``i`` (``item_popularity``, shape ``(n_items,)``). Every
    training column has ``p > 0``; ``p`` is clipped to ``1e-12`` only to keep the log finite.
    """
    r = np.asarray(rec)
    vals = r[r >= 0]
    if vals.size == 0:
        return float("nan")
    p = np.clip(np.asarray(item_popularity, dtype=np.float64)[vals], 1e-12, 1.0)
    return float(np.mean(-np.log2(p)))


def intra_list_diversity(rec: np.ndarray, features: sp.spmatrix | np.ndarray) -> float:
    """Mean pairwise genre dissimilarity inside each list, averaged over users.

    ``ILD(u) = 2 / (L(L-1)) * sum_{i<j} (1 - cos(g_i, g_j))`` over the ``L`` valid items of
    the list, with ``g`` the binary genre vector (``features``, shape ``(n_items, n_genres)``);
    an item without genres has cosine 0 with everything. Lists with fewer than two items are
    skipped.
    """
    r = np.asarray(rec)
    g = sp.csr_matrix(features, dtype=np.float64)
    norms = np.sqrt(np.asarray(g.multiply(g).sum(axis=1)).ravel())
    gn = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ g
    dense = gn.toarray()
    valid = r >= 0
    vecs = dense[np.where(valid, r, 0)] * valid[..., None]  # (n_users, L, n_genres)
    sims = np.einsum("ulg,umg->ulm", vecs, vecs)
    n = valid.sum(axis=1)
    pairs = n * (n - 1)
    diag = np.einsum("ull->u", sims)
    off = sims.sum(axis=(1, 2)) - diag  # both (i, j) and (j, i)
    keep = pairs > 0
    if not keep.any():
        return float("nan")
    return float(np.mean(1.0 - off[keep] / pairs[keep]))


def personalization(rec: np.ndarray, n_items: int) -> float:
    """``1 - mean_{u<v} cos(x_u, x_v)`` over binary list-membership vectors ``x_u ∈ {0,1}^n``.

    1 means no two users share a recommended item; 0 means everyone gets the same list.
    Needs at least two users with a list.
    """
    r = np.asarray(rec)
    rows, cols = np.nonzero(r >= 0)
    x = sp.csr_matrix((np.ones(rows.size), (rows, r[rows, cols])), shape=(r.shape[0], n_items))
    x.data[:] = 1.0  # duplicates collapse to 1
    lengths = np.asarray(x.sum(axis=1)).ravel()
    x = x[lengths > 0]
    lengths = lengths[lengths > 0]
    n = x.shape[0]
    if n < 2:
        return float("nan")
    inv = 1.0 / np.sqrt(lengths)
    sims = (sp.diags(inv) @ x @ x.T @ sp.diags(inv)).toarray()
    total = sims.sum() - np.trace(sims)
    return float(1.0 - total / (n * (n - 1)))
