"""Non-personalised and bias baselines: :class:`Popularity` and :class:`BaselineOnly`.

Both are closed-form / vectorised (sparse matrix-vector products); no per-rating loops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.models.common.batch import batch_shape
from movierec.models.common.foldin import fold_ratings
from movierec.models.common.reasons import explained_columns

REG_U = 5.78
"""Default λ_u of :class:`BaselineOnly` (``benchmarks/results/tuned_params.json``), also the
baselines of ``UserKNN(center="baseline")``."""
REG_I = 2.19
"""Default λ_i of :class:`BaselineOnly` (as :data:`REG_U`)."""


def item_stats(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-item rating count and sum, both shape ``(n_items,)`` (float64)."""
    csc = matrix.tocsc()
    counts = np.diff(csc.indptr).astype(np.float64)
    sums = np.asarray(csc.sum(axis=0), dtype=np.float64).ravel()
    return counts, sums


def fit_baselines(
    matrix: sp.csr_matrix, reg_u: float, reg_i: float, n_epochs: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """Regularised user/item biases by alternating least squares (Koren 2010, §2.1).

    Minimises ``Σ (r_ui − μ − b_u − b_i)² + λ_u Σ b_u² + λ_i Σ b_i²`` by the same alternation
    as Surprise's ``BaselineOnly(method="als")``: each epoch first

    ``b_i = Σ_{u∈R(i)} (r_ui − μ − b_u) / (λ_i + |R(i)|)`` for every item, then
    ``b_u = Σ_{i∈R(u)} (r_ui − μ − b_i) / (λ_u + |R(u)|)`` for every user,

    starting from zero biases. Each half-step is one sparse matrix-vector product.

    Args:
        matrix: CSR ratings, shape ``(n_users, n_items)``.
        reg_u, reg_i: λ_u, λ_i (≥ 0).
        n_epochs: number of alternations.

    Returns:
        ``(mu, b_u, b_i)``: global mean and float64 bias arrays of shape ``(n_users,)``,
        ``(n_items,)``; an item (user) without ratings gets bias 0.
    """
    m = sp.csr_matrix(matrix, dtype=np.float64)
    pattern = m.copy()
    pattern.data[:] = 1.0
    mu = float(m.data.mean())
    n_u = np.diff(m.indptr).astype(np.float64)
    n_i = np.asarray(pattern.sum(axis=0)).ravel()
    sum_u = np.asarray(m.sum(axis=1)).ravel() - mu * n_u
    sum_i = np.asarray(m.sum(axis=0)).ravel() - mu * n_i
    pattern_t = pattern.T.tocsr()
    b_u = np.zeros(m.shape[0])
    b_i = np.zeros(m.shape[1])
    for _ in range(n_epochs):
        b_i = (sum_i - pattern_t @ b_u) / (reg_i + n_i)
        b_u = (sum_u - pattern @ b_i) / (reg_u + n_u)
    b_i[n_i == 0] = 0.0
    b_u[n_u == 0] = 0.0
    return mu, b_u, b_i


def new_user_bias(
    cols: np.ndarray, vals: np.ndarray, mu: float, item_bias: np.ndarray, reg_u: float
) -> float:
    """A new user's bias from one ALS half-step with the item biases fixed (as
    :func:`fit_baselines` updates ``b_u``): ``b_u = Σ_j (r_uj − μ − b_j) / (λ_u + n)`` over
    the ``n`` rated columns ``cols`` (shape ``(n,)``) with ratings ``vals``."""
    return float(np.sum(vals - mu - item_bias[cols]) / (reg_u + cols.size))


class _ItemOnlyReasons(Recommender):
    """Explanations that depend only on the movie (the same for every user, known or new).

    Subclasses implement ``_reasons(item_ids) -> list[str]``; the user (or the new user's
    ratings) is only validated.
    """

    explains_ratings_as_user: ClassVar[bool] = True

    def _reasons(self, item_ids: Any) -> list[str]:
        raise NotImplementedError

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        self._check_fitted()
        self.data_.users.index([user_id])
        return self._reasons(item_ids)

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch: each distinct movie's reason is made once."""
        self._check_fitted()
        users, items = batch_shape(user_ids, item_ids)
        self.data_.users.index(users)
        distinct, where = np.unique(items, return_inverse=True)
        reasons = np.array(self._reasons(distinct), dtype=object)
        return reasons[where.reshape(items.shape)].tolist()  # type: ignore[no-any-return]

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """Same reasons as :meth:`explain`."""
        self._check_fitted()
        fold_ratings(self.data_, ratings)
        return self._reasons(item_ids)


class Popularity(_ItemOnlyReasons):
    """Non-personalised popularity ranking.

    ``method="count"`` ranks by the number of ratings ``n_i``; ``method="damped_mean"`` by
    the Bayesian (damped) average ``(Σ_u r_ui + m·μ) / (n_i + m)`` which shrinks the mean of
    rarely rated movies towards the global mean ``μ`` with ``m`` pseudo-ratings.

    Args:
        method: ``"count"`` or ``"damped_mean"``.
        damping: ``m`` ≥ 0, used by ``damped_mean``.

    Attributes:
        counts_: shape ``(n_items,)`` ratings per movie.
        means_: shape ``(n_items,)`` plain mean rating per movie (0 when unrated).
        scores_: shape ``(n_items,)`` float32 ranking score.
    """

    name = "popularity"
    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"fold_in", "explain", "explain_ratings"}
    )
    personalised: ClassVar[bool] = False

    def __init__(self, method: str = "count", damping: float = 10.0) -> None:
        self.method = method
        self.damping = damping

    def _validate(self) -> None:
        if self.method not in ("count", "damped_mean"):
            raise ConfigError(
                f"popularity: method must be 'count' or 'damped_mean', got {self.method!r}"
            )
        if not float(self.damping) >= 0:
            raise ConfigError(f"popularity: damping must be >= 0, got {self.damping}")

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        counts, sums = item_stats(data.matrix)
        mu = float(data.matrix.data.mean())
        self.counts_ = counts.astype(np.int64)
        self.means_ = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        if self.method == "count":
            scores = counts
        else:
            m = float(self.damping)
            scores = (sums + m * mu) / np.maximum(counts + m, 1e-12)
        self.scores_ = scores.astype(np.float32)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """The same popularity scores for every user: shape ``(b, n_items)``."""
        self._check_fitted()
        return np.tile(self.scores_, (np.asarray(user_rows).size, 1))

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Popularity needs no history: the same scores (unknown movie ids still raise)."""
        self._check_fitted()
        fold_ratings(self.data_, ratings)
        return self.scores_.copy()

    def _reasons(self, item_ids: Any) -> list[str]:
        """ "popular: rated by 583 users, avg 4.4★" (``""`` for a movie nobody rated)."""
        cols, valid = explained_columns(self.data_, item_ids)
        return [
            f"popular: rated by {int(self.counts_[c])} users, avg {self.means_[c]:.1f}★"
            if ok and self.counts_[c] > 0
            else ""
            for c, ok in zip(cols, valid, strict=True)
        ]


class BaselineOnly(_ItemOnlyReasons):
    """Global mean plus regularised user and item biases (Koren 2010, TKDD, §2.1).

    ``r̂_ui = μ + b_u + b_i``, biases fitted by ALS alternation (see :func:`fit_baselines`,
    the update order of Surprise's ``BaselineOnly``), predictions clipped to the rating scale.
    Shipped defaults ``reg_u=5.78, reg_i=2.19`` are what ``movierec evaluate --tune`` found on
    a 10% per-user validation holdout of ``u1.base`` (Surprise's are 15 and 10;
    ``benchmarks/results/tuned_params.json``).
    Its ranking is the same for every user (order of ``b_i``), minus the movies they rated.

    Args:
        reg_u: user-bias regularisation λ_u ≥ 0.
        reg_i: item-bias regularisation λ_i ≥ 0.
        n_epochs: ALS alternations ≥ 1.

    Attributes:
        mu_: global mean rating; user_bias_: ``(n_users,)``; item_bias_: ``(n_items,)``.
    """

    name = "baseline"
    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"predict", "fold_in", "fold_in_ratings", "explain", "explain_ratings"}
    )
    personalised: ClassVar[bool] = False
    score_is_rating = True

    def __init__(self, reg_u: float = REG_U, reg_i: float = REG_I, n_epochs: int = 10) -> None:
        self.reg_u = reg_u
        self.reg_i = reg_i
        self.n_epochs = n_epochs

    def _validate(self) -> None:
        for key in ("reg_u", "reg_i"):
            if not float(getattr(self, key)) >= 0:
                raise ConfigError(f"baseline: {key} must be >= 0, got {getattr(self, key)}")
        if int(self.n_epochs) < 1:
            raise ConfigError(f"baseline: n_epochs must be >= 1, got {self.n_epochs}")

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        mu, b_u, b_i = fit_baselines(
            data.matrix, float(self.reg_u), float(self.reg_i), int(self.n_epochs)
        )
        self.mu_ = mu
        self.user_bias_ = b_u
        self.item_bias_ = b_i

    def bias_terms(self) -> tuple[float, np.ndarray, np.ndarray]:
        """``(μ, b_u, b_i)``: cold pairs keep the known bias (see :meth:`predict_cold`)."""
        self._check_fitted()
        return self.mu_, self.user_bias_, self.item_bias_

    def _item_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """:func:`item_stats` of the training matrix, computed once per fitted matrix (a
        cache, not saved): batch explanations ask it once per batch."""
        m = self.data_.matrix
        cache = getattr(self, "_stats_cache", None)
        if cache is None or cache[0] is not m:
            cache = (m, item_stats(m))
            self._stats_cache = cache
        return cache[1]

    def _clip(self, x: np.ndarray) -> np.ndarray:
        lo, hi = self.data_.rating_scale
        return np.clip(x, lo, hi)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        rows = np.asarray(user_rows)
        est = self.mu_ + self.user_bias_[rows][:, None] + self.item_bias_[None, :]
        return self._clip(est).astype(np.float32)

    def predict_rows(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        self._check_fitted()
        est = self.mu_ + self.user_bias_[np.asarray(user_rows)] + self.item_bias_[item_cols]
        return self._clip(est).astype(np.float32)

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """New user's bias from one ALS half-step with item biases fixed."""
        self._check_fitted()
        cols, vals = fold_ratings(self.data_, ratings)
        b_u = new_user_bias(cols, vals, self.mu_, self.item_bias_, float(self.reg_u))
        return self._clip(self.mu_ + b_u + self.item_bias_).astype(np.float32)

    def _reasons(self, item_ids: Any) -> list[str]:
        """ "rated above average by 583 users (avg 4.4★, movie bias +0.62)" for a movie whose
        bias ``b_i`` is positive (as printed); ``""`` otherwise (no positive reason)."""
        cols, valid = explained_columns(self.data_, item_ids)
        counts, sums = self._item_stats()
        return [
            f"rated above average by {int(counts[c])} users "
            f"(avg {sums[c] / counts[c]:.1f}★, movie bias {self.item_bias_[c]:+.2f})"
            if ok and counts[c] > 0 and round(float(self.item_bias_[c]), 2) > 0
            else ""
            for c, ok in zip(cols, valid, strict=True)
        ]
