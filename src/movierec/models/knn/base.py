"""What :class:`~movierec.models.knn.user.UserKNN` and
:class:`~movierec.models.knn.item.ItemKNN` share: hyperparameter checks, the neighbour-list
cap, and new users (fold-in) from one method of each model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from movierec.errors import ConfigError
from movierec.models.base import Recommender
from movierec.models.common.validation import check_int

__all__ = ["EXACT_LIMIT", "KNNFoldIn", "check_knn_params", "neighbour_cap", "unique_rows"]

EXACT_LIMIT = 10_000
"""With ``max_neighbors=None``, all positive similarities are kept (exact per-item
neighbourhoods) up to this many users (UserKNN) / items (ItemKNN); above it only the
``10·k`` best per row, so memory stays linear in the data size."""


def neighbour_cap(max_neighbors: int | None, n: int, k: int) -> int | None:
    """Neighbours kept per row: ``max_neighbors`` if given, else all of them up to
    :data:`EXACT_LIMIT` rows and ``10·k`` beyond (``None`` = all)."""
    if max_neighbors is not None:
        return int(max_neighbors)
    return None if n <= EXACT_LIMIT else 10 * int(k)


def check_knn_params(model: Recommender, sims: tuple[str, ...]) -> None:
    """Check the hyperparameters both kNN models have (``similarity`` one of ``sims``)."""
    name = model.name
    k = model.k  # type: ignore[attr-defined]
    check_int(name, "k", k)
    if model.similarity not in sims:  # type: ignore[attr-defined]
        raise ConfigError(
            f"{name}: similarity must be one of {', '.join(sims)}, got {model.similarity!r}"  # type: ignore[attr-defined]
        )
    min_k = model.min_k  # type: ignore[attr-defined]
    if not isinstance(min_k, int | np.integer) or not 1 <= min_k <= k:
        raise ConfigError(f"{name}: min_k must be an integer in [1, k={k}], got {min_k!r}")
    check_int(name, "min_support", model.min_support, minimum=0)  # type: ignore[attr-defined]
    for key in ("shrinkage", "rank_damping", "rank_offset"):
        value = getattr(model, key)
        if not isinstance(value, int | float) or not value >= 0:
            raise ConfigError(f"{name}: {key} must be a number >= 0, got {value!r}")
    mn = model.max_neighbors  # type: ignore[attr-defined]
    if mn is not None and (not isinstance(mn, int | np.integer) or mn < k):
        raise ConfigError(f"{name}: max_neighbors must be None or an integer >= k, got {mn!r}")


def unique_rows(user_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(distinct rows, inverse)`` of ``user_rows`` (``np.unique``), to score each user once."""
    uniq, inverse = np.unique(np.asarray(user_rows, dtype=np.int64), return_inverse=True)
    return uniq, inverse


class KNNFoldIn(Recommender):
    """New users for both kNN models, from their ``_fold(ratings, rating)``: the damped
    ranking score (:meth:`fold_in`, ``rating=False``) or the rating formula
    (:meth:`fold_in_ratings`, ``rating=True``), as :meth:`score` / :meth:`predict` give them
    for a training user."""

    def _fold(self, ratings: Mapping[int, float], rating: bool) -> np.ndarray:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Load the compiled kernels (:mod:`.kernels`, :mod:`.evidence`), so that one
        request uses them rather than the plain-numpy one-user path
        (:func:`~movierec.models.knn.one_user.kernels_loaded`)."""
        import movierec.models.knn.evidence  # noqa: F401
        import movierec.models.knn.kernels  # noqa: F401

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        return self._fold(ratings, False)

    def fold_in_ratings(self, ratings: Mapping[int, float]) -> np.ndarray:
        """The rating formula for a new user, clipped to the rating scale."""
        lo, hi = self.data_.rating_scale
        return np.clip(self._fold(ratings, True), lo, hi)
