"""EASEᴿ: the closed-form shallow linear autoencoder (Steck 2019)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.models.common.batch import Histories, batch_shape, segment_argmax, titles_of
from movierec.models.common.foldin import fold_in_columns
from movierec.models.common.reasons import explained_grid, share_text
from movierec.models.common.topk import top_ids
from movierec.models.common.validation import check_float

__all__ = ["EASE", "available_memory"]

# float64 n_items × n_items arrays alive at the peak of the fit (Gram/inverse, B, scratch)
_PEAK_MATRICES = 3


def available_memory() -> int:
    """Bytes of memory available to this process (psutil, else ``sysconf``)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil is a transitive dependency
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder, EASEᴿ.

    Steck (2019), *Embarrassingly Shallow Autoencoders for Sparse Data*, WWW, eq. 8: with
    ``X`` the binary (or rating-valued) user×item matrix and ``λ`` the L2 penalty::

        P = (XᵀX + λI)⁻¹,    B = I − P · diag(1 / diag(P)),    diag(B) = 0,
        score(u) = x_u B         (shape (n_items,))

    ``B[j, i]`` is how much having rated movie ``j`` contributes to movie ``i``'s score.
    The fit is one dense ``n_items × n_items`` inverse, so it declines with a
    :class:`ConfigError` when ~3 float64 matrices of that size would not fit in the memory
    available. Movies nobody rated score ``-inf``.

    Args:
        reg: ``λ``. The shipped default was tuned (Optuna, 40 trials over ``λ`` and
            ``binarize``) for NDCG@10 on a validation part carved out of the training part
            of ``stratified-75-25`` (``benchmarks/tune_factor_models.py``).
        binarize: use ``x_ui = 1`` for every rating (Steck's setting) instead of the stars.

    Attributes:
        weights_: ``B``, shape ``(n_items, n_items)`` float32.
        cold_items_: shape ``(n_items,)`` bool, movies absent from the training data.
    """

    name: ClassVar[str] = "ease"
    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"fold_in", "explain", "explain_ratings", "similar_items"}
    )
    explains_ratings_as_user: ClassVar[bool] = True

    weights_: np.ndarray
    cold_items_: np.ndarray

    def __init__(self, *, reg: float = 438.0, binarize: bool = True) -> None:
        self.reg = reg
        self.binarize = binarize

    def _validate(self) -> None:
        check_float(self.name, "reg", self.reg, strict=True)
        if not isinstance(self.binarize, bool):
            raise ConfigError(f"{self.name}: binarize must be true or false")

    @classmethod
    def check_memory(cls, n_items: int, available: int | None = None) -> None:
        """Raise :class:`ConfigError` if the dense ``n_items²`` fit would not fit in memory."""
        need = _PEAK_MATRICES * 8 * int(n_items) ** 2
        have = available_memory() if available is None else int(available)
        if need > have:
            raise ConfigError(
                f"{cls.name}: {n_items} movies need ~{need / 2**30:.1f} GiB for the dense "
                f"{n_items}×{n_items} item-item matrices but only {have / 2**30:.1f} GiB is "
                "available; filter rare movies first or use 'ials' / 'item-knn'"
            )

    def _matrix(self, data: Interactions) -> Any:
        m = data.matrix.astype(np.float64)
        if self.binarize:
            m.data[:] = 1.0
        return m

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        self.check_memory(data.n_items)
        X = self._matrix(data)
        self._fit_gram((X.T @ X).toarray(), data)

    def _fit_gram(self, G: np.ndarray, data: Interactions) -> None:
        """EASE's closed form from a dense Gram matrix ``G`` (overwritten)::

        P = (G + λI)⁻¹,   B = −P · diag(1 / diag(P)),   diag(B) = 0
        """
        G[np.diag_indices_from(G)] += float(self.reg)
        P = np.linalg.inv(G)
        del G
        B = P / (-np.diag(P))[None, :]
        B[np.diag_indices_from(B)] = 0.0
        self.weights_ = B.astype(np.float32)
        self.cold_items_ = np.bincount(data.matrix.indices, minlength=data.n_items) == 0

    def _user_rows_matrix(self, user_rows: np.ndarray) -> Any:
        X = self.data_.matrix[np.asarray(user_rows, dtype=np.int64)].astype(np.float32)
        if self.binarize:
            X.data[:] = 1.0
        return X

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        self._check_fitted()
        out = np.asarray(self._user_rows_matrix(user_rows) @ self.weights_, dtype=np.float32)
        out[:, self.cold_items_] = -np.inf
        return out

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Scores for a new user: ``x_new B`` (no refit needed); shape ``(n_items,)``."""
        self._check_fitted()
        cols, values = fold_in_columns(self.data_, ratings)
        x = np.ones(cols.size) if self.binarize else values
        scores = (x @ self.weights_[cols]).astype(np.float32)
        scores[self.cold_items_] = -np.inf
        return scores

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items ``i`` with the largest weight ``B[j, i]`` from query movie ``j``."""
        self._check_fitted()
        if int(n) < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        cols = self.data_.items.index(np.atleast_1d(np.asarray(item_ids)))
        sims = np.array(self.weights_[cols], dtype=np.float32)
        sims[:, self.cold_items_] = -np.inf
        sims[np.arange(cols.size), cols] = -np.inf
        return top_ids(sims, int(n), self.data_.items.ids)

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """Name the rated movie ``j`` with the largest contribution ``x_uj·B[j, i]``."""
        return self.explain_users([user_id], [item_ids])[0]

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch (vectorised; see :meth:`Recommender.explain_users`)."""
        self._check_fitted()
        users, items = batch_shape(user_ids, item_ids)
        x = self._user_rows_matrix(self.data_.users.index(users))
        hist = Histories(
            x.indptr.astype(np.int64), x.indices.astype(np.int64), x.data.astype(np.float64)
        )
        return self._explain(hist, items)

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}``."""
        self._check_fitted()
        cols, values = fold_in_columns(self.data_, ratings)
        x = np.ones(cols.size) if self.binarize else values
        ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))
        return self._explain(Histories.of_one(cols, x), ids[None, :])[0]

    def _explain(self, hist: Histories, item_ids: np.ndarray) -> list[list[str]]:
        """Reasons from ``b`` histories (input values ``x``), ``item_ids`` shape ``(b, n)``.

        For movie ``i`` of user ``u`` the rated movie ``j`` with the largest contribution
        ``c_j = x_j·B[j, i]`` to the score (the first one on ties), and its share
        ``c_j / Σ_j |c_j|``; ``""`` when no contribution is positive (and for padding ids).
        Cost ``O(Σ_u |I_u| · n)``.
        """
        data = self.data_
        b, n = item_ids.shape
        cols, valid, out = explained_grid(data, item_ids)
        if hist.cols.size == 0 or n == 0:
            return out
        owner = hist.owner()
        contrib = hist.values[:, None] * self.weights_[hist.cols[:, None], cols[owner]]
        best, row = segment_argmax(contrib, hist.indptr)
        has = hist.counts > 0
        total = np.ones((b, n))
        total[has] = np.add.reduceat(np.abs(contrib), hist.indptr[:-1][has], axis=0)
        rated = data.items.ids[hist.cols]
        titles = titles_of(self.items_catalog_, rated[np.unique(row[row >= 0])])
        for u, r in zip(*np.nonzero(valid & (row >= 0) & (best > 0)), strict=True):
            e = row[u, r]
            share = contrib[e, r] / max(float(total[u, r]), 1e-12)
            title = titles[int(rated[e])]
            out[u][r] = f"because you watched {title} ({share_text(share)} of this movie's score)"
        return out
