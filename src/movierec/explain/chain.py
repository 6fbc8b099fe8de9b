"""The one explanation policy: every door (CLI, Python, API, store, Spark, new users) asks
an :class:`Explainer`, so one (model, user, movie) always gets one reason.

For each recommended movie the first rung that gives a non-empty reason wins:

1. the model's own reason (:meth:`Recommender.explain`, for a training user);
2. the model's reason from ratings (:meth:`Recommender.explain_ratings`, given the user's
   training ratings, or a new user's ratings);
3. co-rating / genre / reception facts of the training data (:meth:`CoRatings.explain`);
4. a plain generic reason naming the model.

A model returns ``""`` for a movie it cannot justify with a positive reason (it never cites
a zero or negative similarity), so the chain falls through per movie, not per list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from movierec.errors import NotSupportedError
from movierec.explain.corating import CoRatings
from movierec.interactions import ItemCatalog, display_title
from movierec.models.base import Recommender

NO_GENRES = "(no genres listed)"  # ml-latest's marker for an empty genre list


def generic_reason(model_name: str) -> str:
    """The last rung: true of every recommendation."""
    return f"recommended by the {model_name} model"


class Explainer:
    """Explanations over one fitted model, its training data and catalogue (external ids).

    Args:
        model: a fitted model (``data_`` is used; its ``explain`` / ``explain_ratings``).
        catalog: titles and genres; defaults to ``model.items_catalog_``.
        co: precomputed :class:`CoRatings` of ``model.data_`` (built on first use if None).
    """

    def __init__(
        self,
        model: Recommender,
        catalog: ItemCatalog | None = None,
        co: CoRatings | None = None,
    ) -> None:
        self.model = model
        self.data = model.data_
        self._co = co
        catalog = catalog if catalog is not None else model.items_catalog_
        self.titles: dict[int, str] = {}
        self.genres: dict[int, list[str]] = {}
        if catalog is not None:
            frame = catalog.frame
            ids = frame.index.to_numpy(dtype=np.int64).tolist()
            self.titles = dict(zip(ids, frame["title"].astype(str).map(display_title), strict=True))
            self.genres = {
                i: [g for g in str(gs).split("|") if g and g != NO_GENRES]
                for i, gs in zip(ids, frame["genres"], strict=True)
            }

    @property
    def co(self) -> CoRatings:
        """Co-rating statistics of the training data (built once, on first use)."""
        if self._co is None:
            self._co = CoRatings(self.data)
        return self._co

    def title(self, movie_id: int) -> str:
        return self.titles.get(int(movie_id), f"movie {movie_id}")

    def user_ratings(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and ratings of a training user (external ``user_id``)."""
        row = int(self.data.users.index([user_id])[0])
        m = self.data.matrix
        sl = slice(m.indptr[row], m.indptr[row + 1])
        return m.indices[sl], m.data[sl]

    # ------------------------------------------------------------------ the chain
    def for_user(self, user_id: int, movie_ids: Any) -> list[str]:
        """One reason per movie of ``movie_ids`` (shape ``(m,)``) for training user ``user_id``."""
        ids = np.atleast_1d(np.asarray(movie_ids, dtype=np.int64))
        reasons = [""] * ids.size
        can = self.model.abilities
        if "explain" in can:
            _fill(reasons, _ask(self.model.explain, user_id, ids))
        if not all(reasons):
            cols, ratings = self.user_ratings(user_id)
            if "explain_ratings" in can:
                items = self.data.items.ids[cols].tolist()
                rated = dict(zip(items, ratings.astype(float).tolist(), strict=True))
                _fill(reasons, _ask(self.model.explain_ratings, rated, ids))
            if not all(reasons):
                _fill(reasons, self._from_columns(cols, ratings, ids))
        return reasons

    def for_ratings(self, ratings: Mapping[int, float], movie_ids: Any) -> list[str]:
        """One reason per movie for someone outside the training data, from their
        ``{movieId: rating}`` (movies the model does not know are ignored)."""
        ids = np.atleast_1d(np.asarray(movie_ids, dtype=np.int64))
        known = {
            int(m): float(r) for m, r in ratings.items() if int(m) in self.data.items
        }  # the model can only reason from what it was trained on
        reasons = [""] * ids.size
        if known and "explain_ratings" in self.model.abilities:
            _fill(reasons, _ask(self.model.explain_ratings, known, ids))
        if not all(reasons):
            cols = self.data.items.index(list(known)) if known else np.zeros(0, np.int64)
            values = np.fromiter(known.values(), dtype=np.float32, count=len(known))
            _fill(reasons, self._from_columns(cols, values, ids))
        return reasons

    def for_users(self, user_ids: Any, movie_ids: np.ndarray) -> list[list[str]]:
        """:meth:`for_user` for a batch: ``user_ids`` shape ``(b,)``, ``movie_ids`` shape
        ``(b, n)`` with ``-1`` padding (which gets ``""``)."""
        users = np.asarray(user_ids, dtype=np.int64).ravel()
        movies = np.asarray(movie_ids, dtype=np.int64).reshape(users.size, -1)
        out: list[list[str]] = []
        for user, row in zip(users.tolist(), movies, strict=True):
            keep = row >= 0
            reasons = iter(self.for_user(user, row[keep]) if keep.any() else [])
            out.append([next(reasons) if k else "" for k in keep])
        return out

    def frame(self, recommendations: pd.DataFrame) -> pd.DataFrame:
        """A copy of the long frame ``userId, rank, movieId, …`` with ``explanation`` filled.

        One :meth:`for_user` per user and one column assignment for the whole frame.
        """
        out = recommendations.reset_index(drop=True)
        users = out["userId"].to_numpy(dtype=np.int64)
        movies = out["movieId"].to_numpy(dtype=np.int64)
        order = np.argsort(users, kind="stable")
        bounds = np.flatnonzero(np.diff(users[order])) + 1
        reasons = np.empty(len(out), dtype=object)
        for rows in np.split(order, bounds) if len(out) else []:
            reasons[rows] = self.for_user(int(users[rows[0]]), movies[rows])
        return out.assign(explanation=reasons)

    # ------------------------------------------------------------------ rungs 3 and 4
    def _from_columns(
        self, rated_cols: np.ndarray, ratings: np.ndarray, movie_ids: np.ndarray
    ) -> list[str]:
        """Co-rating/genre/reception reasons (:meth:`CoRatings.explain`), else generic."""
        known = self.data.items.contains(movie_ids)
        generic = generic_reason(self.model.name)
        if not known.any():
            return [generic] * movie_ids.size
        rec_cols = self.data.items.index(movie_ids[known])
        rated_ids = self.data.items.ids[rated_cols].tolist()
        titles = [self.title(m) for m in rated_ids]
        genres = [self.genres.get(m, []) for m in rated_ids] + [
            self.genres.get(int(m), []) for m in movie_ids[known]
        ]
        found = iter(self.co.explain(rated_cols, ratings, rec_cols, titles, genres))
        return [(next(found) or generic) if k else generic for k in known]


def _ask(method: Any, *args: Any) -> Sequence[str]:
    """A declared ability's reasons; none if it still declines (e.g. an ensemble whose fitted
    weights leave no part that can explain)."""
    try:
        reasons = method(*args)
    except NotSupportedError:
        return []
    return [str(r) if r else "" for r in reasons]


def _fill(reasons: list[str], found: Sequence[str]) -> None:
    """Fill the empty entries of ``reasons`` from ``found`` (aligned; ignored if not)."""
    if len(found) != len(reasons):
        return
    for i, r in enumerate(found):
        if not reasons[i] and r:
            reasons[i] = r
