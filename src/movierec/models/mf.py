"""Explicit-rating matrix factorisation: Funk SVD, SVD++ (SGD) and weighted-λ ALS.

All three predict ``r̂_ui = μ + b_u + b_i + q_iᵀ p_u`` (SVD++ adds an implicit term to
``p_u``); their hot loops are the numba kernels in :mod:`movierec.models.mf_kernels`.
Learned arrays are index-space (row ``u`` = ``data_.users.ids[u]``, column ``i`` =
``data_.items.ids[i]``). Users or movies without a training rating get zero bias and zero
factors, so they are predicted by ``μ`` (plus the other side's bias).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from movierec import threads as movierec_threads
from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models import mf_kernels
from movierec.models.base import Recommender
from movierec.models.common.factors import ItemVectorAbilities
from movierec.models.common.foldin import fold_in_columns
from movierec.models.common.validation import check_float, check_int

__all__ = ["FunkSVD", "SVDpp", "ExplicitALS"]


# ---------------------------------------------------------------------- biased MF base
class _BiasedMF(ItemVectorAbilities, Recommender):
    """Shared scoring for ``r̂_ui = μ + b_u + b_i + q_iᵀ u_vec(u)``.

    Attributes:
        mu_: global mean rating of the training data.
        user_bias_, item_bias_: shape ``(n_users,)`` / ``(n_items,)`` float64.
        user_factors_, item_factors_: shape ``(n_users, k)`` / ``(n_items, k)`` float64.
    """

    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"predict", "fold_in", "fold_in_ratings", "explain", "explain_ratings", "similar_items"}
    )
    score_is_rating: ClassVar[bool] = True
    explains_ratings_as_user: ClassVar[bool] = True

    mu_: float
    user_bias_: np.ndarray
    item_bias_: np.ndarray
    user_factors_: np.ndarray
    item_factors_: np.ndarray

    def _user_vectors(self, user_rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_rows]

    def bias_terms(self) -> tuple[float, np.ndarray, np.ndarray] | None:
        """``(μ, b_u, b_i)`` for cold pairs (zero biases when the model learns none);
        ``None`` for a model fitted without the global mean (``μ = 0``)."""
        self._check_fitted()
        if not getattr(self, "global_mean", True):
            return None
        return self.mu_, self.user_bias_, self.item_bias_

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        rows = np.asarray(user_rows, dtype=np.int64)
        out = self._user_vectors(rows) @ self.item_factors_.T
        out += self.mu_ + self.user_bias_[rows][:, None] + self.item_bias_[None, :]
        return out.astype(np.float32)

    def predict_rows(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """Predicted ratings clipped to the training rating scale, shape ``(n,)`` float64."""
        self._check_fitted()
        rows = np.asarray(user_rows, dtype=np.int64)
        cols = np.asarray(item_cols, dtype=np.int64)
        dots = np.einsum("ij,ij->i", self._user_vectors(rows), self.item_factors_[cols])
        est = self.mu_ + self.user_bias_[rows] + self.item_bias_[cols] + dots
        lo, hi = self.data_.rating_scale
        return np.clip(est, lo, hi)

    def _fold_in_lambda(self, n: int) -> float:
        """Ridge penalty of a fold-in from ``n`` ratings (SGD's per-rating ``reg`` summed)."""
        return float(getattr(self, "reg", 0.02)) * n

    def _fold_in_offset(self, cols: np.ndarray) -> np.ndarray:
        """Extra user-vector term fixed by the rated items (SVD++'s implicit part)."""
        return np.zeros(self.item_factors_.shape[1])

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Scores for a new user: ridge fit of ``(p, b_u)`` with item parameters fixed.

        ``min Σ_i (r_i − μ − b_i − b_u − q_iᵀ(p + z))² + λ n (‖p‖² + b_u²)`` with ``λ`` the
        model's factor regularisation, ``n`` the number of given ratings (ALS without
        weighting: ``λ`` alone) and ``z`` the implicit term of SVD++ (zero otherwise); no
        ``b_u`` for ALS without biases. Returns shape ``(n_items,)`` float32.
        """
        self._check_fitted()
        cols, values = fold_in_columns(self.data_, ratings)
        z = self._fold_in_offset(cols)
        Q = self.item_factors_[cols]
        F = np.hstack([Q, np.ones((cols.size, 1))])
        y = values - self.mu_ - self.item_bias_[cols] - Q @ z
        if not getattr(self, "biases", True):
            F = F[:, :-1]
        lam = self._fold_in_lambda(cols.size)
        x = np.linalg.solve(F.T @ F + lam * np.eye(F.shape[1]), F.T @ y)
        p = x[: Q.shape[1]] + z
        b_u = float(x[-1]) if F.shape[1] > Q.shape[1] else 0.0
        scores = self.mu_ + b_u + self.item_bias_ + self.item_factors_ @ p
        return scores.astype(np.float32)

    def _zero_cold(self, data: Interactions) -> None:
        """Zero the factors of users/items with no training rating (random init otherwise)."""
        self.user_factors_[np.diff(data.matrix.indptr) == 0] = 0.0
        cold_items = np.bincount(data.matrix.indices, minlength=data.n_items) == 0
        self.item_factors_[cold_items] = 0.0
        self.item_bias_[cold_items] = 0.0


class FunkSVD(_BiasedMF):
    """Biased matrix factorisation trained by SGD ("Funk SVD").

    Koren, Bell & Volinsky (2009), *Matrix Factorization Techniques for Recommender
    Systems*, IEEE Computer 42(8), eq. 5. Prediction ``r̂_ui = μ + b_u + b_i + q_iᵀ p_u``,
    minimising ``Σ (r_ui − r̂_ui)² + λ (b_u² + b_i² + ‖p_u‖² + ‖q_i‖²)`` by SGD with
    Surprise's ``SVD`` update rules (see :func:`movierec.models.mf_kernels.svd_sgd_range`).
    ``p, q ~ N(init_mean, init_std_dev²)``, biases start at 0; each epoch visits the
    ratings in a fresh seeded random order (Surprise uses a fixed order). Parameters are
    float32 (Surprise: float64) — half the memory traffic, no measurable accuracy change.

    With ``blocks = B > 1`` the epoch is stratified as in DSGD (Gemulla, Nijkamp, Haas &
    Sismanis 2011, *Large-Scale Matrix Factorization with Distributed Stochastic Gradient
    Descent*, KDD): users and items fall into ``B`` random blocks; sub-epoch ``j`` visits
    the strata ``(b, (b + shift_j) mod B)``, which share no user or item, so they run in
    parallel threads (the kernel releases the GIL). The result depends on ``seed`` and
    ``blocks`` only — never on the thread count or timing.

    Args:
        factors: latent dimension ``k`` (Surprise ``n_factors``).
        epochs: SGD passes over the ratings (``n_epochs``).
        lr: learning rate of the factors (``lr_pu = lr_qi``).
        reg: L2 regularisation of the factors (``reg_pu = reg_qi``).
        lr_bias: learning rate of the biases; ``None`` = ``lr``.
        reg_bias: regularisation of the biases; ``None`` = ``reg``.
        init_mean, init_std_dev: normal initialisation of the factors.
        blocks: DSGD blocks per side (parallel strata); 1 = plain sequential SGD.
        seed: seeds the initialisation and the epoch orders.

    Surprise's defaults are ``factors=100, epochs=20, lr=0.005, reg=0.02`` (pass them for a
    like-for-like comparison). The shipped defaults were tuned (Optuna TPE, 30 trials) on a
    random 20 % validation part carved out of ``u1.base``, never on ``u1.test``
    (``benchmarks/tune_factor_models.py`` → ``benchmarks/results/tune_factor_models.json``):
    many factors, more epochs and a stronger factor penalty (0.119) with a weak bias
    penalty. (Tuned with sequential SGD; ``blocks=2`` gives about the same ``u1`` RMSE.)
    """

    name: ClassVar[str] = "svd"

    def __init__(
        self,
        *,
        factors: int = 292,
        epochs: int = 88,
        lr: float = 0.00895,
        reg: float = 0.119,
        lr_bias: float | None = None,
        reg_bias: float | None = 0.00211,
        init_mean: float = 0.0,
        init_std_dev: float = 0.1,
        blocks: int = 2,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.epochs = epochs
        self.lr = lr
        self.reg = reg
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.init_mean = init_mean
        self.init_std_dev = init_std_dev
        self.blocks = blocks
        self.seed = seed

    def _validate(self) -> None:
        check_int(self.name, "blocks", self.blocks)
        self._validate_sgd()

    def _validate_sgd(self) -> None:
        check_int(self.name, "factors", self.factors)
        check_int(self.name, "epochs", self.epochs)
        check_int(self.name, "seed", self.seed, minimum=0)
        check_float(self.name, "lr", self.lr, strict=True)
        check_float(self.name, "reg", self.reg)
        if self.lr_bias is not None:
            check_float(self.name, "lr_bias", self.lr_bias, strict=True)
        if self.reg_bias is not None:
            check_float(self.name, "reg_bias", self.reg_bias)
        check_float(self.name, "init_mean", self.init_mean, minimum=-np.inf)
        check_float(self.name, "init_std_dev", self.init_std_dev)

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        coo = data.matrix.tocoo()
        rng = np.random.default_rng(self.seed)
        k = int(self.factors)
        f32 = np.float32
        self.mu_ = float(coo.data.mean(dtype=np.float64))
        self.user_bias_ = np.zeros(data.n_users, dtype=f32)
        self.item_bias_ = np.zeros(data.n_items, dtype=f32)
        shape_u, shape_i = (data.n_users, k), (data.n_items, k)
        self.user_factors_ = rng.normal(self.init_mean, self.init_std_dev, shape_u).astype(f32)
        self.item_factors_ = rng.normal(self.init_mean, self.init_std_dev, shape_i).astype(f32)
        lr_b = float(self.lr if self.lr_bias is None else self.lr_bias)
        reg_b = float(self.reg if self.reg_bias is None else self.reg_bias)
        blocks = int(self.blocks)
        users, cols, ratings, strata_ptr = stratify(rng, coo, blocks)

        def run(stratum: int, order: np.ndarray) -> float:
            return float(
                mf_kernels.svd_sgd_range(
                    users, cols, ratings, order, strata_ptr[stratum], strata_ptr[stratum + 1],
                    self.mu_, self.user_bias_, self.item_bias_, self.user_factors_,
                    self.item_factors_, lr_b, float(self.lr), reg_b, float(self.reg),
                )
            )  # fmt: skip

        threads = min(blocks, movierec_threads.current())
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for _ in range(int(self.epochs)):
                order, shifts = sgd_epoch_order(rng, strata_ptr, blocks)
                for shift in shifts:
                    # strata (b, b + shift mod B) share no user/item: safe in parallel
                    strata = [b * blocks + (b + int(shift)) % blocks for b in range(blocks)]
                    if threads > 1:
                        list(pool.map(run, strata, [order] * blocks))
                    else:
                        for stratum in strata:
                            run(stratum, order)
        self._zero_cold(data)


def stratify(
    rng: np.random.Generator, coo: sp.coo_matrix, blocks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split users and items into ``blocks`` random blocks each; group ratings by stratum.

    Returns:
        ``(users, items, ratings, strata_ptr)``: the ratings (int64 rows, int64 columns,
        float32 values, shape ``(nnz,)``) ordered by stratum ``b_u * blocks + b_i``, and
        ``strata_ptr`` (shape ``(blocks² + 1,)``) delimiting each stratum.
    """
    n_users, n_items = coo.shape
    user_block = rng.permutation(n_users) % blocks
    item_block = rng.permutation(n_items) % blocks
    stratum = user_block[coo.row] * blocks + item_block[coo.col]
    by = np.argsort(stratum, kind="stable")
    counts = np.bincount(stratum, minlength=blocks * blocks)
    strata_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return (
        coo.row[by].astype(np.int64),
        coo.col[by].astype(np.int64),
        coo.data[by].astype(np.float32),
        strata_ptr,
    )


def sgd_epoch_order(
    rng: np.random.Generator, strata_ptr: np.ndarray, blocks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded order of one DSGD epoch: positions shuffled within each stratum, and the
    permutation of diagonal shifts (sub-epoch order); see :class:`FunkSVD`."""
    order = mf_kernels.block_shuffle(strata_ptr, rng.random(int(strata_ptr[-1])))
    shifts = rng.permutation(blocks).astype(np.int64)
    return order, shifts


class SVDpp(_BiasedMF):
    """SVD++: biased MF with the implicit feedback of which movies a user rated.

    Koren (2008), *Factorization Meets the Neighborhood: a Multifaceted Collaborative
    Filtering Model*, KDD, eq. 15::

        r̂_ui = μ + b_u + b_i + q_iᵀ (p_u + |N(u)|^-½ Σ_{j∈N(u)} y_j)

    with ``N(u)`` every movie ``u`` rated in the training data. Trained by SGD with
    Surprise's ``SVDpp`` update rules; each epoch visits users in a seeded random order and
    a user's ratings consecutively in a seeded random order. The ``y_j`` updates are
    applied exactly, but in O(|N(u)|·k) per user instead of per rating (see
    :func:`movierec.models.mf_kernels.svdpp_sgd_epoch`) — same mathematics as Surprise,
    orders of magnitude less work.

    Args:
        factors, epochs, lr, reg, lr_bias, reg_bias, init_mean, init_std_dev, seed: as
            :class:`FunkSVD` (Surprise defaults ``factors=20, epochs=20, lr=0.007,
            reg=0.02``; the shipped defaults were tuned on a validation part of ``u1.base``
            like :class:`FunkSVD`'s).
        lr_implicit, reg_implicit: learning rate / regularisation of ``y_j``;
            ``None`` = ``lr`` / ``reg``.

    Attributes:
        implicit_factors_: ``y``, shape ``(n_items, k)``.
        user_implicit_: ``|N(u)|^-½ Σ y_j`` per user, shape ``(n_users, k)``.
    """

    name: ClassVar[str] = "svdpp"

    def __init__(
        self,
        *,
        factors: int = 156,
        epochs: int = 37,
        lr: float = 0.00382,
        reg: float = 0.113,
        lr_bias: float | None = None,
        reg_bias: float | None = 0.0321,
        lr_implicit: float | None = None,
        reg_implicit: float | None = 0.0028,
        init_mean: float = 0.0,
        init_std_dev: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.epochs = epochs
        self.lr = lr
        self.reg = reg
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.lr_implicit = lr_implicit
        self.reg_implicit = reg_implicit
        self.init_mean = init_mean
        self.init_std_dev = init_std_dev
        self.seed = seed

    implicit_factors_: np.ndarray
    user_implicit_: np.ndarray

    def _validate(self) -> None:
        FunkSVD._validate_sgd(self)  # type: ignore[arg-type]
        if self.lr_implicit is not None:
            check_float(self.name, "lr_implicit", self.lr_implicit, strict=True)
        if self.reg_implicit is not None:
            check_float(self.name, "reg_implicit", self.reg_implicit)

    def _user_vectors(self, user_rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_rows] + self.user_implicit_[user_rows]

    def _fold_in_offset(self, cols: np.ndarray) -> np.ndarray:
        return self.implicit_factors_[cols].sum(axis=0) / np.sqrt(cols.size)

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        m = data.matrix
        indptr = m.indptr.astype(np.int64)
        indices = m.indices.astype(np.int64)
        ratings = m.data.astype(np.float64)
        rng = np.random.default_rng(self.seed)
        k = int(self.factors)
        self.mu_ = float(ratings.mean())
        self.user_bias_ = np.zeros(data.n_users)
        self.item_bias_ = np.zeros(data.n_items)
        self.user_factors_ = rng.normal(self.init_mean, self.init_std_dev, (data.n_users, k))
        self.item_factors_ = rng.normal(self.init_mean, self.init_std_dev, (data.n_items, k))
        self.implicit_factors_ = rng.normal(self.init_mean, self.init_std_dev, (data.n_items, k))
        lr_b = float(self.lr if self.lr_bias is None else self.lr_bias)
        reg_b = float(self.reg if self.reg_bias is None else self.reg_bias)
        lr_y = float(self.lr if self.lr_implicit is None else self.lr_implicit)
        reg_y = float(self.reg if self.reg_implicit is None else self.reg_implicit)
        for _ in range(int(self.epochs)):
            user_order, pos = svdpp_epoch_order(rng, indptr)
            mf_kernels.svdpp_sgd_epoch(
                indptr, indices, ratings, user_order, pos, self.mu_,
                self.user_bias_, self.item_bias_, self.user_factors_, self.item_factors_,
                self.implicit_factors_, lr_b, float(self.lr), lr_y, reg_b, float(self.reg), reg_y,
            )  # fmt: skip
        self._zero_cold(data)
        cold_items = np.bincount(indices, minlength=data.n_items) == 0
        self.implicit_factors_[cold_items] = 0.0
        self.user_implicit_ = mf_kernels.implicit_sums(indptr, indices, self.implicit_factors_)


def svdpp_epoch_order(
    rng: np.random.Generator, indptr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded visiting order of one SVD++ epoch.

    Args:
        indptr: CSR row pointer (int64), shape ``(n_users + 1,)``.

    Returns:
        ``(user_order, pos)``: a permutation of the users, and CSR positions permuted within
        each user's block (``pos[indptr[u]:indptr[u+1]]`` is a permutation of that range).
    """
    user_order = rng.permutation(indptr.size - 1).astype(np.int64)
    pos = mf_kernels.block_shuffle(indptr, rng.random(int(indptr[-1])))
    return user_order, pos


class ExplicitALS(_BiasedMF):
    """Explicit-rating ALS with weighted-λ regularisation (ALS-WR).

    Zhou, Wilkinson, Schreiber & Pan (2008), *Large-scale Parallel Collaborative Filtering
    for the Netflix Prize*, AAIM, eq. 4: minimise
    ``Σ_(u,i) (r_ui − r̂_ui)² + λ (Σ_u n_u ‖x_u‖² + Σ_i n_i ‖y_i‖²)`` by alternating exact
    ridge solves (:func:`movierec.models.mf_kernels.ridge_rows`)::

        x_u = (Y_uᵀ Y_u + λ n_u I)⁻¹ Y_uᵀ (r_u − μ − offsets)

    With ``biases=True`` the model is ``r̂_ui = μ + b_u + b_i + q_iᵀ p_u``, solved by
    augmenting ``x_u = [p_u, b_u]`` against ``[q_i, 1]`` (and symmetrically for items), so
    the biases share the weighted-λ penalty. With ``weighted=False`` the penalty is the
    plain ``λ I``. With ``biases=False, global_mean=False`` the model is ``r̂_ui = q_iᵀ p_u``,
    Spark MLlib's explicit ALS objective (the same model, for an honest engine comparison).

    Args:
        factors: latent dimension ``k``.
        iterations: full sweeps (users, then items).
        reg: ``λ``.
        weighted: scale ``λ`` by the row's number of ratings (ALS-WR).
        biases: learn ``b_u, b_i`` alongside the factors.
        global_mean: predict around the training mean ``μ`` (``False``: ``μ = 0``).
        init_std_dev: item factors start ``~ N(0, init_std_dev²)``.
        seed: seeds the initialisation.

    Shipped defaults were tuned on a random 20 % validation part of ``u1.base`` (Optuna,
    30 trials; ``benchmarks/tune_factor_models.py``). BLAS is held to one thread during the
    fit: the per-row solves are tiny and BLAS threading only adds overhead.
    """

    name: ClassVar[str] = "als"

    def __init__(
        self,
        *,
        factors: int = 67,
        iterations: int = 22,
        reg: float = 0.128,
        weighted: bool = True,
        biases: bool = True,
        global_mean: bool = True,
        init_std_dev: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.reg = reg
        self.weighted = weighted
        self.biases = biases
        self.global_mean = global_mean
        self.init_std_dev = init_std_dev
        self.seed = seed

    def _validate(self) -> None:
        check_int(self.name, "factors", self.factors)
        check_int(self.name, "iterations", self.iterations)
        check_int(self.name, "seed", self.seed, minimum=0)
        check_float(self.name, "reg", self.reg, strict=True)
        check_float(self.name, "init_std_dev", self.init_std_dev)
        for flag in ("weighted", "biases", "global_mean"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{self.name}: {flag} must be true or false")

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        by_user = data.matrix
        by_item = sp.csr_matrix(by_user.T)
        by_item.sort_indices()
        rng = np.random.default_rng(self.seed)
        k = int(self.factors)
        self.mu_ = float(by_user.data.mean()) if self.global_mean else 0.0
        self.user_bias_ = np.zeros(data.n_users)
        self.item_bias_ = np.zeros(data.n_items)
        self.user_factors_ = np.zeros((data.n_users, k))
        self.item_factors_ = rng.normal(0.0, self.init_std_dev, (data.n_items, k))
        # numba's np.linalg binds scipy's LAPACK on first use: load it first, or the limit
        # below misses it and its threads oversubscribe the per-row solves (~5x slower)
        import scipy.linalg.cython_lapack  # noqa: F401

        with threadpool_limits(1, "blas"):
            self._sweeps(by_user, by_item)
        self._zero_cold(data)

    def _sweeps(self, by_user: sp.csr_matrix, by_item: sp.csr_matrix) -> None:
        for _ in range(int(self.iterations)):
            self._half_sweep(by_user, self.item_factors_, self.item_bias_,
                             self.user_factors_, self.user_bias_)  # fmt: skip
            self._half_sweep(by_item, self.user_factors_, self.user_bias_,
                             self.item_factors_, self.item_bias_)  # fmt: skip

    def _half_sweep(
        self,
        m: sp.csr_matrix,
        other_factors: np.ndarray,
        other_bias: np.ndarray,
        factors: np.ndarray,
        bias: np.ndarray,
    ) -> None:
        """Solve every row of ``m`` for ``factors`` (and ``bias``) in place."""
        targets = m.data.astype(np.float64) - self.mu_
        if self.biases:
            F = np.hstack([other_factors, np.ones((other_factors.shape[0], 1))])
            out = np.empty((m.shape[0], F.shape[1]))
            offset = other_bias
        else:
            F = np.ascontiguousarray(other_factors)
            out = np.empty((m.shape[0], F.shape[1]))
            offset = np.zeros(other_factors.shape[0])
        mf_kernels.ridge_rows(m.indptr.astype(np.int64), m.indices.astype(np.int64), targets,
                            F, offset, float(self.reg), bool(self.weighted), out)  # fmt: skip
        factors[:] = out[:, : factors.shape[1]]
        if self.biases:
            bias[:] = out[:, -1]

    def _fold_in_lambda(self, n: int) -> float:
        return float(self.reg) * (n if self.weighted else 1)
