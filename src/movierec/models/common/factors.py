"""Item similarities and reasons from item vectors (latent factors, autoencoder codes).

Shared by every model whose items are rows of a dense matrix: the biased MF family
(:mod:`movierec.models.mf`), the implicit-feedback factor models and I-AutoRec.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.common.reasons import explained_columns, movie_title
from movierec.models.common.topk import top_ids

__all__ = ["explain_by_factors", "explain_from_history", "similar_by_factors"]


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
    row = int(data.users.index(np.array([user_id]))[0])
    start, end = data.matrix.indptr[row], data.matrix.indptr[row + 1]
    seen = data.matrix.indices[start:end]
    ratings = data.matrix.data[start:end].astype(np.float64)
    return explain_from_history(data, catalog, item_factors, seen, ratings, item_ids)


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
    cols, valid = explained_columns(data, item_ids)
    if seen.size == 0:
        return [""] * cols.size
    liked = ratings >= ratings.mean()
    seen, ratings = seen[liked], ratings[liked]
    unit = _unit_rows(item_factors)
    sims = unit[cols] @ unit[seen].T  # (b, n_liked)
    out: list[str] = []
    for r in range(cols.size):
        best = int(np.argmax(sims[r]))
        if not valid[r] or round(float(sims[r, best]), 2) <= 0:
            out.append("")
            continue
        title = movie_title(catalog, int(data.items.ids[seen[best]]))
        out.append(
            f"because you rated {title} {ratings[best]:g}/{data.rating_scale[1]:g} "
            f"(taste-profile similarity {sims[r, best]:.2f})"
        )
    return out
