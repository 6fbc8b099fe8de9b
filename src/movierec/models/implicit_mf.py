"""Implicit-feedback factor models wrapping the ``implicit`` library (benfred/implicit).

``implicit``'s CPU solvers are well-kept, compiled (Cython/C++) and the fastest public
implementations for these two algorithms, so the models here only convert the data, pass
the hyperparameters through and keep the learned factors (``implicit.cpu.als`` and
``implicit.cpu.bpr``). Both rank items; neither predicts ratings.

Threads and determinism: the factors are initialised from ``seed``. ALS solves every user
(item) independently given the other side, so its result does not depend on the thread
count: ``ials`` fits on every available core by default (``num_threads=0``: the process
limit of :mod:`movierec.threads`, ``--threads`` / ``MOVIEREC_THREADS``). BPR's Hogwild
SGD does depend on it (two 2-thread fits differ), so ``bpr`` fits on one thread by default
(``num_threads=1``, reproducible; 0 opts in to every core). Top-N for many users uses every
available core for both (the result does not depend on it). BLAS is limited to one thread
while fitting (``threadpoolctl``), as ``implicit`` recommends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from movierec import threads
from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.models.common.factors import ItemVectorAbilities
from movierec.models.common.foldin import fold_in_columns
from movierec.models.common.validation import check_float, check_int

__all__ = ["ImplicitALS", "BPR"]

_TIE_MARGIN = 8  # top-k candidates fetched beyond n to break score ties like the base class


class _Row:
    """One user's rated columns, as the ``.indices`` that ``implicit``'s top-k filter reads."""

    __slots__ = ("indices",)

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices


class _SeenRows:
    """The rows ``batch`` of a CSR matrix, seen by ``implicit.cpu.topk`` as its
    ``filter_query_items``: ``rows[i].indices`` are the columns of row ``batch[i]``.

    ``topk`` reads one row per query; a scipy row slice costs about 0.5 ms (8 s for the
    15,000 slices of a top-10 for everyone at 5M ratings), this view a microsecond."""

    __slots__ = ("batch", "indices", "indptr")

    def __init__(self, matrix: sp.csr_matrix, batch: np.ndarray) -> None:
        self.indptr, self.indices, self.batch = matrix.indptr, matrix.indices, batch

    def __getitem__(self, i: int) -> _Row:
        row = int(self.batch[i])
        return _Row(self.indices[self.indptr[row] : self.indptr[row + 1]])


class _ImplicitFactors(ItemVectorAbilities, Recommender):
    """Shared scoring ``s_ui = x_uᵀ y_i``; movies nobody interacted with score ``-inf``.

    Attributes:
        user_factors_: shape ``(n_users, d)`` float32.
        item_factors_: shape ``(n_items, d)`` float32.
        cold_items_: shape ``(n_items,)`` bool, movies absent from the training data.
    """

    user_factors_: np.ndarray
    item_factors_: np.ndarray
    cold_items_: np.ndarray

    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"explain", "explain_ratings", "similar_items"}
    )
    explains_ratings_as_user: ClassVar[bool] = True

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        rows = np.asarray(user_rows, dtype=np.int64)
        out = (self.user_factors_[rows] @ self.item_factors_.T).astype(np.float32)
        out[:, self.cold_items_] = -np.inf
        return out

    def _recommend_rows(
        self,
        rows: np.ndarray,
        n: int,
        exclude_seen: bool,
        excluded: np.ndarray | None,
        batch_size: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The base class's top-``n`` with ``implicit``'s compiled top-k kernel.

        ``implicit.cpu.topk.topk`` scores a batch of user factors ``(b, d)`` against the
        item factors ``(m, d)`` (``s_ui = x_uᵀ y_i``) and keeps each row's ``n`` best in
        C++ with ``num_threads`` threads, without materialising a sorted ``(b, m)`` matrix.
        Cold items and ``excluded`` columns go in its global filter, the user's rated items
        (``exclude_seen``) in its per-row filter; filtered slots (score ``-FLT_MAX``) come
        back, as in the base class, as item id ``-1`` with score ``-inf``. Equal scores are
        ordered by the lower column as in :func:`~movierec.models.common.topk.top_k`: ``n + 8``
        candidates are fetched and re-sorted, and a row whose tie at the cut reaches past
        them is ranked by the base class instead, so results are identical to it.

        Args:
            rows: user row indices, shape ``(b,)``.
            n: list length.
            exclude_seen: drop the items each user rated in the training data.
            excluded: ``(n_items,)`` bool, ``True`` = never recommend, or ``None``.
            batch_size: users per kernel call.

        Returns:
            ``(external item ids int64, scores float32)``, both ``(b, n)``.
        """
        from implicit.cpu.topk import topk as implicit_topk

        n_items = self.data_.n_items
        out_ids = np.full((rows.size, n), -1, dtype=np.int64)
        out_scores = np.full((rows.size, n), -np.inf, dtype=np.float32)
        k = min(n, n_items)
        fetch = min(k + _TIE_MARGIN, n_items)  # extra candidates so ties resolve as in the base
        blocked = self.cold_items_ if excluded is None else self.cold_items_ | excluded
        filter_items = np.flatnonzero(blocked).astype(np.int32) if blocked.any() else None
        items = np.ascontiguousarray(self.item_factors_, dtype=np.float32)
        floor = np.finfo(np.float32).min
        for start in range(0, rows.size, batch_size):
            batch = rows[start : start + batch_size]
            query = np.ascontiguousarray(self.user_factors_[batch], dtype=np.float32)
            cols, scores = implicit_topk(
                items,
                query,
                fetch,
                filter_query_items=_SeenRows(self.data_.matrix, batch) if exclude_seen else None,
                filter_items=filter_items,
                num_threads=threads.current(),
            )
            valid = scores > floor  # False for filtered slots (and NaN)
            scores = np.where(valid, scores, -np.inf).astype(np.float32)
            cols = np.where(valid, cols, n_items).astype(np.int64)
            order = np.lexsort((cols, -scores), axis=1)  # score desc, then lower column (base)
            cols = np.take_along_axis(cols, order, axis=1)[:, :k]
            top = np.take_along_axis(scores, order, axis=1)
            ids = np.where(cols < n_items, self.data_.items.ids[np.minimum(cols, n_items - 1)], -1)
            out_ids[start : start + batch.size, :k] = ids
            out_scores[start : start + batch.size, :k] = top[:, :k]
            if fetch < n_items:  # a tie at the cut reaching past the fetched candidates
                tied = np.isfinite(top[:, k - 1]) & (top[:, k - 1] == top[:, fetch - 1])
                if tied.any():
                    where = start + np.flatnonzero(tied)
                    fix = super()._recommend_rows(
                        batch[tied], n, exclude_seen, excluded, batch_size
                    )
                    out_ids[where], out_scores[where] = fix
        return out_ids, out_scores

    def _mark_cold(self, data: Interactions) -> None:
        self.cold_items_ = np.bincount(data.matrix.indices, minlength=data.n_items) == 0


class ImplicitALS(_ImplicitFactors):
    """Implicit-feedback ALS with confidence weights (iALS / weighted matrix factorisation).

    Hu, Koren & Volinsky (2008), *Collaborative Filtering for Implicit Feedback Datasets*,
    ICDM: with preference ``p_ui = 1`` for every rated movie (0 otherwise) and confidence
    ``c_ui = 1 + α·v_ui`` (``v_ui`` = the rating, or 1 when ``binarize``; ``c_ui = 1`` for
    unrated movies), minimise
    ``Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)² + λ (Σ_u ‖x_u‖² + Σ_i ‖y_i‖²)`` by alternating
    solves ``x_u = (YᵀY + Yᵀ(C_u − I)Y + λI)⁻¹ Yᵀ C_u p_u``. Solved by
    ``implicit.cpu.als.AlternatingLeastSquares`` (conjugate gradient or Cholesky).
    Hyperparameters were tuned on validation as Rendle et al. (2022), *Revisiting the
    Performance of iALS on Item Recommendation Benchmarks*, advise: a joint search over
    factors, ``λ``, the observed/unobserved weight ratio (here ``α``) and iterations, for
    NDCG@10 on a validation part carved out of the ``stratified-75-25`` training part
    (Optuna, 40 trials; ``benchmarks/tune_factor_models.py``), then refined by
    ``movierec evaluate --tune`` on the same kind of validation split (12 trials starting
    from those values; ``benchmarks/results/tuned_params.json``): 32 factors, strong
    regularisation (λ = 59.4), α = 9.35, 20 iterations, binarised input. ``implicit`` has
    no frequency-scaled λ, so Rendle et al.'s ``ν`` exponent is not searched.

    Args:
        factors: latent dimension.
        reg: ``λ``.
        alpha: ``α`` of the confidence.
        iterations: ALS sweeps.
        binarize: use ``v_ui = 1`` for every rating instead of the star value.
        use_cg: conjugate-gradient solver (faster) instead of the exact Cholesky solve.
        num_threads: solver threads (result independent of it); 0: the process limit
            (:func:`movierec.threads.current`, every available core by default).
        seed: seeds the factor initialisation.
    """

    name: ClassVar[str] = "ials"
    declared_abilities: ClassVar[frozenset[str]] = _ImplicitFactors.declared_abilities | {"fold_in"}

    def __init__(
        self,
        *,
        factors: int = 32,
        reg: float = 59.4,
        alpha: float = 9.35,
        iterations: int = 20,
        binarize: bool = True,
        use_cg: bool = True,
        num_threads: int = 0,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.reg = reg
        self.alpha = alpha
        self.iterations = iterations
        self.binarize = binarize
        self.use_cg = use_cg
        self.num_threads = num_threads
        self.seed = seed

    def _validate(self) -> None:
        check_int(self.name, "factors", self.factors)
        check_int(self.name, "iterations", self.iterations)
        check_int(self.name, "num_threads", self.num_threads, minimum=0)
        check_int(self.name, "seed", self.seed, minimum=0)
        check_float(self.name, "reg", self.reg)
        check_float(self.name, "alpha", self.alpha)
        for flag in ("binarize", "use_cg"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{self.name}: {flag} must be true or false")

    def confidence(self, values: np.ndarray) -> np.ndarray:
        """``c = 1 + α·v`` for stored ratings ``values`` (``v = 1`` when ``binarize``)."""
        v = np.ones_like(values) if self.binarize else values
        return (1.0 + float(self.alpha) * v).astype(np.float32)

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        conf = sp.csr_matrix(
            (self.confidence(data.matrix.data), data.matrix.indices, data.matrix.indptr),
            shape=data.shape,
        )
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=int(self.factors),
                regularization=float(self.reg),
                alpha=1.0,  # the confidence 1 + α·v is already in ``conf``
                iterations=int(self.iterations),
                use_cg=bool(self.use_cg),
                num_threads=threads.resolve(self.num_threads),
                random_state=int(self.seed),
            )
            model.fit(conf, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self._mark_cold(data)

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Scores for a new user: the exact iALS user solve given the item factors.

        ``x = (YᵀY + Yᵀ(C − I)Y + λI)⁻¹ Yᵀ C p`` with ``C`` the confidences of the given
        movies and ``p = 1`` on them. Returns shape ``(n_items,)`` float32.
        """
        self._check_fitted()
        cols, values = fold_in_columns(self.data_, ratings)
        Y = self.item_factors_.astype(np.float64)
        c = self.confidence(values).astype(np.float64)
        Yu = Y[cols]
        A = Y.T @ Y + (Yu.T * (c - 1.0)) @ Yu + float(self.reg) * np.eye(Y.shape[1])
        x = np.linalg.solve(A, Yu.T @ c)
        scores = (Y @ x).astype(np.float32)
        scores[self.cold_items_] = -np.inf
        return scores


class BPR(_ImplicitFactors):
    """Bayesian Personalised Ranking matrix factorisation.

    Rendle, Freudenthaler, Gantner & Schmidt-Thieme (2009), *BPR: Bayesian Personalized
    Ranking from Implicit Feedback*, UAI: maximise
    ``Σ_{(u,i,j)} ln σ(x_uᵀy_i − x_uᵀy_j) − λ‖Θ‖²`` over triples of a rated movie ``i`` and
    a sampled unrated movie ``j`` by SGD (``implicit.cpu.bpr.BayesianPersonalizedRanking``;
    its item vectors carry an extra bias component, so ``d = factors + 1``).

    Args:
        factors: latent dimension.
        lr: SGD learning rate.
        reg: ``λ``.
        iterations: epochs (each samples ``nnz`` triples).
        num_threads: SGD threads; only 1 is reproducible (Hogwild otherwise); 0: the
            process limit (:func:`movierec.threads.current`).
        seed: seeds initialisation and sampling.

    Shipped defaults: tuned for NDCG@10 on a validation part of the ``stratified-75-25``
    training part (Optuna, 25 trials; ``benchmarks/tune_factor_models.py``).
    """

    name: ClassVar[str] = "bpr"

    def __init__(
        self,
        *,
        factors: int = 32,
        lr: float = 0.00225,
        reg: float = 0.00083,
        iterations: int = 171,
        num_threads: int = 1,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.lr = lr
        self.reg = reg
        self.iterations = iterations
        self.num_threads = num_threads
        self.seed = seed

    def _validate(self) -> None:
        check_int(self.name, "factors", self.factors)
        check_int(self.name, "iterations", self.iterations)
        check_int(self.name, "num_threads", self.num_threads, minimum=0)
        check_int(self.name, "seed", self.seed, minimum=0)
        check_float(self.name, "lr", self.lr, strict=True)
        check_float(self.name, "reg", self.reg)

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        liked = sp.csr_matrix(
            (np.ones(data.nnz, dtype=np.float32), data.matrix.indices, data.matrix.indptr),
            shape=data.shape,
        )
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=int(self.factors),
                learning_rate=float(self.lr),
                regularization=float(self.reg),
                iterations=int(self.iterations),
                num_threads=threads.resolve(self.num_threads),
                random_state=int(self.seed),
            )
            model.fit(liked, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self._mark_cold(data)
