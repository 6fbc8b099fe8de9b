"""Wording shared by the models' explanations.

The convention every model follows (see :meth:`~movierec.models.base.Recommender.explain`):
a reason is a short true sentence; a number it cites as a similarity, weight or share is
positive as printed; an item the model cannot justify with such a reason gets ``""``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.interactions import Interactions, ItemCatalog

__all__ = ["explained_columns", "explained_grid", "movie_title", "share_text", "stars"]


def explained_columns(data: Interactions, item_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(cols, valid)`` for the movies to explain: column indices (0 at padding) and a
    mask of the real ids (``-1`` is the padding of :meth:`Recommender.recommend`), both
    shape ``(b,)``; an unknown id raises :class:`~movierec.errors.UnknownIdError`."""
    ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))
    valid = ids >= 0
    cols = np.zeros(ids.size, dtype=np.int64)
    cols[valid] = data.items.index(ids[valid])
    return cols, valid


def explained_grid(
    data: Interactions, item_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """:func:`explained_columns` for a batch ``item_ids`` of shape ``(b, n)``: ``cols`` and
    ``valid`` reshaped to ``(b, n)``, and the ``b`` lists of ``n`` empty reasons to fill."""
    b, n = item_ids.shape
    cols, valid = explained_columns(data, item_ids.ravel())
    return cols.reshape(b, n), valid.reshape(b, n), [[""] * n for _ in range(b)]


def movie_title(catalog: ItemCatalog | None, movie_id: int) -> str:
    """Title of ``movie_id`` from ``catalog`` in natural word order, else ``"movie <id>"``."""
    if catalog is not None and int(movie_id) in catalog:
        return catalog.display_title(int(movie_id))
    return f"movie {int(movie_id)}"


def stars(rating: float) -> str:
    """A rating as stars: ``4★``, ``3.5★``."""
    return f"{rating:.1f}★" if rating % 1 else f"{int(rating)}★"


def share_text(share: float) -> str:
    """A positive share as a percentage, ``37%``; below half a percent ``<1%`` (never ``0%``)."""
    return f"{share:.0%}" if share >= 0.005 else "<1%"
