"""User-based neighbourhood CF: :class:`UserKNN` (see :mod:`movierec.models.knn`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.baseline import REG_I, REG_U, fit_baselines, new_user_bias
from movierec.models.common.batch import batch_shape
from movierec.models.common.foldin import fold_ratings
from movierec.models.common.reasons import explained_columns, movie_title
from movierec.models.knn.base import KNNFoldIn, check_knn_params, neighbour_cap, unique_rows
from movierec.models.knn.one_user import kernels_loaded, neighbour_raters, user_scores

__all__ = ["MAX_USERS", "RATING_DAMPING", "UserKNN"]

RATING_DAMPING = 20.0
"""Default λ of :class:`UserKNN`'s rating formula, chosen on validation carved from the
training parts (``benchmarks/results/tune_user_knn.json``: among the grid points no worse
than ``baseline`` on any of the three validation sets, the best mean margin)."""

MAX_USERS = 20_000
"""Above this many training users :class:`UserKNN` refuses to fit and names the faster
models: its similarity step is ``O(users²)`` (6,480 users of the 1M-rating synthetic set
take 17–23 s to fit on 2 cores; 32,400 users at 5M would take about 25× that, and scoring
and explaining every user grow likewise)."""


class UserKNN(KNNFoldIn):
    """User-user collaborative filtering (Herlocker et al. 1999), the seed's model.

    Rating formula (:meth:`predict`, :meth:`fold_in_ratings`), ``center="baseline"``
    (Surprise ``KNNBaseline``, user-based; Koren 2010 eq. 3, with a shrinkage λ)::

        r̂_ui = b_ui + Σ_{v∈N_k(u;i)} s_uv (r_vi − b_vi) / (λ + Σ_{v∈N_k(u;i)} s_uv),
        b_ui = μ + b_u + b_i   (biases from :func:`~movierec.models.baseline.fit_baselines`)

    ``center="mean"`` uses ``b_ui = μ_u`` (the user's mean, Surprise ``KNNWithMeans``);
    ``center="none"`` is ``(Σ s_uv r_vi + λ μ_u) / (λ + Σ s_uv)`` (``KNNBasic`` for λ = 0).
    λ (``rating_damping``) pulls a neighbourhood backed by little similarity mass towards
    ``b_ui``. ``N_k(u;i)`` = the ``k`` users most similar to ``u`` (positive similarity only)
    who rated ``i``; fewer than ``min_k`` such users → ``b_ui``. Similarities (over co-rated
    items, see :func:`similarity_block`): ``cosine`` or ``pearson`` of the raw ratings,
    zeroed below ``min_support`` co-rated items, shrunk by ``n/(n+shrinkage)``; they do not
    depend on ``center``. Predictions are clipped to the rating scale.

    Ranking (:meth:`score`, :meth:`fold_in`) keeps the seed's user-mean formula whatever
    ``center`` (``"none"``: uncentred) with ``β = rank_damping``, ``γ = rank_offset`` (see
    :mod:`movierec.models.knn`): ``μ_u + (Σ s (r_vi − μ_v) + γ Σ s) / (Σ s + β)``; the
    baseline-centred alternative ranked worse on the same validation carves (NDCG@10, in
    ``tune_user_knn.json``). So ``rank_damping = rank_offset = 0`` gives the predicted-rating
    order only with ``center="mean"``, ``rating_damping=0``.

    The defaults ``center="baseline"`` with ``baseline``'s regularisation (so ``b_ui`` is the
    ``baseline`` model's prediction) and λ = 20 were chosen on validation parts carved from
    the training parts of ml100k-u1 and of ml-latest-small's random-kfold and temporal
    protocols (``benchmarks/tune_user_knn.py``, ``benchmarks/results/tune_user_knn.json``);
    with ``center="mean"`` and ``rating_damping=0`` the model is the seed's (Surprise
    ``KNNWithMeans``).

    Args:
        k: neighbours per prediction (≥ 1).
        similarity: ``"cosine"`` or ``"pearson"``.
        mean_center: legacy switch (model files and ``-p`` of earlier versions): when given,
            the seed's formula exactly — ``True`` means ``center="mean"``, ``False``
            ``center="none"``, both with λ = 0 (it wins over ``center`` and
            ``rating_damping``, so a model file saved before them predicts as it did);
            ``None`` (default): ``center`` and ``rating_damping`` decide.
        min_support: minimum co-rated items for a similarity to count.
        shrinkage: λ_s ≥ 0 of ``s ← s·n/(n+λ_s)``.
        min_k: minimum neighbours for a neighbourhood prediction (1 ≤ min_k ≤ k).
        rank_damping: β ≥ 0 added to ``Σ s`` in :meth:`score` (see module docstring).
        rank_offset: γ ≥ 0, evidence per rating neighbour in :meth:`score` (ditto).
        max_neighbors: keep only this many most similar users per user (``None``: all
            positive ones, i.e. exact per-item neighbourhoods, up to :data:`EXACT_LIMIT`
            users; ``10·k`` beyond).
        center: ``"baseline"``, ``"mean"`` or ``"none"`` (the rating formula, above).
        rating_damping: λ ≥ 0 of the rating formula.
        reg_u, reg_i, n_epochs: baseline ALS parameters (``center="baseline"``; defaults:
            :class:`~movierec.models.baseline.BaselineOnly`'s).

    Attributes:
        user_means_: ``(n_users,)`` mean rating μ_u (the global mean for a user without
            ratings).
        nb_indptr_, nb_indices_, nb_sims_: per-user neighbour lists (user row indices),
            CSR layout, sorted by decreasing similarity.
        values_: ``(nnz,)`` per-rating values of the ranking score, aligned with
            ``data_.matrix.data`` (``r − μ_u`` when centred, else ``r``).
        mu_, user_bias_ ``(n_users,)``, item_bias_ ``(n_items,)``: baselines, and
        dev_: ``(nnz,)`` per-rating values ``r − b_ui`` of the rating formula (only with
            ``center="baseline"``; otherwise the formula uses ``values_`` and user means).
    """

    name = "user-knn"
    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"predict", "fold_in", "fold_in_ratings", "explain", "explain_ratings"}
    )

    def __init__(
        self,
        k: int = 30,
        similarity: str = "cosine",
        mean_center: bool | None = None,
        min_support: int = 1,
        shrinkage: float = 5.0,
        min_k: int = 1,
        rank_damping: float = 1000.0,
        rank_offset: float = 1000.0,
        max_neighbors: int | None = None,
        center: str = "baseline",
        rating_damping: float = RATING_DAMPING,
        reg_u: float = REG_U,
        reg_i: float = REG_I,
        n_epochs: int = 10,
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
        self.center = center
        self.rating_damping = rating_damping
        self.reg_u = reg_u
        self.reg_i = reg_i
        self.n_epochs = n_epochs

    def _validate(self) -> None:
        check_knn_params(self, ("cosine", "pearson"))
        if self.mean_center is not None and not isinstance(self.mean_center, bool):
            raise ConfigError(
                f"user-knn: mean_center must be true/false (or unset), got {self.mean_center!r}"
            )
        if self.center not in ("baseline", "mean", "none"):
            raise ConfigError(
                f"user-knn: center must be 'baseline', 'mean' or 'none', got {self.center!r}"
            )
        for key in ("rating_damping", "reg_u", "reg_i"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not value >= 0:
                raise ConfigError(f"user-knn: {key} must be a number >= 0, got {value!r}")
        if int(self.n_epochs) < 1:
            raise ConfigError(f"user-knn: n_epochs must be >= 1, got {self.n_epochs}")

    def _centre(self) -> str:
        """The rating formula's centring: ``center``, unless the legacy ``mean_center``
        was given."""
        if self.mean_center is None:
            return str(self.center)
        return "mean" if self.mean_center else "none"

    def _lambda(self) -> float:
        """λ of the rating formula: ``rating_damping``, 0 under the legacy ``mean_center``."""
        return float(self.rating_damping) if self.mean_center is None else 0.0

    def _rating_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """The rating formula's per-rating values and per-item base: ``(dev_, item_bias_)``
        with baseline centring, else ``(values_, zeros)`` (``(nnz,)``, ``(n_items,)``)."""
        if self._centre() == "baseline":
            return self.dev_, self.item_bias_
        return self.values_, np.zeros(self.data_.n_items)

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        if data.n_users > MAX_USERS:
            raise ConfigError(
                f"user-knn: {data.n_users:,} users is above its limit of {MAX_USERS:,} (its "
                "user-user similarities grow with the square of the users: hours and "
                "gigabytes here); use 'ials' (minutes, every core) or 'item-knn'"
            )
        m = data.matrix
        counts = np.diff(m.indptr)
        means = data.user_means().astype(np.float64)
        self.user_means_ = np.where(counts > 0, means, float(m.data.mean()))
        from movierec.models.knn.similarity import neighbour_lists

        self.nb_indptr_, self.nb_indices_, self.nb_sims_ = neighbour_lists(
            m,
            self.similarity,
            self.min_support,
            float(self.shrinkage),
            neighbour_cap(self.max_neighbors, data.n_users, self.k),
        )
        vals_raw = vals = m.data.astype(np.float64)
        centre = self._centre()
        if centre != "none":
            vals = vals - np.repeat(self.user_means_, counts)
        self.values_ = vals
        if centre == "baseline":
            self.mu_, self.user_bias_, self.item_bias_ = fit_baselines(
                m, float(self.reg_u), float(self.reg_i), int(self.n_epochs)
            )
            rows = np.repeat(np.arange(data.n_users), counts)
            self.dev_ = vals_raw - (self.mu_ + self.user_bias_[rows] + self.item_bias_[m.indices])

    def _run(
        self,
        rows: np.ndarray,
        nb: tuple[np.ndarray, np.ndarray, np.ndarray],
        base: np.ndarray,
        beta: float,
        gamma: float = 0.0,
        rating: bool = False,
    ) -> np.ndarray:
        """Scores ``(b, n_items)`` float32 of neighbour-list rows ``rows`` with per-row
        offsets ``base``: the ranking score (``rating=False``: ``values_``, no item term) or
        the rating formula (``rating=True``: :meth:`_rating_inputs`)."""
        m = self.data_.matrix
        rows = np.asarray(rows, dtype=np.int64)
        centred = self._centre() != "none"
        if rating:
            vals, item_base = self._rating_inputs()
        else:
            vals, item_base = self.values_, np.zeros(self.data_.n_items)
        if rows.size == 1 and not kernels_loaded():  # the kernel's arithmetic, no numba
            one = user_scores(
                int(rows[0]), nb[0], nb[1], nb[2], m.indptr.astype(np.int64), m.indices,
                vals, float(np.asarray(base, dtype=np.float64)[0]), item_base,
                self.data_.n_items, int(self.k), int(self.min_k), float(beta), float(gamma),
                centred,
            )  # fmt: skip
            return one[None, :]
        from movierec.models.knn.kernels import user_knn_kernel

        return user_knn_kernel(
            rows,
            nb[0],
            nb[1],
            nb[2],
            m.indptr.astype(np.int64),
            m.indices,
            np.asarray(vals, dtype=np.float64),
            np.asarray(base, dtype=np.float64),
            np.asarray(item_base, dtype=np.float64),
            self.data_.n_items,
            int(self.k),
            int(self.min_k),
            float(beta),
            float(gamma),
            centred,
        )

    def _offsets(self, user_rows: np.ndarray) -> np.ndarray:
        """The rating formula's per-user offsets: ``μ + b_u`` (baseline) or ``μ_u``."""
        if self._centre() == "baseline":
            return self.mu_ + self.user_bias_[user_rows]
        return self.user_means_[user_rows]

    def _nb(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.nb_indptr_, self.nb_indices_, self.nb_sims_

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Damped predicted ratings (unclipped), shape ``(b, n_items)`` float32."""
        self._check_fitted()
        rows = np.asarray(user_rows, dtype=np.int64)
        return self._run(
            rows, self._nb(), self.user_means_[rows], self.rank_damping, self.rank_offset
        )

    def bias_terms(self) -> tuple[float, np.ndarray, np.ndarray]:
        """``(μ, b_u, b_i)`` for cold pairs: the baselines with ``center="baseline"``; else
        ``b_u = mean_u − μ``, ``b_i = 0`` (a known user's mean rating for an unknown movie;
        the model then learns no movie bias)."""
        self._check_fitted()
        if self._centre() == "baseline":
            return self.mu_, self.user_bias_, self.item_bias_
        mu = float(self.data_.matrix.data.mean())
        return mu, self.user_means_ - mu, np.zeros(self.data_.n_items)

    def predict_rows(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """The rating formula (λ = ``rating_damping``; 0 under ``mean_center``), clipped to
        the rating scale; shape ``(n,)``."""
        self._check_fitted()
        uniq, inv = unique_rows(user_rows)
        out = np.empty(inv.size, dtype=np.float32)
        cols = np.asarray(item_cols, dtype=np.int64)
        for start in range(0, uniq.size, 512):
            block = uniq[start : start + 512]
            scores = self._run(block, self._nb(), self._offsets(block), self._lambda(), rating=True)
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
        from movierec.models.knn.similarity import query_neighbours

        nb = query_neighbours(
            self._by_item(),
            self.data_.n_users,
            cols,
            vals,
            self.similarity,
            self.min_support,
            float(self.shrinkage),
            neighbour_cap(self.max_neighbors, self.data_.n_users, self.k),
        )
        self._new_user_cache = (self.nb_indptr_, key, nb)
        return nb

    def _fold(self, ratings: Mapping[int, float], rating: bool) -> np.ndarray:
        """Similarities of the new user to every training user who shares a rated movie,
        then the same kernel: the ranking score, or the rating formula (``rating``) whose
        baseline offset is ``μ + b_u`` with ``b_u`` from one ALS half-step
        (:func:`~movierec.models.baseline.new_user_bias`)."""
        self._check_fitted()
        cols, vals = fold_ratings(self.data_, ratings)
        if cols.size == 0:
            return np.full(self.data_.n_items, float(self.data_.matrix.data.mean()), np.float32)
        if not rating:
            base, beta, gamma = float(vals.mean()), self.rank_damping, self.rank_offset
        elif self._centre() == "baseline":
            b_u = new_user_bias(cols, vals, self.mu_, self.item_bias_, float(self.reg_u))
            base, beta, gamma = self.mu_ + b_u, self._lambda(), 0.0
        else:
            base, beta, gamma = float(vals.mean()), self._lambda(), 0.0
        return self._run(
            np.zeros(1, np.int64),
            self._new_user_nb(cols, vals),
            np.array([base]),
            float(beta),
            float(gamma),
            rating=rating,
        )[0]

    def _nb_of(self, user_row: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.nb_indptr_[user_row], self.nb_indptr_[user_row + 1]
        return self.nb_indices_[lo:hi], self.nb_sims_[lo:hi]

    def _restrict(
        self, nbrs: np.ndarray, sims: np.ndarray, item_col: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first ``k`` of a best-first neighbour list who rated ``item_col``, their
        similarities and ratings."""
        positions, ratings = self._chosen(nbrs, item_col)
        return nbrs[positions], sims[positions], ratings

    def neighbourhood(self, user_row: int, item_col: int) -> tuple[np.ndarray, np.ndarray]:
        """The users (row indices) in ``N_k(u;i)`` and their similarities, best first."""
        self._check_fitted()
        nbrs, sims, _ = self._restrict(*self._nb_of(int(user_row)), int(item_col))
        return nbrs, sims

    def _chosen(self, nbrs: np.ndarray, item_col: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions in a best-first neighbour list of the first ``k`` who rated
        ``item_col``, and their ratings."""
        indptr, rows, ratings = self._by_item()
        lo, hi = indptr[int(item_col)], indptr[int(item_col) + 1]
        m = self.data_.matrix
        col = np.zeros(m.shape[0], dtype=m.dtype)  # the column, dense (float64 → float32 exact)
        col[rows[lo:hi]] = ratings[lo:hi]
        theirs = col[nbrs]
        positions = np.flatnonzero(theirs > 0)[: int(self.k)]
        return positions, theirs[positions]

    def _loved_by(self, nbrs: np.ndarray, liked: np.ndarray, threshold: float) -> np.ndarray:
        """``B[p, j]``: neighbour ``nbrs[p]`` rated column ``liked[j]`` ``>= threshold``;
        shape ``(len(nbrs), len(liked))`` bool."""
        indptr, rows, ratings = self._by_item()
        pos = np.full(self.data_.n_users, -1, dtype=np.int64)
        pos[nbrs] = np.arange(nbrs.size)
        starts, ends = indptr[liked], indptr[liked + 1]
        lengths = ends - starts
        idx = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        which = np.repeat(np.arange(liked.size), lengths)
        keep = (ratings[idx] >= threshold) & (pos[rows[idx]] >= 0)
        loved = np.zeros((nbrs.size, liked.size), dtype=bool)
        loved[pos[rows[idx][keep]], which[keep]] = True
        return loved

    def _reasons(
        self,
        rows: np.ndarray,
        nb: tuple[np.ndarray, np.ndarray],
        item_ids: np.ndarray,
        rated: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> list[list[str]]:
        """How many of each user's neighbours (best-first lists ``nb = (indptr, indices)``
        at ``rows``) are in ``N_k(u;i)`` of each movie (``item_ids`` shape ``(b, n)``) and
        their average rating; ``""`` when none rated it.

        With each user's ratings ``rated[u] = (columns, ratings)``, a reason also names the
        movie of the user's that drove it (:meth:`_loved_clause`): "…; like you, 5 of them
        loved Star Wars (1977)".
        """
        b, n = item_ids.shape
        cols, valid = explained_columns(self.data_, item_ids.ravel())
        cols = np.where(valid, cols, -1).reshape(b, n)
        indptr, item_rows, ratings = self._by_item()
        nb_indptr = np.asarray(nb[0], dtype=np.int64)
        if b == 1 and not kernels_loaded():  # one request: plain numpy, no numba
            u = int(rows[0])
            nbrs = np.asarray(nb[1][nb_indptr[u] : nb_indptr[u + 1]], dtype=np.int64)
            one = neighbour_raters(nbrs, indptr, item_rows, ratings, cols[0], int(self.k))
            count, total = one[0][None, :], one[1][None, :]
        else:
            from movierec.models.knn.evidence import user_neighbour_raters

            count, total = user_neighbour_raters(
                np.asarray(rows, dtype=np.int64),
                nb_indptr,
                np.asarray(nb[1], dtype=np.int64),
                indptr,
                item_rows,
                ratings,
                cols,
                int(self.k),
            )
        out: list[list[str]] = [[""] * n for _ in range(b)]
        for u, r in zip(*np.nonzero(count > 0), strict=True):
            avg = float(total[u, r]) / int(count[u, r])
            how = "rated it highly" if avg >= 3.5 else "rated it"
            out[u][r] = (
                f"users with similar taste {how} ({int(count[u, r])} of your nearest "
                f"neighbours, avg {avg:.1f}★)"
            )
        if rated is not None and b == 1 and not kernels_loaded():
            row = int(rows[0])
            nbrs = np.asarray(nb[1][nb_indptr[row] : nb_indptr[row + 1]], dtype=np.int64)
            self._loved_clauses(nbrs, rated[0], cols[0], out[0])
        elif rated is not None:
            self._loved_clauses_batch(rows, nb_indptr, np.asarray(nb[1]), rated, cols, out)
        return out

    def _loved(self, rated: tuple[np.ndarray, np.ndarray]) -> tuple[float, np.ndarray]:
        """``(threshold, liked)``: a movie is loved when rated at least ``lo + 0.75·(hi −
        lo)`` (4★ on 1-5); ``liked`` holds the user's loved columns (int64), best rated
        first, then by column."""
        lo, hi = self.data_.rating_scale
        threshold = lo + 0.75 * (hi - lo)
        ratings = np.asarray(rated[1])
        keep = ratings >= threshold
        liked = np.asarray(rated[0], dtype=np.int64)[keep]
        return threshold, liked[np.lexsort((liked, -ratings[keep]))]

    def _loved_clauses_batch(
        self,
        rows: np.ndarray,
        nb_indptr: np.ndarray,
        nb_indices: np.ndarray,
        rated: list[tuple[np.ndarray, np.ndarray]],
        cols: np.ndarray,
        reasons: list[list[str]],
    ) -> None:
        """:meth:`_loved_clauses` for every user of a batch in one compiled pass
        (:func:`~movierec.models.knn.evidence.user_loved_choice`; per user, the loved-by
        matrix of its neighbours, then each reason's choice: the same arithmetic)."""
        from movierec.models.knn.evidence import user_loved_choice

        loved = [self._loved(one) for one in rated]
        threshold = loved[0][0] if loved else 0.0
        liked = [cols for _, cols in loved]
        liked_indptr = np.zeros(len(liked) + 1, dtype=np.int64)
        np.cumsum([x.size for x in liked], out=liked_indptr[1:])
        liked_cols = np.concatenate(liked) if liked else np.zeros(0, np.int64)
        active = np.array([[bool(x) for x in row] for row in reasons], dtype=bool)
        indptr, item_rows, ratings = self._by_item()
        choice, count = user_loved_choice(
            np.asarray(rows, dtype=np.int64),
            np.asarray(nb_indptr, dtype=np.int64),
            np.asarray(nb_indices, dtype=np.int64),
            indptr,
            item_rows,
            ratings,
            liked_indptr,
            liked_cols,
            np.asarray(cols, dtype=np.int64),
            active.reshape(cols.shape),
            int(self.k),
            float(threshold),
            int(self.data_.n_users),
        )
        titles: dict[int, str] = {}
        for u, t in zip(*np.nonzero(choice >= 0), strict=True):
            movie = int(self.data_.items.ids[liked_cols[liked_indptr[u] + choice[u, t]]])
            if movie not in titles:
                titles[movie] = movie_title(self.items_catalog_, movie)
            reasons[u][t] += f"; like you, {int(count[u, t])} of them loved {titles[movie]}"

    def _loved_clauses(
        self,
        nbrs: np.ndarray,
        rated: tuple[np.ndarray, np.ndarray],
        cols: np.ndarray,
        reasons: list[str],
    ) -> None:
        """Append to each non-empty reason the movie of the user's that drove it: among the
        movies the user loved (rated at least ``lo + 0.75·(hi − lo)``, 4★ on 1-5), the one
        whose lovers are most over-represented in ``N_k(u;i)`` compared with all the user's
        neighbours ``nbrs`` (largest ``c_j/|N_k(u;i)| − b_j``, ``c_j`` of ``N_k(u;i)`` loved
        it, ``b_j`` the share of all neighbours who did; ties: larger ``c_j``, then the
        user's higher rating). Only ``c_j ≥ 1`` is cited."""
        threshold, liked = self._loved(rated)
        if liked.size == 0 or nbrs.size == 0:
            return
        loved = self._loved_by(nbrs, liked, threshold)
        base = loved.mean(axis=0)
        titles: dict[int, str] = {}
        for r, c in enumerate(cols):
            if not reasons[r] or c < 0:
                continue
            positions, _ = self._chosen(nbrs, int(c))
            counts = loved[positions].sum(axis=0)
            lift = counts / max(positions.size, 1) - base
            best = int(np.lexsort((np.arange(counts.size), -counts, -lift))[0])
            if counts[best] > 0:
                if best not in titles:
                    movie = int(self.data_.items.ids[liked[best]])
                    titles[best] = movie_title(self.items_catalog_, movie)
                reasons[r] += f"; like you, {int(counts[best])} of them loved {titles[best]}"

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """How many of the user's nearest neighbours (``N_k(u;i)``) rated each movie, their
        average rating, and the movie of the user's that drove it (see :meth:`_reasons`):
        "users with similar taste rated it highly (4 of your nearest neighbours, avg 4.5★);
        like you, 3 of them loved Alien (1979)"; ``""`` for a movie none of them rated."""
        return self.explain_users([user_id], [item_ids])[0]

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch (compiled; see :meth:`Recommender.explain_users`)."""
        self._check_fitted()
        users, items = batch_shape(user_ids, item_ids)
        rows = self.data_.users.index(users)
        m = self.data_.matrix
        rated = [
            (m.indices[m.indptr[r] : m.indptr[r + 1]], m.data[m.indptr[r] : m.indptr[r + 1]])
            for r in rows
        ]
        return self._reasons(rows, (self.nb_indptr_, self.nb_indices_), items, rated)

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}`` (as :meth:`fold_in`)."""
        self._check_fitted()
        cols, vals = fold_ratings(self.data_, ratings)
        ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))[None, :]
        if cols.size == 0:
            return self._reasons(np.zeros(1, np.int64), (np.zeros(2), np.zeros(0)), ids)[0]
        indptr, nbrs, _ = self._new_user_nb(cols, vals)
        return self._reasons(np.zeros(1, np.int64), (indptr, nbrs), ids, [(cols, vals)])[0]
