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
from typing import TYPE_CHECKING, Any

import numpy as np

from movierec.errors import NotSupportedError
from movierec.explain.corating import CoRatings
from movierec.interactions import ItemCatalog, display_title
from movierec.models.base import Recommender
from movierec.models.common.batch import Histories, batch_shape

if TYPE_CHECKING:
    import pandas as pd

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
            ids = catalog.ids.tolist()
            self.titles = dict(zip(ids, map(display_title, catalog.titles), strict=True))
            self.genres = {
                i: [g for g in gs.split("|") if g and g != NO_GENRES]
                for i, gs in zip(ids, catalog.genres, strict=True)
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
    def _asks_ratings_of_user(self) -> bool:
        """Whether rung 2 can add to rung 1 for a training user (not when the model says its
        ``explain_ratings`` of the user's own ratings repeats its ``explain``)."""
        can = self.model.abilities
        if "explain_ratings" not in can:
            return False
        return not ("explain" in can and self.model.explains_ratings_as_user)

    def for_user(self, user_id: int, movie_ids: Any) -> list[str]:
        """One reason per movie of ``movie_ids`` (shape ``(m,)``) for training user ``user_id``."""
        ids = np.atleast_1d(np.asarray(movie_ids, dtype=np.int64))
        reasons = [""] * ids.size
        if "explain" in self.model.abilities:
            _fill(reasons, _ask(self.model.explain, user_id, ids))
        if not all(reasons):
            cols, ratings = self.user_ratings(user_id)
            if self._asks_ratings_of_user():
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

    def for_users(self, user_ids: Any, movie_ids: Any) -> list[list[str]]:
        """:meth:`for_user` for a batch, rung by rung: ``user_ids`` shape ``(b,)``,
        ``movie_ids`` shape ``(b, n)`` with ``-1`` padding (which gets ``""``).

        Rung 1 is the model's batch :meth:`~Recommender.explain_users`; rung 2 asks
        ``explain_ratings`` only for users with a movie still unexplained (and not at all when
        it would repeat rung 1); rung 3 is :meth:`CoRatings.explain_many` over every movie
        still unexplained. The reasons equal :meth:`for_user`'s, user by user.
        """
        users, movies = batch_shape(user_ids, movie_ids)
        b, n = movies.shape
        valid = movies >= 0
        reasons: list[list[str]] = [[""] * n for _ in range(b)]
        if "explain" in self.model.abilities:
            found = _ask_batch(self.model.explain_users, users, movies)
            if len(found) == b:
                for row, got in zip(reasons, found, strict=True):
                    _fill(row, got)
        todo = [
            a
            for a, row in enumerate(reasons)
            if any(v and not r for r, v in zip(row, valid[a].tolist(), strict=True))
        ]
        if todo and self._asks_ratings_of_user():
            for a in todo:
                keep = np.flatnonzero(valid[a])
                cols, ratings = self.user_ratings(int(users[a]))
                items = self.data.items.ids[cols].tolist()
                rated = dict(zip(items, ratings.astype(float).tolist(), strict=True))
                got = _ask(self.model.explain_ratings, rated, movies[a, keep])
                if len(got) == keep.size:
                    for r, why in zip(keep.tolist(), got, strict=True):
                        reasons[a][r] = reasons[a][r] or why
        pairs = [(a, r) for a in todo for r in range(n) if valid[a, r] and not reasons[a][r]]
        if pairs:
            need = np.array(sorted({a for a, _ in pairs}), dtype=np.int64)
            slot = {int(a): i for i, a in enumerate(need.tolist())}
            hist = Histories.of_rows(self.data, self.data.users.index(users[need]))
            who = np.array([slot[a] for a, _ in pairs], dtype=np.int64)
            ids = np.array([movies[a, r] for a, r in pairs], dtype=np.int64)
            for (a, r), why in zip(pairs, self._from_histories(hist, who, ids), strict=True):
                reasons[a][r] = why
        return reasons

    def frame(self, recommendations: pd.DataFrame, batch_size: int = 2048) -> pd.DataFrame:
        """A copy of the long frame ``userId, rank, movieId, …`` with ``explanation`` filled.

        Users are explained ``batch_size`` at a time (:meth:`for_users`), each user's rows in
        their order in the frame; one column assignment for the whole frame.
        """
        out = recommendations.reset_index(drop=True)
        users = out["userId"].to_numpy(dtype=np.int64)
        movies = out["movieId"].to_numpy(dtype=np.int64)
        reasons = np.empty(len(out), dtype=object)
        if len(out):
            order = np.argsort(users, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(users[order]) != 0])
            sizes = np.diff(np.r_[starts, order.size])
            place = np.arange(order.size) - np.repeat(starts, sizes)
            grid = np.full((starts.size, int(sizes.max())), -1, dtype=np.int64)
            owner = np.repeat(np.arange(starts.size), sizes)
            grid[owner, place] = movies[order]
            who = users[order[starts]]
            for a in range(0, who.size, batch_size):
                got = self.for_users(who[a : a + batch_size], grid[a : a + batch_size])
                block = (owner >= a) & (owner < a + batch_size)
                flat = np.array([r for row in got for r in row], dtype=object)
                reasons[order[block]] = flat.reshape(-1, grid.shape[1])[
                    owner[block] - a, place[block]
                ]
        return out.assign(explanation=reasons)

    # ------------------------------------------------------------------ rungs 3 and 4
    def _from_columns(
        self, rated_cols: np.ndarray, ratings: np.ndarray, movie_ids: np.ndarray
    ) -> list[str]:
        """Co-rating/genre/reception reasons (:meth:`CoRatings.explain`), else generic."""
        hist = Histories.of_one(rated_cols, np.asarray(ratings, dtype=np.float64))
        return self._from_histories(hist, np.zeros(movie_ids.size, np.int64), movie_ids)

    def _from_histories(
        self, hist: Histories, pair_user: np.ndarray, movie_ids: np.ndarray
    ) -> list[str]:
        """Rungs 3 and 4 for movie ``movie_ids[p]`` of user ``pair_user[p]`` (of ``hist``):
        :meth:`CoRatings.explain_many` for the movies the training data knows, else the
        generic reason."""
        known = self.data.items.contains(movie_ids)
        generic = generic_reason(self.model.name)
        if not known.any():
            return [generic] * movie_ids.size
        rec_cols = self.data.items.index(movie_ids[known])
        ids = self.data.items.ids

        def title(col: int) -> str:
            return self.title(int(ids[col]))

        def genres(col: int) -> list[str]:
            return self.genres.get(int(ids[col]), [])

        found = iter(self.co.explain_many(hist, pair_user[known], rec_cols, title, genres))
        return [(next(found) or generic) if k else generic for k in known]


def _ask_batch(method: Any, *args: Any) -> list[list[str]]:
    """:func:`_ask` for a batch method (lists of reasons per user)."""
    try:
        found = method(*args)
    except NotSupportedError:
        return []
    return [[str(r) if r else "" for r in row] for row in found]


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
