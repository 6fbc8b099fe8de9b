"""What the API does, independent of HTTP: the routes only call these methods.

:class:`Serving` is built once per process around one fitted model (and optionally the
store); every method takes and returns MovieLens ids and :mod:`movierec.api.schemas` bodies.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from movierec import __version__
from movierec.api import metrics, schemas
from movierec.api.storehandle import StoreHandle, store_errors
from movierec.data.datasets import RatingScale
from movierec.errors import (
    DataError,
    MovieRecError,
    NotSupportedError,
    StoreError,
    UnknownIdError,
)
from movierec.explain import CoRatings, generic_reason
from movierec.interactions import ItemCatalog, display_title
from movierec.models.base import Recommender
from movierec.store import queries
from movierec.store import ratings as feedback
from movierec.topn import Recommendation, TopN

log = logging.getLogger(__name__)

NO_GENRES = "(no genres listed)"  # ml-latest's marker for an empty genre list
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class FieldError(DataError):
    """A request field is invalid; rendered like FastAPI's own 422 validation errors."""

    http_status = 422

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        super().__init__(f"{'.'.join(map(str, loc))}: {msg}")
        self.loc = list(loc)
        self.msg = msg


@contextmanager
def _counted(operation: str) -> Iterator[None]:
    """Count a :class:`StoreError` in ``movierec_store_errors_total{operation}``."""
    try:
        yield
    except StoreError:
        metrics.STORE_ERRORS.labels(operation=operation).inc()
        raise


def fold_text(text: str) -> str:
    """Lower-case, accent-free form used for title search (``'Á köldum' -> 'a koldum'``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@dataclass(frozen=True)
class Lookup:
    """What the store says about a user before recommending (one session).

    Exactly one of ``stored`` (the stored top-N of an untouched user) and ``changed`` (the
    current ratings of a user who wrote after the model's ratings were read) is set, or
    neither (the live model answers).
    """

    stored: schemas.UserRecommendations | None = None
    changed: list[feedback.StoredRating] | None = None


class Serving:
    """One fitted model, its catalogue, co-rating statistics, and the store it reads.

    The methods are blocking (model work, store reads and writes): the routes run them
    through the gates (:mod:`movierec.api.gates`), never on the event loop. A method that
    uses the store opens a session for that read or write only (a write is one committed
    transaction: it is durable when the method returns).

    A server replaces its :class:`Serving` as a whole when the production version changes
    (:mod:`movierec.api.swap`); a request keeps the one it started with.

    Args:
        model: a fitted :class:`Recommender` (``data_`` holds the training interactions).
        store: the store (``StoreHandle(None)``: serve from the live model only).
        reports_dir: where evaluation reports live (``reports/<protocol>/leaderboard.json``).
        scale: the dataset's rating scale (writes must be on it); the model's bounds in
            whole stars if None.
        version: the registered model version of ``model`` (``None``: unregistered).
        ratings_as_of: Unix time the model's training ratings were read from the store
            (:attr:`VersionInfo.ratings_as_of <movierec.store.versions.VersionInfo>`):
            users who wrote later are folded in; ``None``: every user who ever wrote.
        admin_token: a token that may write any user's ratings (``MOVIEREC_ADMIN_TOKEN``;
            ``None``: there is no admin).
    """

    def __init__(
        self,
        model: Recommender,
        store: StoreHandle | None = None,
        reports_dir: Path | None = None,
        *,
        scale: RatingScale | None = None,
        version: int | None = None,
        ratings_as_of: float | None = None,
        admin_token: str | None = None,
    ) -> None:
        model._check_fitted()
        self.model = model
        self.data = model.data_
        self.reports_dir = reports_dir
        lo, hi = self.data.rating_scale
        self.scale = scale if scale is not None else RatingScale(lo, hi, 1.0)
        self.version = version
        self.ratings_as_of = ratings_as_of
        self._admin_hash = feedback.token_hash(admin_token) if admin_token else None
        self.store = store if store is not None else StoreHandle(None)
        self.store.check()
        self.co = CoRatings(self.data)
        catalog = model.items_catalog_
        if catalog is None and self.store.available():
            with self.store.session() as db:
                catalog = queries.load_movies(db)
        self._build_movies(catalog)
        self.top_n = TopN(model, catalog, self.co)
        self.explainer = self.top_n.explainer
        self._runs: dict[int, queries.RunInfo] = {}
        self._current: tuple[float, schemas.RunOut | None] = (-math.inf, None)

    def warm_up(self) -> None:
        """Load the model's compiled kernels (:meth:`Recommender.warm_up`), then run each
        model path once so JIT-compiled kernels (numba) compile before traffic."""
        self.model.warm_up()
        user = int(self.data.users.ids[0])
        item = int(self.data.items.ids[int(np.argmax(self.co.n_raters))])
        calls = (
            lambda: self.live_recommendations(user, 10),
            lambda: self.new_user_recommendations(
                [schemas.RatingIn(movieId=item, rating=self.data.rating_scale[1])], 10
            ),
            lambda: self.similar_movies(item, 10),
        )
        for call in calls:
            try:
                call()
            except MovieRecError as exc:  # a model that cannot: the route will say so
                log.info("warm-up: %s", exc)

    # ------------------------------------------------------------------ catalogue
    def _build_movies(self, catalog: ItemCatalog | None) -> None:
        item_ids = self.data.items.ids
        ids = item_ids if catalog is None else np.union1d(catalog.frame.index.to_numpy(), item_ids)
        frame = pd.DataFrame(index=pd.Index(ids, name="movieId"))
        if catalog is not None:
            frame = frame.join(catalog.frame[["title", "year", "genres"]])
        else:
            frame["title"], frame["year"], frame["genres"] = None, pd.NA, ""
        raw = frame["title"].fillna(pd.Series(ids, index=ids).map("movie {}".format)).astype(str)
        frame["title"] = raw.map(display_title)
        frame["genres"] = frame["genres"].fillna("")
        n = np.zeros(ids.size, dtype=np.int64)
        mean = np.full(ids.size, np.nan)
        pos = np.searchsorted(ids, item_ids)
        n[pos] = self.co.n_raters
        mean[pos] = np.where(self.co.n_raters > 0, self.co.mean_rating, np.nan)
        self.movie_ids = ids
        self._popularity = n
        # searched in both word orders ("the godfather", "godfather, the"); sorted by the first
        self._folded = [
            f"{fold_text(shown)}\n{fold_text(release)}"
            for shown, release in zip(frame["title"], raw, strict=True)
        ]
        self.movies: dict[int, schemas.Movie] = {}
        for i, (mid, row) in enumerate(frame.iterrows()):  # once at start-up
            year = row["year"]
            self.movies[int(mid)] = schemas.Movie(
                id=int(mid),
                title=str(row["title"]),
                year=None if pd.isna(year) else int(year),
                genres=[g for g in str(row["genres"]).split("|") if g and g != NO_GENRES],
                n_ratings=int(n[i]),
                mean_rating=None if np.isnan(mean[i]) else round(float(mean[i]), 3),
            )
        self.genres = sorted({g for m in self.movies.values() for g in m.genres})
        self._genre_lower = {g.lower(): g for g in self.genres}

    def movie(self, movie_id: int) -> schemas.Movie:
        """The movie ``movie_id``; :class:`UnknownIdError` if it is not in the catalogue."""
        found = self.movies.get(int(movie_id))
        if found is None:
            raise UnknownIdError(f"unknown movie id: {movie_id}")
        return found

    def _movie_or_stub(self, movie_id: int) -> schemas.Movie:
        found = self.movies.get(int(movie_id))
        return (
            found
            if found is not None
            else schemas.Movie(id=int(movie_id), title=f"movie {movie_id}")
        )

    def search_movies(
        self, query: str | None, genre: str | None, limit: int, offset: int = 0
    ) -> schemas.MovieList:
        """Movies whose title contains ``query`` (case/accent-insensitive, in the natural or
        the release's word order) and have ``genre``: ``limit`` of them from ``offset`` on.

        Ordered by number of training ratings (most first), then title.
        """
        genre_name = None
        if genre:
            genre_name = self._genre_lower.get(genre.strip().lower())
            if genre_name is None:
                raise FieldError(
                    ["query", "genre"], f"unknown genre {genre!r}; one of: {', '.join(self.genres)}"
                )
        needle = fold_text(query.strip()) if query else ""
        hits = [
            i
            for i, t in enumerate(self._folded)
            if needle in t
            and (genre_name is None or genre_name in self.movies[int(self.movie_ids[i])].genres)
        ]
        order = sorted(hits, key=lambda i: (-self._popularity[i], self._folded[i]))
        page = order[offset : offset + limit]
        return schemas.MovieList(
            total=len(order),
            offset=offset,
            movies=[self.movies[int(self.movie_ids[i])] for i in page],
        )

    # ------------------------------------------------------------------ similar movies
    def similar_movies(self, movie_id: int, n: int) -> schemas.SimilarMovies:
        """The ``n`` movies most similar to ``movie_id`` (the model's notion if it has one)."""
        movie = self.movie(movie_id)
        if movie_id not in self.data.items:
            raise UnknownIdError(f"movie {movie_id} has no ratings in the training data")
        col = int(self.data.items.index([movie_id])[0])
        try:
            ids, scores = self.model.similar_items([movie_id], n)
            keep = ids[0] >= 0
            sim_ids, sim_scores = ids[0][keep], scores[0][keep]
            cols = self.data.items.index(sim_ids)
            method = "model"
        except NotSupportedError:
            cols, sim_scores = self.co.similar(col, n)
            sim_ids = self.data.items.ids[cols]
            method = "co-rating cosine"
        co = self.co.co_raters(col, cols)
        similar = [
            schemas.SimilarMovie(
                movie=self._movie_or_stub(int(mid)),
                score=float(s),
                explanation=f"{int(c)} people rated both movies",
            )
            for mid, s, c in zip(sim_ids, sim_scores, co, strict=True)
        ]
        return schemas.SimilarMovies(movie=movie, method=method, similar=similar)

    # ------------------------------------------------------------------ known users
    def _user_ratings(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        return self.explainer.user_ratings(user_id)

    def _recommended(
        self, ids: np.ndarray, scores: np.ndarray | Sequence[float], reasons: list[str]
    ) -> list[schemas.RecommendedMovie]:
        return [
            schemas.RecommendedMovie(
                rank=k, movie=self._movie_or_stub(int(m)), score=float(s), explanation=r
            )
            for k, (m, s, r) in enumerate(zip(ids, scores, reasons, strict=True), 1)
        ]

    def _listed(self, recs: Sequence[Recommendation]) -> list[schemas.RecommendedMovie]:
        """:meth:`_recommended` of :class:`~movierec.topn.TopN`'s recommendations."""
        return self._recommended(
            np.array([r.movie_id for r in recs], dtype=np.int64),
            [r.score for r in recs],
            [r.explanation for r in recs],
        )

    def live_recommendations(self, user_id: int, n: int) -> schemas.UserRecommendations:
        """Top-``n`` unseen movies for a training user, computed now by the model."""
        rec_ids, rec_scores = self.top_n.ranked(user_id, n)
        reasons = self.explainer.for_user(user_id, rec_ids)
        return schemas.UserRecommendations(
            user_id=user_id,
            source="live",
            model=self.model.name,
            model_version=self.version,
            recommendations=self._recommended(rec_ids, rec_scores, reasons),
        )

    def _run(self, db: Connection, run_id: int) -> queries.RunInfo:
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = queries.get_run(db, run_id)
        return run

    def lookup(self, user_id: int, n: int, model: str | None = None) -> Lookup:
        """Whether ``user_id`` changed since the model's ratings were read (then their
        current ratings) or else their stored top-``n`` (:meth:`stored_recommendations`):
        one session, a primary-key read more than the stored top-N alone. A store that
        fails degrades to the stored or live answer, never a 5xx."""
        if not self.store.available():
            return Lookup()
        if model is None or model == self.model.name:
            try:
                with self.store.session() as db:
                    changed = feedback.changed_ratings(db, user_id, self.ratings_as_of)
            except SQLAlchemyError as exc:
                metrics.STORE_ERRORS.labels(operation="read").inc()
                log.warning("store read failed, serving the stored or live top-N: %s", exc)
                changed = None
            if changed is not None:
                return Lookup(changed=changed)
        stored = self.stored_recommendations(user_id, n, model)
        if stored is None and model is None and user_id not in self.data.users:
            try:  # a user created through the API who has not rated yet: popularity
                with self.store.session() as db:
                    if feedback.user_exists(db, user_id):
                        return Lookup(changed=[])
            except SQLAlchemyError as exc:
                metrics.STORE_ERRORS.labels(operation="read").inc()
                log.warning("store read failed: %s", exc)
        return Lookup(stored=stored)

    def folded_recommendations(
        self, user_id: int, ratings: Sequence[feedback.StoredRating], n: int
    ) -> schemas.UserRecommendations:
        """Top-``n`` from ``user_id``'s current ratings (:meth:`TopN.for_history`: the
        model's fold-in, else item-neighbourhood, else popularity), no retraining; rated
        movies are never recommended."""
        started = time.perf_counter()
        result = self.top_n.for_history({r.movie_id: r.rating for r in ratings}, n)
        metrics.FOLD_IN.labels(method=result.method).observe(time.perf_counter() - started)
        recs = result.recommendations
        return schemas.UserRecommendations(
            user_id=user_id,
            source="fold-in",
            model=self.model.name,
            model_version=self.version,
            method=result.method,
            recommendations=self._listed(recs),
        )

    def stored_recommendations(
        self, user_id: int, n: int, model: str | None = None
    ) -> schemas.UserRecommendations | None:
        """A user's top-``n`` from the store's current run (or ``model``'s newest complete
        run; for a registered version, that version's newest complete run, so a rolled-back
        server answers what the restored version stored), or ``None`` when the live model
        should answer instead: no store, nothing stored for the user (or by the version),
        or fewer than ``n`` stored while the live model can give ``n``.

        One indexed query on a session closed before anything else is done.
        """
        if not self.store.available():
            return None
        try:
            with self.store.session() as db:
                stored = queries.user_recommendations(db, user_id, n, model, version=self.version)
                run = self._run(db, stored[0]) if stored is not None else None
        except SQLAlchemyError as exc:  # degrade to the live model, never a 5xx
            metrics.STORE_ERRORS.labels(operation="read").inc()
            log.warning("store read failed, serving live: %s", exc)
            return None
        if stored is None or run is None:
            return None
        if len(stored[1]) < n and self._live_ok(user_id, model):
            return None
        return self._from_store(user_id, run, stored[1])

    def _live_ok(self, user_id: int, model: str | None) -> bool:
        return user_id in self.data.users and (model is None or model == self.model.name)

    def fallback_recommendations(
        self, user_id: int, n: int, model: str | None = None
    ) -> schemas.UserRecommendations:
        """The live model's top-``n`` when the store cannot answer.

        Raises:
            UnknownIdError: the user is not in the training data, or ``model`` is neither
                stored nor the live model.
        """
        if self._live_ok(user_id, model):
            return self.live_recommendations(user_id, n)
        if model is not None and model != self.model.name:
            raise UnknownIdError(
                f"no stored recommendations of model {model!r} for user {user_id}; "
                f"the live model is {self.model.name!r}"
            )
        raise UnknownIdError(f"unknown user id: {user_id}")

    def _from_store(
        self, user_id: int, run: queries.RunInfo, rows: list[queries.StoredRecommendation]
    ) -> schemas.UserRecommendations:
        ids = np.array([r.movie_id for r in rows], dtype=np.int64)
        reasons = [r.explanation for r in rows]
        if not all(reasons):  # a run stored without explanations
            if user_id in self.data.users and run.model == self.model.name:
                fill = self.explainer.for_user(user_id, ids)
            else:
                fill = [generic_reason(run.model)] * len(rows)
            reasons = [r or g for r, g in zip(reasons, fill, strict=True)]
        return schemas.UserRecommendations(
            user_id=user_id,
            source="store",
            model=run.model,
            run_id=run.id,
            recommendations=self._recommended(ids, [r.score for r in rows], reasons),
        )

    def stored_history(self, user_id: int, limit: int) -> schemas.UserHistory | None:
        """The user's current ratings in the store, best first then most recent; ``None``
        when the store does not know the user (then :meth:`user_history` answers)."""
        if not self.store.available():
            return None
        with store_errors(), self.store.session() as db:
            if not feedback.user_exists(db, user_id):
                return None
            rows = feedback.ratings_of(db, user_id)
        order = sorted(rows, key=lambda r: (-r.rating, -r.updated, r.movie_id))[:limit]
        return schemas.UserHistory(
            user_id=user_id,
            source="store",
            n_ratings=len(rows),
            ratings=[
                schemas.RatedMovie(
                    movie=self._movie_or_stub(r.movie_id),
                    rating=r.rating,
                    timestamp=int(r.updated),
                )
                for r in order
            ],
        )

    def user_history(self, user_id: int, limit: int) -> schemas.UserHistory:
        """A training user's ratings, best first then most recent."""
        cols, ratings = self._user_ratings(user_id)
        ts = np.zeros(cols.size, dtype=np.int64)
        if self.data.timestamps is not None:
            row = int(self.data.users.index([user_id])[0])
            t = self.data.timestamps
            ts = t.data[t.indptr[row] : t.indptr[row + 1]].astype(np.int64)
        order = np.lexsort((-ts, -ratings))[:limit]
        has_ts = self.data.timestamps is not None
        return schemas.UserHistory(
            user_id=user_id,
            n_ratings=int(cols.size),
            ratings=[
                schemas.RatedMovie(
                    movie=self._movie_or_stub(int(self.data.items.ids[cols[i]])),
                    rating=float(ratings[i]),
                    timestamp=int(ts[i]) if has_ts else None,
                )
                for i in order
            ],
        )

    # ------------------------------------------------------------------ writes
    def _engine(self) -> Any:
        if self.store.engine is None:
            raise StoreError("no store configured: ratings cannot be written")
        if not self.store.available():
            raise StoreError("the store has no schema yet; run 'movierec import' first")
        return self.store.engine

    def writer_token(self, token: str) -> str | None:
        """The token to check against the user's (``None``: ``token`` is the admin token,
        which may write to any user)."""
        if self._admin_hash is not None and hmac.compare_digest(
            self._admin_hash, feedback.token_hash(token)
        ):
            return None
        return token

    def create_user(self) -> schemas.NewUser:
        """A new user with a fresh token (committed when this returns)."""
        with _counted("write"):
            after = int(self.data.users.ids.max()) if self.data.n_users else 0
            user_id, token = feedback.create_user(self._engine(), after=after)
        return schemas.NewUser(id=user_id, token=token)

    def _check_rating(self, rating: float) -> float:
        value = float(rating)
        if not math.isfinite(value) or bool(self.scale.invalid(np.array([value]))[0]):
            raise FieldError(
                ["body", "rating"], f"rating {value:g} is not on the {self.scale.describe()} scale"
            )
        return value

    def put_rating(
        self, user_id: int, movie_id: int, rating: float, token: str
    ) -> schemas.StoredRatingOut:
        """Set ``user_id``'s rating of ``movie_id``: one committed transaction (durable when
        this returns). ``token`` must be the user's or the admin's.

        Raises:
            FieldError: off the scale (422). UnknownIdError: unknown movie or user (404).
            ForbiddenError: not the user's token (403). StoreError: the store failed (503).
        """
        value = self._check_rating(rating)
        self.movie(movie_id)  # 404 before any store work
        with _counted("write"):
            done = feedback.put_rating(
                self._engine(),
                user_id,
                movie_id,
                value,
                scale=self.scale,
                token=self.writer_token(token),
            )
        return schemas.StoredRatingOut(
            user_id=done.user_id, movie_id=done.movie_id, rating=done.rating, updated=done.updated
        )

    def delete_rating(self, user_id: int, movie_id: int, token: str) -> bool:
        """Remove ``user_id``'s rating of ``movie_id`` (idempotent; committed when this
        returns); ``True`` if there was one. Errors as :meth:`put_rating`."""
        self.movie(movie_id)
        with _counted("write"):
            return feedback.delete_rating(
                self._engine(), user_id, movie_id, token=self.writer_token(token)
            )

    # ------------------------------------------------------------------ new users
    def _check_ratings(self, ratings: Sequence[schemas.RatingIn]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array([r.movieId for r in ratings], dtype=np.int64)
        vals = np.array([r.rating for r in ratings], dtype=np.float64)
        lo, hi = self.data.rating_scale
        bad = np.flatnonzero(~((vals >= lo) & (vals <= hi)))
        if bad.size:
            raise FieldError(
                ["body", "ratings", int(bad[0]), "rating"],
                f"rating {vals[bad[0]]:g} is outside the rating scale {lo:g}-{hi:g}",
            )
        unknown = np.flatnonzero([int(m) not in self.movies for m in ids])
        if unknown.size:
            raise FieldError(
                ["body", "ratings", int(unknown[0]), "movieId"],
                f"unknown movie id {ids[unknown[0]]} (not in the catalogue)",
            )
        _, first, counts = np.unique(ids, return_index=True, return_counts=True)
        if np.any(counts > 1):
            dup = int(np.setdiff1d(np.arange(ids.size), first)[0])
            raise FieldError(
                ["body", "ratings", dup, "movieId"], f"movie id {ids[dup]} is rated twice"
            )
        return ids, vals

    def new_user_recommendations(
        self, ratings: Sequence[schemas.RatingIn], n: int
    ) -> schemas.NewUserRecommendations:
        """Top-``n`` for someone outside the training data, from their ratings, no retraining
        (:meth:`TopN.for_history`: the model's fold-in, else item-neighbourhood scoring).
        Rated movies are never recommended; rated movies without training ratings cannot
        inform the model and are listed in ``ignored``."""
        ids, vals = self._check_ratings(ratings)
        result = self.top_n.for_history(dict(zip(ids.tolist(), vals.tolist(), strict=True)), n)
        recs = result.recommendations
        return schemas.NewUserRecommendations(
            model=self.model.name,
            method=result.method,
            ignored=result.ignored,
            recommendations=self._listed(recs),
        )

    # ------------------------------------------------------------------ runs & reports
    def current_run_age(self) -> float:
        """Seconds since :meth:`read_current_run` last ran (``inf`` if never)."""
        return time.monotonic() - self._current[0]

    def read_current_run(self) -> None:
        """Read the store's current run for :meth:`health` (blocking: off the event loop)."""
        run = None
        if self.store.available():
            try:
                with self.store.session() as db:
                    info = queries.current_run(db)
                run = schemas.RunOut(**info.as_dict()) if info else None
            except SQLAlchemyError as exc:
                log.warning("store read failed: %s", exc)
                self.store.detail = f"read failed: {exc.__class__.__name__}"
        self._current = (time.monotonic(), run)

    def health(self) -> schemas.Health:
        """The loaded model, the current stored run as last read (:meth:`read_current_run`)
        and the store's kind and name. Does no I/O: cheap enough for the event loop."""
        run = self._current[1]
        abilities: list[str] = [
            name
            for name in ("predict", "similar_items", "fold_in", "explain")
            if name in self.model.abilities
        ]
        return schemas.Health(
            status="ok",
            version=__version__,
            model=schemas.ModelInfo(
                name=self.model.name,
                params=json.loads(json.dumps(self.model.get_params(), default=str)),
                data_fingerprint=self.data.fingerprint(),
                n_users=self.data.n_users,
                n_items=self.data.n_items,
                rating_scale=self.data.rating_scale,
                abilities=abilities,
                version=self.version,
                ratings_as_of=self.ratings_as_of,
            ),
            run=run,
            store=schemas.StoreInfo(
                kind=self.store.kind,
                name=self.store.name,
                available=self.store.ok,
                detail=self.store.detail,
            ),
        )

    def runs(self) -> list[schemas.RunOut]:
        """Every stored run, newest first (empty without a store)."""
        if not self.store.available():
            return []
        with store_errors(), self.store.session() as db:
            return [schemas.RunOut(**r.as_dict()) for r in queries.list_runs(db)]

    def run(self, run_id: int) -> schemas.RunOut:
        """One stored run; :class:`UnknownIdError` if there is no such run (or no store)."""
        if not self.store.available():
            raise UnknownIdError(f"unknown run id: {run_id} (no store)")
        with store_errors(), self.store.session() as db:
            return schemas.RunOut(**queries.get_run(db, run_id).as_dict())

    def protocols(self) -> list[str]:
        """Protocols with a ``reports/<protocol>/leaderboard.json``."""
        if self.reports_dir is None or not self.reports_dir.is_dir():
            return []
        return sorted(
            p.parent.name
            for p in self.reports_dir.glob("*/leaderboard.json")
            if _SAFE_NAME.match(p.parent.name)
        )

    def leaderboard(self, protocol: str, run_id: int | None = None) -> schemas.Leaderboard:
        """``reports/<protocol>/leaderboard.json`` as written by the evaluation step."""
        if not _SAFE_NAME.match(protocol) or protocol not in self.protocols():
            raise UnknownIdError(
                f"no leaderboard for protocol {protocol!r}; run 'movierec evaluate' first"
            )
        folder = self.reports_dir / protocol  # type: ignore[operator]
        try:
            board = json.loads((folder / "leaderboard.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read the {protocol} leaderboard: {exc}") from None
        plots = sorted(
            f"/reports/{protocol}/{p.name}"
            for p in folder.glob("*.png")
            if _SAFE_NAME.match(p.name)
        )
        return schemas.Leaderboard(protocol=protocol, run_id=run_id, leaderboard=board, plots=plots)

    def run_leaderboard(self, run_id: int) -> schemas.Leaderboard:
        """The leaderboard of the protocol run ``run_id`` was evaluated with.

        The protocol is ``metrics["protocol"]`` (or ``params["protocol"]``) of the run; if the
        run names none, the most recently written leaderboard is returned.
        """
        run = self.run(run_id)
        protocol = run.metrics.get("protocol") or run.params.get("protocol")
        if not protocol:
            found = self.protocols()
            if not found or self.reports_dir is None:
                raise UnknownIdError(
                    f"no leaderboard for run {run_id}: no reports/<protocol>/leaderboard.json; "
                    "run 'movierec evaluate' first"
                )
            folder = self.reports_dir
            protocol = max(found, key=lambda p: (folder / p / "leaderboard.json").stat().st_mtime)
        return self.leaderboard(str(protocol), run_id=run_id)

    def plot_path(self, protocol: str, name: str) -> Path:
        """Path of a PNG plot under ``reports/<protocol>/``; :class:`UnknownIdError` otherwise."""
        if (
            self.reports_dir is None
            or not _SAFE_NAME.match(protocol)
            or not _SAFE_NAME.match(name)
            or not name.endswith(".png")
        ):
            raise UnknownIdError(f"no plot {protocol}/{name}")
        path = self.reports_dir / protocol / name
        if not path.is_file():
            raise UnknownIdError(f"no plot {protocol}/{name}")
        return path

    def rating_scale(self) -> tuple[float, float]:
        return self.data.rating_scale

    def metadata(self) -> dict[str, Any]:
        """Small facts the web page needs (scale, genres, model name)."""
        return {
            "model": self.model.name,
            "rating_scale": list(self.data.rating_scale),
            "genres": self.genres,
        }
