"""Co-rating statistics of the training data: item similarity, neighbourhood scoring for new
users, and short *true* explanations that work for any model.

Everything is computed from the training matrix ``R`` (CSR, shape ``(n_users, n_items)``)
with sparse products on demand, so memory stays ``O(nnz)`` whatever the catalogue size:

* cosine similarity of item columns ``sim(i, j) = r_i·r_j / (‖r_i‖ ‖r_j‖)``;
* the "liked" pattern ``L = [R ≥ like_threshold]`` (4★ on a 1–5 scale) and co-like counts
  ``C = Lᵀ L`` (how many users liked both movies), used for explanations such as
  "because you rated Star Wars (1977) 5★ (212 who liked it also liked this)".

Public methods take and return column indices of ``data.items`` unless they say otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from movierec.interactions import Interactions
from movierec.models.base import top_k
from movierec.models.common.batch import Histories


def stars(rating: float) -> str:
    """``5.0 -> '5★'``, ``3.5 -> '3.5★'``."""
    return f"{rating:g}★"


class CoRatings:
    """Item-item statistics of one training set (see the module docstring).

    Attributes:
        n_raters: shape ``(n_items,)`` number of ratings per item.
        n_likers: shape ``(n_items,)`` number of ratings ≥ ``like_threshold`` per item.
        mean_rating: shape ``(n_items,)`` mean rating per item (0 when unrated).
        like_threshold: rating at or above which a rating counts as "liked".
    """

    def __init__(self, data: Interactions) -> None:
        self.data = data
        lo, hi = data.rating_scale
        self.like_threshold = max(lo, hi - 1.0)
        r = sp.csc_matrix(data.matrix, dtype=np.float32)
        self._r = r
        liked = r.copy()
        liked.data = (liked.data >= self.like_threshold).astype(np.float32)
        liked.eliminate_zeros()
        self._liked = liked
        self._liked_t = liked.T.tocsr()
        self._r_t = r.T.tocsr()
        self.n_raters = np.diff(r.indptr).astype(np.int64)
        self.n_likers = np.diff(liked.indptr).astype(np.int64)
        sums = np.asarray(r.sum(axis=0)).ravel()
        self.mean_rating = np.divide(
            sums, self.n_raters, out=np.zeros_like(sums), where=self.n_raters > 0
        ).astype(np.float32)
        self._norms = np.sqrt(np.asarray(r.multiply(r).sum(axis=0)).ravel()).astype(np.float32)

    # ------------------------------------------------------------------ similarity
    def cosine(self, cols: np.ndarray) -> np.ndarray:
        """Dense ``(len(cols), n_items)`` float32 cosine similarities of items ``cols`` to all."""
        cols = np.asarray(cols, dtype=np.int64)
        dots = (self._r_t[cols] @ self._r).toarray().astype(np.float32)
        denom = self._norms[cols][:, None] * self._norms[None, :]
        return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)

    def similar(self, col: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to item ``col`` (itself and zero similarity excluded).

        Returns:
            ``(cols, similarities)``, each shape ``(≤ n,)``, most similar first.
        """
        sims = self.cosine(np.array([col]))
        sims[0, col] = -np.inf
        sims[sims <= 0] = -np.inf
        top = top_k(sims, n)[0]
        top = top[np.isfinite(sims[0, top])]
        return top, sims[0, top]

    def co_raters(self, col: int, cols: np.ndarray) -> np.ndarray:
        """Shape ``(len(cols),)``: how many users rated both item ``col`` and each of ``cols``."""
        pattern = self._r_t[[col]].copy()
        pattern.data[:] = 1.0
        other = self._r[:, np.asarray(cols, dtype=np.int64)].copy()
        other.data[:] = 1.0
        return (pattern @ other).toarray().ravel().astype(np.int64)

    def neighbourhood_scores(self, cols: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """Item-based scores over all items for a new user (no retraining).

        ``s(i) = Σ_j sim(j, i) · (r_j − r̄) / (Σ_j |sim(j, i)| + 1)`` over the rated items
        ``j`` (``r̄``: the user's mean rating, or the scale midpoint if every rating is equal),
        plus ``1e-3 · log(1 + n_raters(i))`` so ties go to better-known movies.

        Args:
            cols: shape ``(k,)`` column indices of the rated items.
            ratings: shape ``(k,)`` the ratings.

        Returns:
            float32 scores, shape ``(n_items,)``.
        """
        r = np.asarray(ratings, dtype=np.float32)
        centre = float(r.mean()) if np.ptp(r) > 0 else float(np.mean(self.data.rating_scale))
        sims = self.cosine(cols)
        w = (r - centre)[:, None]
        s = (w * sims).sum(axis=0) / (np.abs(sims).sum(axis=0) + 1.0)
        return (s + 1e-3 * np.log1p(self.n_raters)).astype(np.float32)

    # ------------------------------------------------------------------ explanations
    def explain(
        self,
        rated_cols: np.ndarray,
        ratings: np.ndarray,
        rec_cols: np.ndarray,
        titles: list[str],
        genres: list[list[str]] | None = None,
    ) -> list[str]:
        """One short true reason per recommended item, from the user's own ratings.

        Reason, first that applies:

        1. the user's liked movie (rating ≥ ``like_threshold``, or their top-rated ones if
           none is) whose fans overlap most with the recommendation's (cosine of the liked
           columns, ``C_ji / √(likers_j · likers_i)``), with the count ``C_ji`` of users who
           liked both: "because you rated X 5★ (N who liked it also liked this)";
        2. the recommendation's genres the user's liked movies share, most frequent first:
           "matches your favourite genres: Sci-Fi, Action";
        3. its reception: "liked by N of its M raters".

        Args:
            rated_cols: shape ``(k,)`` column indices of the user's rated items.
            ratings: shape ``(k,)`` their ratings.
            rec_cols: shape ``(m,)`` column indices of the recommended items.
            titles: ``k`` titles of the rated items (aligned with ``rated_cols``).
            genres: optional ``k + m`` genre lists: rated items first, then recommendations.
        """
        rated_cols = np.asarray(rated_cols, dtype=np.int64)
        rec_cols = np.asarray(rec_cols, dtype=np.int64)
        title_of = dict(zip(rated_cols.tolist(), titles, strict=False))
        genres_of = None
        if genres is not None:
            cols = [*rated_cols.tolist(), *rec_cols.tolist()]
            genres_of = dict(zip(cols, genres, strict=False))
        return self.explain_many(
            Histories.of_one(rated_cols, np.asarray(ratings, dtype=np.float64)),
            np.zeros(rec_cols.size, dtype=np.int64),
            rec_cols,
            title_of.__getitem__,
            None if genres_of is None else genres_of.__getitem__,
        )

    def explain_many(
        self,
        hist: Histories,
        pair_user: np.ndarray,
        rec_cols: np.ndarray,
        title: Callable[[int], str],
        genres: Callable[[int], list[str]] | None = None,
    ) -> list[str]:
        """:meth:`explain` for many users at once.

        Args:
            hist: the users' ratings (column indices and ratings), ``b`` users.
            pair_user: shape ``(P,)`` which user (0..b-1) each recommendation is for.
            rec_cols: shape ``(P,)`` the recommended columns.
            title: title of a rated column.
            genres: genre list of a column (rated or recommended), or ``None``.

        Returns:
            ``P`` reasons. The co-like counts ``C_ji`` are one sparse product per user
            (its liked movies × its recommendations); the rest is vectorised.
        """
        pair_user = np.asarray(pair_user, dtype=np.int64)
        rec_cols = np.asarray(rec_cols, dtype=np.int64)
        out = [""] * rec_cols.size
        if rec_cols.size == 0:
            return out
        ratings = hist.values.astype(np.float32)
        owner = hist.owner()
        liked = ratings >= self.like_threshold
        any_liked = np.bincount(owner[liked], minlength=hist.n_users) > 0
        top = np.full(hist.n_users, -np.inf, dtype=np.float32)
        np.maximum.at(top, owner, ratings)
        liked |= ~any_liked[owner] & (ratings >= top[owner])
        order = np.argsort(pair_user, kind="stable")
        bounds = np.searchsorted(pair_user[order], np.arange(hist.n_users + 1))
        for u in np.flatnonzero(np.diff(bounds)):
            pairs = order[bounds[u] : bounds[u + 1]]
            lo, hi = hist.indptr[u], hist.indptr[u + 1]
            mine = np.flatnonzero(liked[lo:hi]) + lo  # entries of the liked movies
            recs = rec_cols[pairs]
            co = np.zeros((0, recs.size), dtype=np.int64)
            if mine.size:
                co = (self._liked_t[hist.cols[mine]] @ self._liked[:, recs]).toarray()
                co = co.astype(np.int64)
            fav: dict[str, int] = {}
            if genres is not None:
                for e in mine:
                    for g in genres(int(hist.cols[e])):
                        fav[g] = fav.get(g, 0) + 1
            likers_j = self.n_likers[hist.cols[mine]].astype(np.float64)[:, None]
            likers_i = self.n_likers[recs].astype(np.float64)[None, :]
            overlap = co / np.sqrt(np.maximum(likers_j * likers_i, 1.0))
            for m, (p, col) in enumerate(zip(pairs.tolist(), recs.tolist(), strict=True)):
                if co.shape[0] and co[:, m].max() > 0:
                    # best overlap; ties -> higher rating, then earlier rated item
                    best = np.lexsort((-ratings[mine], -overlap[:, m]))[0]
                    e = int(mine[best])
                    out[p] = (
                        f"because you rated {title(int(hist.cols[e]))} "
                        f"{stars(float(ratings[e]))} "
                        f"({int(co[best, m])} who liked it also liked this)"
                    )
                    continue
                shared = []
                if genres is not None:
                    shared = sorted((g for g in genres(col) if g in fav), key=lambda g: -fav[g])
                if shared:
                    out[p] = f"matches your favourite genres: {', '.join(shared[:3])}"
                elif self.n_raters[col] > 0:
                    out[p] = (
                        f"liked by {int(self.n_likers[col])} of its "
                        f"{int(self.n_raters[col])} raters"
                    )
                else:
                    out[p] = "not yet rated by anyone in the training data"
        return out
