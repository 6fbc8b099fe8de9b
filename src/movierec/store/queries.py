"""Reading the store: runs, a user's stored recommendations, the movie table, exports.

Every reader selects the run and its rows in one statement (``runs.is_current`` or the newest
``complete`` run of a model), so a concurrent writer can never expose a half-written run.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd
from sqlalchemy import Connection, Engine, Select, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from movierec.atomic import atomic_path
from movierec.errors import ConfigError, StoreError, UnknownIdError
from movierec.interactions import ItemCatalog
from movierec.store.engine import as_engine, check_schema, one_line, open_store, safe_url
from movierec.store.lifecycle import Pruned, prune_failed, reap_stale_runs
from movierec.store.schema import STATUS_COMPLETE, Movie, Recommendation, Run

Executor = Connection | Session
T = TypeVar("T")


@dataclass(frozen=True)
class RunInfo:
    """One row of ``runs`` (see :class:`movierec.store.schema.Run`)."""

    id: int
    model: str
    params: dict[str, Any]
    data_fingerprint: str
    metrics: dict[str, Any]
    n_users: int
    n_recommendations: int
    created: _dt.datetime
    status: str
    is_current: bool
    model_version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["created"] = self.created.isoformat()
        return out


@dataclass(frozen=True)
class StoredRecommendation:
    """One stored recommendation: external MovieLens ``movie_id``, rank 1 = best."""

    rank: int
    movie_id: int
    score: float
    explanation: str


_RUN_COLS = (
    Run.id,
    Run.model,
    Run.params,
    Run.data_fingerprint,
    Run.metrics,
    Run.n_users,
    Run.n_recommendations,
    Run.created,
    Run.status,
    Run.is_current,
    Run.model_version,
)


def _run_info(row: Any) -> RunInfo:
    created = row.created
    if created.tzinfo is None:  # SQLite drops the zone; the writer stores UTC
        created = created.replace(tzinfo=_dt.UTC)
    return RunInfo(
        id=int(row.id),
        model=row.model,
        params=dict(row.params or {}),
        data_fingerprint=row.data_fingerprint,
        metrics=dict(row.metrics or {}),
        n_users=int(row.n_users),
        n_recommendations=int(row.n_recommendations),
        created=created,
        status=row.status,
        is_current=bool(row.is_current),
        model_version=None if row.model_version is None else int(row.model_version),
    )


def _run_id_query(model: str | None) -> Select[Any]:
    """Id of the run readers should use: the current run, or a model's newest complete run."""
    if model is None:
        return select(Run.id).where(Run.is_current).limit(1)
    return (
        select(Run.id)
        .where(Run.model == model, Run.status == STATUS_COMPLETE)
        .order_by(Run.id.desc())
        .limit(1)
    )


def list_runs(db: Executor) -> list[RunInfo]:
    """Every run, newest first."""
    rows = db.execute(select(*_RUN_COLS).order_by(Run.id.desc())).all()
    return [_run_info(r) for r in rows]


def get_run(db: Executor, run_id: int) -> RunInfo:
    """The run ``run_id``; :class:`UnknownIdError` if there is none."""
    row = db.execute(select(*_RUN_COLS).where(Run.id == int(run_id))).first()
    if row is None:
        raise UnknownIdError(f"unknown run id: {run_id}")
    return _run_info(row)


def current_run(db: Executor, model: str | None = None) -> RunInfo | None:
    """The current run (or ``model``'s newest complete run); ``None`` if there is none."""
    sub = _run_id_query(model).scalar_subquery()
    row = db.execute(select(*_RUN_COLS).where(Run.id == sub)).first()
    return _run_info(row) if row is not None else None


def _user_recs_statement(model: bool | str) -> Any:
    """Built once: re-using one statement object skips SQLAlchemy's per-call cache-key work.
    ``model``: ``False`` the current run; ``True`` the newest complete run of ``:model``;
    ``"version"`` the newest complete run written by model version ``:version``."""
    if model == "version":
        run_id = (
            select(Run.id)
            .where(Run.model_version == bindparam("version"), Run.status == STATUS_COMPLETE)
            .order_by(Run.id.desc())
            .limit(1)
        )
    elif model:
        run_id = (
            select(Run.id)
            .where(Run.model == bindparam("model"), Run.status == STATUS_COMPLETE)
            .order_by(Run.id.desc())
            .limit(1)
        )
    else:
        run_id = select(Run.id).where(Run.is_current).limit(1)
    return (
        select(
            Recommendation.run_id,
            Recommendation.rank,
            Recommendation.movie_id,
            Recommendation.score,
            Recommendation.explanation,
        )
        .where(
            Recommendation.run_id == run_id.scalar_subquery(),
            Recommendation.user_id == bindparam("user"),
        )
        .order_by(Recommendation.rank)
        .limit(bindparam("n"))
    )


_USER_RECS = {
    False: _user_recs_statement(False),
    True: _user_recs_statement(True),
    "version": _user_recs_statement("version"),
}


def user_recommendations(
    db: Executor, user_id: int, n: int, model: str | None = None, *, version: int | None = None
) -> tuple[int, list[StoredRecommendation]] | None:
    """Top-``n`` stored recommendations of ``user_id`` from the run readers should use.

    One statement selects the run id and the rows, so the answer always comes from a single
    complete run (the current one, ``model``'s newest complete run, or, with ``version``
    and no ``model``, the newest complete run written by that model version: what a
    server serving that version answers, also after a rollback).

    Returns:
        ``(run_id, recommendations)`` best first, or ``None`` when no complete run exists
        (for ``model``) or that run holds nothing for this user.
    """
    params: dict[str, Any] = {"user": int(user_id), "n": int(n)}
    key: bool | str = model is not None
    if model is not None:
        params["model"] = model
    elif version is not None:
        params["version"], key = int(version), "version"
    conn = db.connection() if isinstance(db, Session) else db  # Core path: no ORM overhead
    rows = conn.execute(_USER_RECS[key], params).all()
    if not rows:
        return None
    recs = [
        StoredRecommendation(int(r.rank), int(r.movie_id), float(r.score), r.explanation)
        for r in rows
    ]
    return int(rows[0].run_id), recs


def load_movies(db: Executor) -> ItemCatalog | None:
    """The ``movies`` table as an :class:`ItemCatalog` (``None`` if it is empty)."""
    rows = db.execute(select(Movie.id, Movie.title, Movie.year, Movie.genres)).all()
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["movieId", "title", "year", "genres"])
    return ItemCatalog.from_frame(frame)


def export_run(
    engine_or_url: Engine | str | None,
    run_id: int,
    out: str | Path,
    fmt: Literal["csv", "parquet"] | None = None,
) -> tuple[Path, int]:
    """Write run ``run_id``'s recommendations (with titles) to CSV or Parquet atomically.

    Columns: ``userId, rank, movieId, title, score, explanation``. ``fmt`` defaults to the
    extension of ``out``.

    Returns:
        ``(path, number of rows)``.

    Raises:
        UnknownIdError: no such run. StoreError: no store at the URL. ConfigError: bad format.
    """
    out = Path(out)
    fmt = fmt or ("parquet" if out.suffix.lower() in (".parquet", ".pq") else "csv")
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"export format must be csv or parquet, got {fmt!r}")
    engine, owned = as_engine(engine_or_url)
    try:
        if not check_schema(engine):
            raise StoreError(f"no recommendation store at {safe_url(engine.url)}")
        try:
            with engine.connect() as conn:
                get_run(conn, run_id)
                stmt = (
                    select(
                        Recommendation.user_id.label("userId"),
                        Recommendation.rank,
                        Recommendation.movie_id.label("movieId"),
                        Movie.title,
                        Recommendation.score,
                        Recommendation.explanation,
                    )
                    .join(Movie, Movie.id == Recommendation.movie_id, isouter=True)
                    .where(Recommendation.run_id == int(run_id))
                    .order_by(Recommendation.user_id, Recommendation.rank)
                )
                frame = pd.DataFrame(
                    conn.execute(stmt).all(), columns=list(stmt.selected_columns.keys())
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read run {run_id}: {one_line(exc)}") from None
    finally:
        if owned:
            engine.dispose()
    with atomic_path(out) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return out, len(frame)


def _in_store(
    engine_or_url: Engine | str | None, work: Callable[[Connection], T], empty: T, what: str
) -> T:
    """``work(conn)`` in one transaction on the store at ``engine_or_url`` (upgraded to the
    current schema first), or ``empty`` if there is no store; database errors become
    :class:`StoreError` ("cannot <what>: ...")."""
    engine, owned = as_engine(engine_or_url)
    try:
        if not open_store(engine):
            return empty
        try:
            with engine.begin() as conn:
                return work(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot {what}: {one_line(exc)}") from None
    finally:
        if owned:
            engine.dispose()


def runs_table(engine_or_url: Engine | str | None) -> list[RunInfo]:
    """Every run in the store at ``engine_or_url`` (empty if there is no store yet), after
    marking ``failed`` the runs whose writer died (:func:`reap_stale_runs`; an older schema
    is upgraded for that first)."""

    def reap_and_list(conn: Connection) -> list[RunInfo]:
        reap_stale_runs(conn)
        return list_runs(conn)

    return _in_store(engine_or_url, reap_and_list, [], "read runs")


def prune_runs(engine_or_url: Engine | str | None) -> Pruned:
    """Delete every failed run (after reaping those whose writer died) and its rows, in one
    transaction; nothing to do without a store."""
    return _in_store(engine_or_url, prune_failed, Pruned([], 0), "prune runs")
