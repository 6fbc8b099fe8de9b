"""Feedback in the store: users and their ratings, the source of truth once imported.

Writes (what the HTTP API calls; each is one committed transaction, so a write is durable
when the function returns, also if the process is killed right after):

* :func:`create_user` -> ``(id, token)``: a new user; only the SHA-256 of the token is kept;
* :func:`put_rating` / :func:`delete_rating`: idempotent; the movie must be in the
  catalogue (``movies``), the rating on the release's scale; both set ``users.changed``;
* :func:`import_ratings`: the converted MovieLens ratings in bulk (``executemany`` on
  SQLite, ``COPY`` on PostgreSQL); idempotent: a pair already in the store is never
  overwritten, so a second import adds nothing and never undoes a service write.

Reads: :func:`user_ratings`, :func:`ratings_frame` (everything, for retraining),
:func:`ratings_since` and :func:`users_changed_since` (what changed after a model version
was trained: compare with :attr:`VersionInfo.ratings_as_of
<movierec.store.versions.VersionInfo.ratings_as_of>`).

Times are Unix seconds (floats). ``ratings.updated`` is the MovieLens timestamp for imported
rows and the write time for service writes; ``users.changed`` is the time of the user's last
write (``NULL`` for an imported user who never wrote).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Integer,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from movierec.data.datasets import RatingScale
from movierec.errors import DataError, ForbiddenError, StoreError, UnknownIdError
from movierec.interactions import ITEM_COL, RATING_COL, TIME_COL, USER_COL, ItemCatalog
from movierec.store.engine import check_schema, make_engine, one_line, safe_url
from movierec.store.schema import MOVIES, RATING_COLUMNS, RATINGS, USERS
from movierec.store.writer import upsert_movies

_USERS_LOCK = 0x75736572  # advisory lock serialising new user ids on PostgreSQL

CHANGE_MARGIN_S = 60.0
"""Seconds subtracted from the start of a retraining read to give the version's
``ratings_as_of``: a rating write takes its time before it commits (and SQLite may wait up
to 30 s for the write lock), so a write stamped just before the read may still be missing
from it. Users who wrote in that last minute count as changed (a harmless fold-in)."""


@dataclass(frozen=True)
class StoredRating:
    """One rating in the store (external MovieLens ids; ``updated`` in Unix seconds)."""

    user_id: int
    movie_id: int
    rating: float
    updated: float

    def as_dict(self) -> dict[str, Any]:
        return {"movieId": self.movie_id, "rating": self.rating, "updated": self.updated}


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_ratings` did."""

    n_ratings: int
    n_new: int
    n_users: int
    n_movies: int

    def __str__(self) -> str:
        kept = self.n_ratings - self.n_new
        return (
            f"imported {self.n_new:,} of {self.n_ratings:,} ratings into the store "
            f"({kept:,} already there; {self.n_users:,} users, {self.n_movies:,} movies)"
        )


_SQLITE_WRITERS: dict[str, threading.Lock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite, the threads of this process writing to the same
    database take turns first (SQLite admits one writer at a time, and its busy handler
    retries by sleeping, which puts 10-100 ms into the tail latency of concurrent writers);
    other processes still wait on SQLite's own lock (``busy_timeout``)."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _SQLITE_WRITERS_GUARD:
        lock = _SQLITE_WRITERS.setdefault(str(engine.url.database), threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


def _store_error(engine: Engine | Connection, what: str, exc: SQLAlchemyError) -> StoreError:
    url = engine.engine.url if isinstance(engine, Connection) else engine.url
    return StoreError(f"cannot {what} at {safe_url(url)}: {one_line(exc)}")


def token_hash(token: str) -> str:
    """SHA-256 (hex) of a user token: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------- users
def create_user(engine: Engine, *, after: int = 0, attempts: int = 5) -> tuple[int, str]:
    """A new user: ``(id, token)``. The id is one more than the largest id so far, and than
    ``after`` (MovieLens users keep theirs: a service passes the largest user id of its
    model's training data, which a store without an import does not hold), taken in the
    insert itself (under an advisory lock on PostgreSQL, under SQLite's write lock), so
    concurrent calls never share an id. The token (43 URL-safe characters) is returned
    once; only its SHA-256 is stored.

    Raises:
        StoreError: the store is unreachable or has no ``users`` table.
    """
    token = secrets.token_urlsafe(32)
    digest = token_hash(token)
    largest = func.coalesce(func.max(USERS.c.id), 0)
    floor = literal(int(after), Integer)
    next_id = select(
        (case((largest > floor, largest), else_=floor) + 1).label("id"),
        literal(digest).label("token_hash"),
        literal(_now_dt(), DateTime(timezone=True)).label("created"),
    )
    stmt = insert(USERS).from_select(["id", "token_hash", "created"], next_id).returning(USERS.c.id)
    for _ in range(attempts):
        try:
            with _writing(engine) as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _USERS_LOCK})
                user_id = int(conn.execute(stmt).scalar_one())
            return user_id, token
        except IntegrityError:  # pragma: no cover - the lock makes a clash unlikely
            continue
        except SQLAlchemyError as exc:
            raise _store_error(engine, "create a user", exc) from None
    raise StoreError(f"could not allocate a user id after {attempts} attempts")


def verify_token(engine: Engine, user_id: int, token: str) -> bool:
    """True when ``token`` is ``user_id``'s (constant-time compare); False for a MovieLens
    user (they have no token) or an unknown user."""
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                select(USERS.c.token_hash).where(USERS.c.id == int(user_id))
            ).scalar()
    except SQLAlchemyError as exc:
        raise _store_error(engine, "read users", exc) from None
    return stored is not None and hmac.compare_digest(stored, token_hash(token))


def user_exists(conn: Connection, user_id: int) -> bool:
    """True when ``user_id`` is in ``users``."""
    return conn.execute(select(USERS.c.id).where(USERS.c.id == int(user_id))).first() is not None


# ---------------------------------------------------------------------------------- writes
def _now_dt() -> Any:
    import datetime as _dt

    return _dt.datetime.now(_dt.UTC)


def check_rating(rating: float, scale: RatingScale) -> float:
    """``rating`` as a float, or :class:`DataError` naming the scale."""
    try:
        value = float(rating)
    except (TypeError, ValueError):
        raise DataError(f"rating must be a number, got {rating!r}") from None
    if not math.isfinite(value) or bool(scale.invalid(np.array([value]))[0]):
        raise DataError(f"rating {rating!r} is not on the {scale.describe()} scale")
    return value


def _check_id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) <= 0:
        raise DataError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _build_upsert(dialect: str) -> Any:
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RATINGS)
    return ins.on_conflict_do_update(
        index_elements=["user_id", "movie_id"],
        set_={"rating": ins.excluded.rating, "updated": ins.excluded.updated},
    )


# Statements of the per-request writes, built once: building one costs more than running it
# on SQLite (SQLAlchemy's per-call construction and cache-key work).
_UPSERT = {name: _build_upsert(name) for name in ("sqlite", "postgresql")}
_WRITER = select(
    select(USERS.c.id).where(USERS.c.id == bindparam("uid")).scalar_subquery(),
    select(USERS.c.token_hash).where(USERS.c.id == bindparam("uid")).scalar_subquery(),
    select(MOVIES.c.id).where(MOVIES.c.id == bindparam("mid")).scalar_subquery(),
)
_TOUCH = update(USERS).where(USERS.c.id == bindparam("uid")).values(changed=bindparam("at"))
_DELETE = delete(RATINGS).where(
    RATINGS.c.user_id == bindparam("uid"), RATINGS.c.movie_id == bindparam("mid")
)


def _upsert(conn: Connection) -> Any:
    return _UPSERT[conn.dialect.name]


def _check_user_and_movie(
    conn: Connection, user_id: int, movie_id: int, token: str | None = None
) -> None:
    """The user exists, the movie is in the catalogue, and (when ``token`` is given) the
    token is the user's: one statement, inside the write's transaction."""
    found = conn.execute(_WRITER, {"uid": int(user_id), "mid": int(movie_id)}).one()
    if found[0] is None:
        raise UnknownIdError(f"unknown user id: {user_id}")
    if token is not None:
        check_token(user_id, found[1], token)
    if found[2] is None:
        raise UnknownIdError(f"unknown movie id: {movie_id} (not in the catalogue)")


def check_token(user_id: int, stored_hash: str | None, token: str) -> None:
    """:class:`ForbiddenError` unless ``token`` hashes to ``stored_hash`` (constant-time
    compare). A user imported from MovieLens has no token (``stored_hash`` is ``None``):
    no user token can write to it."""
    if stored_hash is None:
        raise ForbiddenError(
            f"user {user_id} was imported from MovieLens and has no token; "
            "only the admin token (MOVIEREC_ADMIN_TOKEN) can write to it"
        )
    if not hmac.compare_digest(stored_hash, token_hash(token)):
        raise ForbiddenError(f"the token is not user {user_id}'s")


def put_rating(
    engine: Engine,
    user_id: int,
    movie_id: int,
    rating: float,
    *,
    scale: RatingScale,
    token: str | None = None,
) -> StoredRating:
    """Set ``user_id``'s rating of ``movie_id`` (insert or replace): one committed transaction.

    Args:
        engine: the store (its schema must exist: :func:`~movierec.store.ensure_schema`).
        user_id / movie_id: an existing user; a movie of the catalogue.
        rating: on ``scale`` (:attr:`DatasetSpec.scale
            <movierec.data.datasets.DatasetSpec.scale>` of the release the store holds).

    Returns:
        The stored rating (``updated``: now, Unix seconds).

    Raises:
        DataError: a bad id or a rating off the scale (nothing written).
        UnknownIdError: unknown user or movie (nothing written).
        ForbiddenError: ``token`` is not the user's (nothing written).
        StoreError: the database failed (the transaction is rolled back).
    """
    user_id, movie_id = _check_id(user_id, "user id"), _check_id(movie_id, "movie id")
    value = check_rating(rating, scale)
    try:
        with _writing(engine) as conn:
            _check_user_and_movie(conn, user_id, movie_id, token)
            now = time.time()
            conn.execute(
                _upsert(conn),
                {"user_id": user_id, "movie_id": movie_id, "rating": value, "updated": now},
            )
            conn.execute(_TOUCH, {"uid": user_id, "at": now})
    except SQLAlchemyError as exc:
        raise _store_error(engine, "write a rating", exc) from None
    return StoredRating(user_id, movie_id, value, now)


def delete_rating(engine: Engine, user_id: int, movie_id: int, *, token: str | None = None) -> bool:
    """Remove ``user_id``'s rating of ``movie_id`` (one committed transaction).

    Idempotent: deleting a rating that is not there changes nothing and returns ``False``.
    ``token``: as for :func:`put_rating`.

    Raises:
        DataError: a bad id. UnknownIdError: unknown user or a movie outside the catalogue.
        ForbiddenError: ``token`` is not the user's. StoreError: the database failed.
    """
    user_id, movie_id = _check_id(user_id, "user id"), _check_id(movie_id, "movie id")
    try:
        with _writing(engine) as conn:
            _check_user_and_movie(conn, user_id, movie_id, token)
            gone = conn.execute(_DELETE, {"uid": user_id, "mid": movie_id}).rowcount
            if gone:
                conn.execute(_TOUCH, {"uid": user_id, "at": time.time()})
    except SQLAlchemyError as exc:
        raise _store_error(engine, "delete a rating", exc) from None
    return bool(gone)


# ---------------------------------------------------------------------------------- reads
_RATINGS_OF = (
    select(RATINGS).where(RATINGS.c.user_id == bindparam("uid")).order_by(RATINGS.c.movie_id)
)
_CHANGED = select(USERS.c.changed).where(USERS.c.id == bindparam("uid"))


def ratings_of(conn: Connection, user_id: int) -> list[StoredRating]:
    """``user_id``'s ratings by movie id, on an open connection (empty for a user without
    ratings or an unknown one)."""
    rows = conn.execute(_RATINGS_OF, {"uid": int(user_id)}).all()
    return [StoredRating(int(r[0]), int(r[1]), float(r[2]), float(r[3])) for r in rows]


def changed_ratings(
    conn: Connection, user_id: int, since: float | None
) -> list[StoredRating] | None:
    """``user_id``'s current ratings if the user wrote after ``since`` (Unix seconds;
    ``None``: ever), else ``None``. One primary-key read for an untouched user; what the
    service asks before serving a stored top-N (a changed user is folded in instead)."""
    changed = conn.execute(_CHANGED, {"uid": int(user_id)}).scalar()
    if changed is None or (since is not None and float(changed) <= float(since)):
        return None
    return ratings_of(conn, user_id)


def user_ratings(engine: Engine, user_id: int) -> list[StoredRating]:
    """``user_id``'s ratings, by movie id (:class:`UnknownIdError` for an unknown user)."""
    user_id = _check_id(user_id, "user id")
    try:
        with engine.connect() as conn:
            if not user_exists(conn, user_id):
                raise UnknownIdError(f"unknown user id: {user_id}")
            return ratings_of(conn, user_id)
    except SQLAlchemyError as exc:
        raise _store_error(engine, "read ratings", exc) from None


def _frame(rows: list[Any]) -> pd.DataFrame:
    """Rows ``(user_id, movie_id, rating, updated)`` as the pipeline's ratings frame:
    ``userId, movieId`` int64, ``rating`` float32, ``timestamp`` int64 (Unix seconds, floor)."""
    arr = np.array([tuple(r) for r in rows], dtype=np.float64).reshape(-1, 4)
    return pd.DataFrame(
        {
            USER_COL: arr[:, 0].astype(np.int64),
            ITEM_COL: arr[:, 1].astype(np.int64),
            RATING_COL: arr[:, 2].astype(np.float32),
            TIME_COL: np.floor(arr[:, 3]).astype(np.int64),
        }
    )


def ratings_frame(engine: Engine) -> tuple[pd.DataFrame, float]:
    """Every rating in the store and the time it was read as of.

    Returns:
        ``(frame, ratings_as_of)``: the frame in ``(userId, movieId)`` order with columns
        ``userId, movieId, rating, timestamp`` (one consistent snapshot: one statement);
        ``ratings_as_of`` is the read's start minus :data:`CHANGE_MARGIN_S`: every write
        stamped before it is in the frame.

    Raises:
        StoreError: unreachable store; DataError: the store holds no ratings (run
        ``movierec import`` first).
    """
    started = time.time()
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(*(RATINGS.c[c] for c in RATING_COLUMNS)).order_by(
                    RATINGS.c.user_id, RATINGS.c.movie_id
                )
            ).all()
    except SQLAlchemyError as exc:
        raise _store_error(engine, "read ratings", exc) from None
    if not rows:
        raise DataError(
            f"the store at {safe_url(engine.url)} holds no ratings; run 'movierec import' first"
        )
    return _frame(list(rows)), started - CHANGE_MARGIN_S


def store_ratings(url: str) -> pd.DataFrame:
    """Every rating of the store at ``url`` (:func:`ratings_frame`'s frame).

    Raises:
        StoreError: no store there. DataError: it holds no ratings.
    """
    engine = make_engine(url)
    try:
        if not check_schema(engine):
            raise StoreError(f"no store at {safe_url(url)}; run 'movierec import' first")
        return ratings_frame(engine)[0]
    finally:
        engine.dispose()


def ratings_since(engine: Engine, since: float) -> pd.DataFrame:
    """Ratings written or updated after ``since`` (Unix seconds), as :func:`ratings_frame`'s
    frame (deleted ratings leave no row: see :func:`users_changed_since`)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(*(RATINGS.c[c] for c in RATING_COLUMNS))
                .where(RATINGS.c.updated > float(since))
                .order_by(RATINGS.c.user_id, RATINGS.c.movie_id)
            ).all()
    except SQLAlchemyError as exc:
        raise _store_error(engine, "read ratings", exc) from None
    return _frame(list(rows))


def users_changed_since(engine: Engine, since: float | None) -> set[int]:
    """Users who put or deleted a rating after ``since`` (Unix seconds; ``None``: ever)."""
    stmt = select(USERS.c.id).where(USERS.c.changed.is_not(None))
    if since is not None:
        stmt = stmt.where(USERS.c.changed > float(since))
    try:
        with engine.connect() as conn:
            return {int(r[0]) for r in conn.execute(stmt).all()}
    except SQLAlchemyError as exc:
        raise _store_error(engine, "read users", exc) from None


def count_ratings(engine: Engine) -> int:
    """How many ratings the store holds (0 when its schema has no ratings yet)."""
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(RATINGS)).scalar_one())
    except SQLAlchemyError as exc:
        raise _store_error(engine, "count ratings", exc) from None


# ---------------------------------------------------------------------------------- import
def import_ratings(engine: Engine, ratings: pd.DataFrame, catalog: ItemCatalog) -> ImportResult:
    """Load MovieLens ratings (and their users and movies) into the store, in bulk.

    One transaction: upsert the catalogue, add the users that are missing (no token), add
    the ratings that are missing (``executemany`` on SQLite; ``COPY`` into a temporary table
    then ``INSERT … ON CONFLICT DO NOTHING`` on PostgreSQL). Existing rows are never changed.

    Args:
        engine: the store (its schema must exist).
        ratings: validated ratings (``userId, movieId, rating[, timestamp]``; see
            :func:`movierec.data.ingest.load_ratings`); no timestamp means now.
        catalog: the movie catalogue; every rated movie must be in it.

    Raises:
        DataError: a rated movie is missing from the catalogue. StoreError: the database
            failed (nothing is written).
    """
    unknown = ~np.isin(ratings[ITEM_COL].to_numpy(), catalog.frame.index.to_numpy())
    if unknown.any():
        raise DataError(f"{int(unknown.sum())} rating(s) of movies missing from the catalogue")
    updated = (
        ratings[TIME_COL].to_numpy(dtype=np.float64)
        if TIME_COL in ratings
        else np.full(len(ratings), time.time())
    )
    frame = pd.DataFrame(
        {
            "user_id": ratings[USER_COL].to_numpy(dtype=np.int64),
            "movie_id": ratings[ITEM_COL].to_numpy(dtype=np.int64),
            "rating": ratings[RATING_COL].to_numpy(dtype=np.float64),
            "updated": updated,
        }
    )
    users = np.unique(frame["user_id"].to_numpy())
    try:
        with engine.begin() as conn:
            before = int(conn.execute(select(func.count()).select_from(RATINGS)).scalar_one())
            n_movies = upsert_movies(conn, catalog)
            _add_users(conn, users)
            _bulk_ratings(conn, frame)
            after = int(conn.execute(select(func.count()).select_from(RATINGS)).scalar_one())
    except SQLAlchemyError as exc:
        raise _store_error(engine, "import ratings", exc) from None
    return ImportResult(len(frame), after - before, int(users.size), n_movies)


def _add_users(conn: Connection, users: np.ndarray) -> None:
    dialect = conn.dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(USERS)
    now = _now_dt()
    rows = [{"id": int(u), "token_hash": None, "created": now, "changed": None} for u in users]
    if rows:
        conn.execute(ins.on_conflict_do_nothing(index_elements=["id"]), rows)


def _bulk_ratings(conn: Connection, frame: pd.DataFrame) -> None:
    """Insert the rows of ``frame`` that are not in ``ratings`` yet."""
    cols = ", ".join(RATING_COLUMNS)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False, float_format="%.17g")
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                "CREATE TEMP TABLE import_ratings (user_id integer, movie_id integer, "
                "rating double precision, updated double precision) ON COMMIT DROP"
            )
            with cur.copy(f"COPY import_ratings ({cols}) FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write(buf.getvalue())
            cur.execute(
                f"INSERT INTO ratings ({cols}) SELECT {cols} FROM import_ratings "
                "ON CONFLICT (user_id, movie_id) DO NOTHING"
            )
        return
    rows = list(
        zip(
            frame["user_id"].tolist(),
            frame["movie_id"].tolist(),
            frame["rating"].tolist(),
            frame["updated"].tolist(),
            strict=True,
        )
    )
    cur = raw.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(f"INSERT OR IGNORE INTO ratings ({cols}) VALUES (?, ?, ?, ?)", rows)
    finally:
        cur.close()
