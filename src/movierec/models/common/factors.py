"""Item similarities and reasons from item vectors (latent factors, autoencoder codes).

Shared by every model whose items are rows of a dense matrix: the biased MF family
(:mod:`movierec.models.mf`), the implicit-feedback factor models and I-AutoRec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.common.batch import Histories, batch_shape, segment_argmax, titles_of
from movierec.models.common.foldin import fold_in_columns
from movierec.models.common.reasons import explained_grid
from movierec.models.common.topk import top_ids

__all__ = [
    "ItemVectorAbilities",
    "explain_by_factors",
    "explain_from_history",
    "explain_histories",
    "explain_users_by_factors",
    "similar_by_factors",
]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1)
    return vectors / np.where(norms > 0, norms, 1.0)[:, None]


def similar_by_factors(
    data: Interactions, item_factors: np.ndarray, item_ids: Any, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` items by cosine similarity of ``item_factors`` rows (the query excluded).

    Args:
        data: the training data (its item vocabulary maps ids to rows).
        item_factors: shape ``(n_items, k)`` (index space).
        item_ids: external movie ids, shape ``(b,)``.

    Returns:
        ``(ids, scores)`` of shape ``(b, n)``: external movie ids (``-1`` padding) and cosine
        similarities (``-inf`` padding). Items with all-zero factors are never returned.
    """
    if int(n) < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    cols = data.items.index(np.atleast_1d(np.asarray(item_ids)))
    norms = np.linalg.norm(item_factors, axis=1)
    unit = _unit_rows(item_factors)
    sims = (unit[cols] @ unit.T).astype(np.float32)
    sims[:, norms == 0] = -np.inf
    sims[np.arange(cols.size), cols] = -np.inf
    return top_ids(sims, int(n), data.items.ids)


def explain_by_factors(
    data: Interactions,
    catalog: ItemCatalog | None,
    item_factors: np.ndarray,
    user_id: int,
    item_ids: Any,
) -> list[str]:
    """:func:`explain_from_history` for a training user (external ``user_id``)."""
    return explain_users_by_factors(data, catalog, item_factors, [user_id], [item_ids])[0]


def explain_users_by_factors(
    data: Interactions,
    catalog: ItemCatalog | None,
    item_factors: np.ndarray,
    user_ids: Any,
    item_ids: Any,
) -> list[list[str]]:
    """:func:`explain_from_history` for a batch of training users: ``user_ids`` shape
    ``(b,)``, ``item_ids`` shape ``(b, n)``; ``b`` lists of ``n`` reasons."""
    users, items = batch_shape(user_ids, item_ids)
    hist = Histories.of_rows(data, data.users.index(users))
    return explain_histories(data, catalog, item_factors, hist, items)


def explain_from_history(
    data: Interactions,
    catalog: ItemCatalog | None,
    item_factors: np.ndarray,
    seen: np.ndarray,
    ratings: np.ndarray,
    item_ids: Any,
) -> list[str]:
    """For each movie, the user's liked movie whose factor vector is most cosine-similar
    to it: "because you rated Alien (1979) 5/5 (taste-profile similarity 0.62)".

    Args:
        item_factors: shape ``(n_items, k)``.
        seen: column indices the user rated; ``ratings`` their ratings (same shape).
        item_ids: external movie ids (``-1`` = padding).

    Only movies rated at or above the user's own mean rating count as "liked" (all of them
    if the user rated everything the same). A movie whose best similarity is not positive
    (as printed, two decimals), a padding id and every movie of a user with no rating get
    ``""``: the model has no reason to give.
    """
    ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))
    hist = Histories.of_one(seen, ratings)
    return explain_histories(data, catalog, item_factors, hist, ids[None, :])[0]


_DOT_BLOCK = 1 << 21
"""Float entries of the (liked × recommended × k) products computed at once."""


def explain_histories(
    data: Interactions,
    catalog: ItemCatalog | None,
    item_factors: np.ndarray,
    hist: Histories,
    item_ids: np.ndarray,
) -> list[list[str]]:
    """:func:`explain_from_history` for ``b`` users at once (``hist`` their histories,
    ``item_ids`` shape ``(b, n)``).

    For every liked entry ``j`` of user ``u`` and every movie ``i`` of ``u``'s list the cosine
    ``ŷ_jᵀŷ_i`` is one ``k``-term dot product (``np.einsum``, the same arithmetic whatever
    the batch: each entry's sum runs over its own ``k`` products only), then each
    (user, movie) keeps its first best liked movie. Cost
    ``O(Σ_u |liked_u| · n · k)``: linear in the ratings.
    """
    n = item_ids.shape[1]
    cols, valid, out = explained_grid(data, item_ids)
    if hist.cols.size == 0 or n == 0:
        return out
    liked = hist.select(hist.values >= hist.user_means()[hist.owner()])
    unit = _unit_rows(item_factors)
    owner = liked.owner()
    sims = np.empty((liked.cols.size, n), dtype=unit.dtype)
    step = max(1, _DOT_BLOCK // max(n * unit.shape[1], 1))
    for a in range(0, liked.cols.size, step):
        e = slice(a, a + step)  # one dot product of k terms per (liked entry, movie)
        sims[e] = np.einsum("ek,enk->en", unit[liked.cols[e]], unit[cols[owner[e]]])
    best, row = segment_argmax(sims, liked.indptr)
    hi = data.rating_scale[1]
    rated = data.items.ids[liked.cols]
    titles = titles_of(catalog, rated[np.unique(row[row >= 0])])
    for u, r in zip(*np.nonzero(valid & (row >= 0)), strict=True):
        e = row[u, r]
        sim = sims[e, r]
        if round(float(sim), 2) <= 0:
            continue
        out[u][r] = (
            f"because you rated {titles[int(rated[e])]} {liked.values[e]:g}/{hi:g} "
            f"(taste-profile similarity {sim:.2f})"
        )
    return out


class ItemVectorAbilities:
    """``similar_items``, ``explain``, ``explain_users`` and ``explain_ratings`` of a model
    whose items are rows of a dense matrix (:meth:`_item_vectors`, shape ``(n_items, k)``):
    the cosine of those rows, through the functions above.

    Mixed in before :class:`~movierec.models.base.Recommender` (it uses ``data_``,
    ``items_catalog_`` and ``_check_fitted`` of a fitted model); the model still declares
    these abilities itself.
    """

    data_: Interactions
    items_catalog_: ItemCatalog | None

    if TYPE_CHECKING:  # Recommender's, which comes after this class in the MRO

        def _check_fitted(self) -> None: ...

    def _item_vectors(self) -> np.ndarray:
        """The item vectors the abilities compare: the latent factors by default."""
        return np.asarray(self.item_factors_)

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` movies by cosine similarity of their item vectors
        (:func:`similar_by_factors`)."""
        self._check_fitted()
        return similar_by_factors(self.data_, self._item_vectors(), item_ids, n)

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """The liked movie whose item vector is most cosine-similar to each movie's
        (:func:`explain_from_history`)."""
        self._check_fitted()
        return explain_by_factors(
            self.data_, self.items_catalog_, self._item_vectors(), user_id, item_ids
        )

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch (vectorised; see ``Recommender.explain_users``)."""
        self._check_fitted()
        return explain_users_by_factors(
            self.data_, self.items_catalog_, self._item_vectors(), user_ids, item_ids
        )

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}``."""
        self._check_fitted()
        cols, values = fold_in_columns(self.data_, ratings)
        return explain_from_history(
            self.data_, self.items_catalog_, self._item_vectors(), cols, values, item_ids
        )
