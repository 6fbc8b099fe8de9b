"""Item-based neighbourhood CF: :class:`ItemKNN` (see :mod:`movierec.models.knn`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.baseline import fit_baselines, new_user_bias
from movierec.models.common.batch import Histories, batch_shape, titles_of
from movierec.models.common.foldin import fold_ratings
from movierec.models.common.reasons import explained_columns, stars
from movierec.models.knn.base import KNNFoldIn, check_knn_params, neighbour_cap
from movierec.models.knn.evidence import item_neighbour_evidence
from movierec.models.knn.global_scope import item_topk_recommend, item_topk_similarities
from movierec.models.knn.kernels import item_knn_kernel, item_knn_pairs
from movierec.models.knn.similarity import neighbour_lists

__all__ = ["GLOBAL_CELLS", "ItemKNN"]

GLOBAL_CELLS = 1e7
"""``ItemKNN(neighbour_scope="auto")`` switches to the global top-k item model when
``n_users × n_items`` exceeds this (ml-100k: 1.6e6 and ml-latest-small: 5.9e6 stay per-item;
the 1M-rating synthetic scale set, 6480 × 4775 = 3.1e7, goes global)."""


class ItemKNN(KNNFoldIn):
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
        compiled kernel of :mod:`movierec.models.knn.global_scope`), and each item ``j`` the
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
    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"predict", "fold_in", "fold_in_ratings", "explain", "explain_ratings", "similar_items"}
    )

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
        check_knn_params(self, ("cosine", "adjusted_cosine", "pearson", "pearson_baseline"))
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
                neighbour_cap(self.max_neighbors, data.n_items, self.k),
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
        return item_knn_kernel(
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

        Same formula as :func:`item_knn_kernel`: ``base + (num + γ·den)/(den + β)`` (centred)
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
        (:func:`~movierec.models.knn.global_scope.item_topk_recommend`), with no dense
        ``(batch, n_items)`` block; the same lists as the base class on :meth:`score`."""
        if not self._global():
            return super()._recommend_rows(rows, n, exclude_seen, excluded, batch_size)
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

    def bias_terms(self) -> tuple[float, np.ndarray, np.ndarray]:
        """``(μ, b_u, b_i)`` for cold pairs: the baselines when the model uses them, else
        ``b_u = 0`` and the item mean's offset ``b_i = mean_i − μ``."""
        self._check_fitted()
        if self.center == "baseline" or self.similarity == "pearson_baseline":
            return self.mu_, self.user_bias_, self.item_bias_
        return self.mu_, np.zeros(self.data_.n_users), self.item_means_ - self.mu_

    def predict_rows(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """The rating formula (β = 0), clipped to the rating scale; shape ``(n,)``.

        Neighbourhoods are found for the asked pairs only (:func:`item_knn_pairs` over the
        candidate lists of :meth:`_pull`), with the kernel's ``k`` (every candidate in the
        global mode)."""
        self._check_fitted()
        rows = np.asarray(user_rows, dtype=np.int64)
        pull = self._pull()
        r_indptr, r_indices, r_dev = self._train_r()
        out = item_knn_pairs(
            rows,
            np.asarray(item_cols, dtype=np.int64),
            r_indptr,
            r_indices,
            r_dev,
            np.asarray(self._offsets(rows)[0], dtype=np.float64),
            np.asarray(self._offsets(np.zeros(0, np.int64))[1], dtype=np.float64),
            pull.indptr.astype(np.int64),
            pull.indices,
            pull.data.astype(np.float64),
            self.data_.n_items if self._global() else int(self.k),
            int(self.min_k),
            self.center != "none",
        )
        lo, hi = self.data_.rating_scale
        return np.clip(out, lo, hi)

    def _fold(self, ratings: Mapping[int, float], rating: bool) -> np.ndarray:
        """A new user needs no retraining: their bias from one ALS half-step, then the kernel
        (β = γ = 0 for the rating formula, else ``rank_damping``, ``rank_offset``)."""
        self._check_fitted()
        beta, gamma = (0.0, 0.0) if rating else (self.rank_damping, self.rank_offset)
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
            off = self.mu_ + new_user_bias(cols, vals, self.mu_, self.item_bias_, self.reg_u)
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

    def _pulled_sorted(self) -> sp.csr_matrix:
        """:meth:`_pull` with sorted column indices (for the explanation kernel; cached)."""
        pulled = self._pull()
        cache = getattr(self, "_pulled_cache", None)
        if cache is None or cache[0] is not pulled:
            ready = pulled if pulled.has_sorted_indices else pulled.sorted_indices()
            cache = (pulled, ready)
            self._pulled_cache = cache
        return cache[1]

    def _reasons(self, hist: Histories, devs: np.ndarray, item_ids: np.ndarray) -> list[list[str]]:
        """Reasons from ``b`` histories (``hist``: columns and ratings; ``devs`` their
        deviations) for ``item_ids`` shape ``(b, n)``: the (up to two) movies of ``N_k(i;u)``
        with the largest positive contribution ``s_ij·dev_j``, else the most similar one (its
        similarity still adds ``γ·s`` to the ranking score); ``""`` when ``N_k(i;u)`` is
        empty."""
        b, n = item_ids.shape
        cols, valid = explained_columns(self.data_, item_ids.ravel())
        sim = self._pulled_sorted()
        found = item_neighbour_evidence(
            hist.indptr,
            hist.cols,
            np.asarray(devs, dtype=np.float64),
            sim.indptr.astype(np.int64),
            sim.indices.astype(np.int64),
            sim.data,
            np.where(valid, cols, -1).reshape(b, n),
            int(self.k),
        )
        cited = (found + hist.indptr[:-1, None, None])[found >= 0]  # history entries
        titles = titles_of(self.items_catalog_, self.data_.items.ids[hist.cols[cited]])
        out: list[list[str]] = [[""] * n for _ in range(b)]
        for u, r in zip(*np.nonzero(found[:, :, 0] >= 0), strict=True):
            base = hist.indptr[u]

            def said(p: int, base: int = base) -> tuple[str, str]:
                col = int(hist.cols[base + p])
                return titles[int(self.data_.items.ids[col])], stars(float(hist.values[base + p]))

            best = [int(p) for p in found[u, r, 1:] if p >= 0]
            if best:
                out[u][r] = "because you rated " + " and ".join(
                    f"{title} {rating}" for title, rating in map(said, best)
                )
            else:
                title, rating = said(int(found[u, r, 0]))
                out[u][r] = f"similar to {title}, which you rated {rating}"
        return out

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """The rated movies in ``N_k(i;u)`` that contribute most (largest positive
        ``s_ij·(r_uj − b_uj)``) to each prediction: "because you rated Alien (1979) 5★"."""
        return self.explain_users([user_id], [item_ids])[0]

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch (compiled; see :meth:`Recommender.explain_users`)."""
        self._check_fitted()
        users, items = batch_shape(user_ids, item_ids)
        rows = self.data_.users.index(users)
        hist = Histories.of_rows(self.data_, rows)
        offsets = np.repeat(self.data_.matrix.indptr[rows] - hist.indptr[:-1], hist.counts)
        take = np.arange(hist.cols.size, dtype=np.int64) + offsets
        return self._reasons(hist, np.asarray(self.dev_)[take], items)

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}`` (as :meth:`fold_in`)."""
        self._check_fitted()
        cols, vals = fold_ratings(self.data_, ratings)
        _, _, dev = self._new_user(cols, vals)
        ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))[None, :]
        return self._reasons(Histories.of_one(cols, vals), dev, ids)[0]
