"""Batch explanations: many users' lists at once, for every model family.

:meth:`~movierec.models.base.Recommender.explain_users` takes ``user_ids`` of shape
``(b,)`` and ``item_ids`` of shape ``(b, n)`` (``-1`` padding) and returns ``b`` lists of
``n`` reasons. The vectorised implementations share the shapes below:

* :class:`Histories`: the rated columns and values of ``b`` users as one CSR block
  (``indptr`` shape ``(b + 1,)``, ``cols`` and ``values`` shape ``(nnz,)``);
* :func:`segment_argmax`: per user (a CSR segment of rows) and per recommended movie
  (a column), the largest value and the first row that holds it (``np.argmax``'s tie rule);
* :func:`titles_of`: titles of many movies in one catalogue look-up.

Each model's one-user :meth:`explain` is its batch form with ``b = 1``, so both give the
same reasons by construction (every reduction here is per user, never across users).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from movierec.interactions import Interactions, ItemCatalog

__all__ = [
    "Histories",
    "batch_shape",
    "chunks",
    "segment_argmax",
    "titles_of",
]


def batch_shape(user_ids: Any, item_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(users (b,), items (b, n))`` int64 from a batch request (one list per user)."""
    users = np.atleast_1d(np.asarray(user_ids, dtype=np.int64)).ravel()
    items = np.asarray(item_ids, dtype=np.int64).reshape(users.size, -1)
    return users, items


@dataclass(frozen=True)
class Histories:
    """The rated columns of ``b`` users as CSR.

    Attributes:
        indptr: shape ``(b + 1,)``; user ``u``'s entries are ``indptr[u]:indptr[u + 1]``.
        cols: shape ``(nnz,)`` item column indices.
        values: shape ``(nnz,)`` float64 ratings (or a model's input values).
    """

    indptr: np.ndarray
    cols: np.ndarray
    values: np.ndarray

    @classmethod
    def of_rows(cls, data: Interactions, rows: np.ndarray) -> Histories:
        """The training ratings of user rows ``rows`` (in that order)."""
        sub = data.matrix[np.asarray(rows, dtype=np.int64)]
        return cls(
            sub.indptr.astype(np.int64),
            sub.indices.astype(np.int64),
            sub.data.astype(np.float64),
        )

    @classmethod
    def of_one(cls, cols: np.ndarray, values: np.ndarray) -> Histories:
        """One user's history (e.g. a new user's folded-in ratings)."""
        cols = np.asarray(cols, dtype=np.int64)
        return cls(
            np.array([0, cols.size], dtype=np.int64),
            cols,
            np.asarray(values, dtype=np.float64),
        )

    @property
    def n_users(self) -> int:
        return int(self.indptr.size - 1)

    @property
    def counts(self) -> np.ndarray:
        """Entries per user, shape ``(b,)``."""
        return np.diff(self.indptr)

    def owner(self) -> np.ndarray:
        """The user (0..b-1) of every entry, shape ``(nnz,)``."""
        return np.repeat(np.arange(self.n_users), self.counts)

    def select(self, keep: np.ndarray) -> Histories:
        """The entries where ``keep`` (shape ``(nnz,)``) is true, users unchanged."""
        kept = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.owner()[keep], minlength=self.n_users), out=kept[1:])
        return Histories(kept, self.cols[keep], self.values[keep])

    def user_means(self) -> np.ndarray:
        """Mean value per user, shape ``(b,)`` (0 for a user without entries)."""
        counts = self.counts
        sums = np.zeros(self.n_users)
        has = counts > 0
        if has.any():
            sums[has] = np.add.reduceat(self.values, self.indptr[:-1][has])
        return np.divide(sums, counts, out=np.zeros_like(sums), where=has)


def chunks(indptr: np.ndarray, max_entries: int) -> Iterator[tuple[int, int]]:
    """User ranges ``[a, b)`` of a CSR block whose entries stay under ``max_entries`` (a
    single user above it is a range of its own)."""
    n = indptr.size - 1
    a = 0
    while a < n:
        b = int(np.searchsorted(indptr, indptr[a] + max_entries, side="right")) - 1
        b = min(max(b, a + 1), n)
        yield a, b
        a = b


def segment_argmax(values: np.ndarray, indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment and column: the maximum and the first row index holding it.

    Args:
        values: shape ``(E, n)``; rows grouped in segments (users) by ``indptr``.
        indptr: shape ``(b + 1,)`` segment bounds into the rows of ``values``.

    Returns:
        ``(best, row)``, each shape ``(b, n)``: the maximum over the segment's rows (``-inf``
        for an empty segment) and the global row index of its first occurrence (``-1`` for
        an empty segment), as ``np.argmax`` would pick within each segment.
    """
    b = indptr.size - 1
    n = values.shape[1] if values.ndim == 2 else 0
    best = np.full((b, n), -np.inf)
    row = np.full((b, n), -1, dtype=np.int64)
    has = np.diff(indptr) > 0
    if not has.any() or n == 0:
        return best, row
    starts = indptr[:-1][has]
    top = np.maximum.reduceat(values, starts, axis=0)
    seg = np.repeat(np.arange(starts.size), np.diff(indptr)[has])
    at = np.where(values == top[seg], np.arange(values.shape[0])[:, None], values.shape[0])
    best[has] = top
    row[has] = np.minimum.reduceat(at, starts, axis=0)
    return best, row


def titles_of(catalog: ItemCatalog | None, movie_ids: Any) -> dict[int, str]:
    """``{movieId: title}`` for the distinct ``movie_ids`` (``"movie <id>"`` when the catalogue
    does not have it), in one look-up."""
    ids = np.unique(np.asarray(movie_ids, dtype=np.int64))
    out = {int(m): f"movie {int(m)}" for m in ids}
    if catalog is not None and ids.size:
        for m, p in zip(ids.tolist(), catalog.positions(ids).tolist(), strict=True):
            if p >= 0:
                out[m] = catalog.titles[p]
    return out
