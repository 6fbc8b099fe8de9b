"""Neighbourhood collaborative filtering: :class:`UserKNN` and :class:`ItemKNN`.

Both use *per-item neighbourhoods*, exactly as Surprise's ``KNNWithMeans`` / ``KNNBaseline``:
the rating of user ``u`` for item ``i`` is predicted from the ``k`` most similar users who
rated ``i`` (user-based), or from the ``k`` items most similar to ``i`` that ``u`` rated
(item-based). Only positive similarities take part (a neighbour with ``s ≤ 0`` never
contributes; this is Surprise's rule too). Ties in similarity are broken by the lower
row/column index.

Similarities are computed with sparse matrix products, in row blocks whose dense size stays
under :data:`~movierec.models.knn.similarity.BLOCK_BYTES`; each row keeps its positive
similarities sorted in decreasing order (optionally only the ``max_neighbors`` best, for data
sets where all of them would not fit in memory). Scoring a batch of users runs a numba kernel
(parallel over users) that is linear in the number of (neighbour, rating) pairs it visits: no
per-rating Python loops.

Ranking vs rating prediction: :meth:`predict` returns the rating formula exactly (clipped to
the rating scale). :meth:`score`, used for top-N ranking, is *support-aware*::

    score_ui = base_ui + (Σ s·dev + γ·Σ s) / (Σ s + β)        (sums over the neighbourhood)

``rank_damping`` β shrinks predictions backed by little similarity mass (e.g. an item rated
by one weakly similar neighbour) towards the baseline, and ``rank_offset`` γ credits every
neighbour who rated the item with γ·s of evidence on top of their opinion (having been
rated by close neighbours is itself a signal: with large β and γ the score tends to the
neighbourhood vote ``Σ s``, Cremonesi et al. 2010's non-normalised kNN). β = γ = 0 ranks by
the predicted rating. Defaults were tuned for precision@10 on a validation split carved
from ``u1.base`` (rating-prediction hyperparameters for RMSE on the same split).

Modules: :mod:`.similarity` (similarities and neighbour lists), :mod:`.kernels` (compiled
scoring), :mod:`.heap` (the bounded heap of the kernels), :mod:`.global_scope` (ItemKNN's
global top-k mode), :mod:`.evidence` (compiled batch explanations), :mod:`.one_user` (one
user without numba), :mod:`.base` (what both models share), :mod:`.user`, :mod:`.item`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from movierec.models.knn.item import ItemKNN
    from movierec.models.knn.user import UserKNN

__all__ = ["ItemKNN", "UserKNN"]


def __getattr__(name: str) -> Any:
    """Import each model only when it is used (``user.py`` needs no numba for one user)."""
    if name == "ItemKNN":
        from movierec.models.knn.item import ItemKNN

        return ItemKNN
    if name == "UserKNN":
        from movierec.models.knn.user import UserKNN

        return UserKNN
    raise AttributeError(name)
