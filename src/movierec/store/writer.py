"""Writing a model run (all users' top-N) into the store: one transaction, bulk load.

Protocol (what readers can rely on):

1. a short transaction inserts the ``runs`` row with ``status='writing'`` and the writer's
   identity (visible to ``movierec db runs``, never current); runs whose writer died are
   marked ``failed`` first (:mod:`movierec.store.lifecycle`);
2. one transaction upserts the movie catalogue, bulk-loads every recommendation
   (``executemany`` on SQLite, ``COPY … FROM STDIN`` on PostgreSQL), then flips
   ``is_current`` from the previous run to this one and sets ``status='complete'``;
3. if step 2 fails, it is rolled back and the run is marked ``failed``.

Readers select the run with ``is_current`` (or the newest ``complete`` run of a model) in the
same statement as its recommendations, so they see either the previous complete run or the new
one, never a half-written run.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from movierec.errors import StoreError
from movierec.interactions import ItemCatalog
from movierec.jsonable import json_safe
from movierec.store.engine import as_engine, ensure_schema, one_line, safe_url
from movierec.store.lifecycle import lock_run, reap_stale_runs, unlock_run, writer_identity
from movierec.store.schema import (
    MOVIES,
    RECOMMENDATION_COLUMNS,
    RECOMMENDATIONS,
    RUNS,
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_WRITING,
)

log = logging.getLogger(__name__)

_PG_LOCK_KEY = 0x6D6F7669  # advisory lock serialising the is_current flip on PostgreSQL
NOT_NULL = "FORCE_NOT_NULL (explanation)"  # COPY: an empty explanation is '', not NULL


@dataclass(frozen=True)
class RunMeta:
    """What a stored run records about what produced it.

    Attributes:
        model: the model's name (``user-knn``, ``spark-als``, ...).
        params: its hyperparameters and run options (e.g. ``n``), JSON-serialisable.
        data_fingerprint: :meth:`Interactions.fingerprint` of the training data.
        model_version: the registered model version that wrote the run
            (:mod:`movierec.store.versions`), ``None`` for an unregistered model file.
    """

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    model_version: int | None = None

    @classmethod
    def of(cls, model: Any, **params: Any) -> RunMeta:
        """The meta of a fitted :class:`~movierec.models.base.Recommender`, with ``params``
        (run options such as ``n``) laid over its hyperparameters."""
        return cls(model.name, {**model.get_params(), **params}, model.data_.fingerprint())


def recommendations_frame(
    user_ids: Any,
    item_ids: np.ndarray,
    scores: np.ndarray,
    explanations: Sequence[Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Flatten batch recommendations into the long frame :func:`write_run` stores.

    Args:
        user_ids: shape ``(b,)`` external user ids.
        item_ids: shape ``(b, n)`` external movie ids, best first; ``-1`` marks padding
            (as returned by :meth:`Recommender.recommend`), which is dropped.
        scores: shape ``(b, n)`` float scores aligned with ``item_ids``.
        explanations: optional ``b`` lists of ``n`` strings aligned with ``item_ids``.

    Returns:
        Frame with columns ``userId, rank, movieId, score, explanation`` (rank 1 = best).
    """
    users = np.asarray(user_ids, dtype=np.int64).ravel()
    items = np.asarray(item_ids, dtype=np.int64)
    b, n = items.shape
    if users.size != b or np.shape(scores) != (b, n):
        raise StoreError(
            f"recommendations shapes disagree: {users.size} users, item_ids {items.shape}, "
            f"scores {np.shape(scores)}"
        )
    if explanations is None:
        expl = np.full((b, n), "", dtype=object)
    else:
        expl = np.empty((b, n), dtype=object)
        for i, row in enumerate(explanations):  # b rows of strings: no array op exists
            if len(row) != n:
                raise StoreError(f"explanations row {i} has {len(row)} entries, expected {n}")
            expl[i, :] = list(row)
    keep = items.ravel() >= 0
    return pd.DataFrame(
        {
            "userId": np.repeat(users, n)[keep],
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int64), b)[keep],
            "movieId": items.ravel()[keep],
            "score": np.asarray(scores, dtype=np.float64).ravel()[keep],
            "explanation": expl.ravel()[keep],
        }
    )


def catalog_rows(catalog: ItemCatalog) -> list[dict[str, Any]]:
    """The ``movies`` rows of ``catalog`` (id, title, year or None, genres)."""
    frame = catalog.frame
    years = frame["year"].astype("Int64")
    return [
        {"id": int(mid), "title": str(t), "year": None if pd.isna(y) else int(y), "genres": g}
        for mid, t, y, g in zip(
            frame.index.to_numpy(), frame["title"], years, frame["genres"], strict=True
        )
    ]


def upsert_movies(conn: Connection, catalog: ItemCatalog) -> int:
    """Insert or update every movie of ``catalog`` in ``movies``; the number of rows."""
    rows = catalog_rows(catalog)
    if not rows:
        return 0
    dialect = conn.dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(MOVIES)
    stmt = ins.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "title": ins.excluded.title,
            "year": ins.excluded.year,
            "genres": ins.excluded.genres,
        },
    )
    conn.execute(stmt, rows)
    return len(rows)


def _bulk_load(conn: Connection, run_id: int, recs: pd.DataFrame) -> None:
    """Insert ``recs`` for ``run_id``: COPY on PostgreSQL, the driver's executemany on
    SQLite, SQLAlchemy's insert elsewhere."""
    frame = pd.DataFrame(
        {
            "run_id": np.full(len(recs), run_id, dtype=np.int64),
            "user_id": recs["userId"].to_numpy(dtype=np.int64),
            "rank": recs["rank"].to_numpy(dtype=np.int64),
            "movie_id": recs["movieId"].to_numpy(dtype=np.int64),
            "score": recs["score"].to_numpy(dtype=np.float64),
            "explanation": recs["explanation"].fillna("").astype(str).to_numpy()
            if "explanation" in recs
            else "",
        }
    )
    if conn.dialect.name == "postgresql":
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False)
        cols = ", ".join(RECOMMENDATION_COLUMNS)
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            copy = f"COPY recommendations ({cols}) FROM STDIN WITH (FORMAT csv, {NOT_NULL})"
            with cur.copy(copy) as cp:
                cp.write(buf.getvalue())
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(RECOMMENDATIONS), frame.to_dict("records"))
        return
    # sqlite3's executemany on plain tuples: SQLAlchemy's insert() with a list of dicts
    # compiles parameters per row (25 s for 324,000 rows under load; this about 1 s).
    cols = ", ".join(RECOMMENDATION_COLUMNS)
    marks = ", ".join("?" for _ in RECOMMENDATION_COLUMNS)
    rows = zip(*(frame[c].to_numpy().tolist() for c in RECOMMENDATION_COLUMNS), strict=True)
    conn.exec_driver_sql(f"INSERT INTO recommendations ({cols}) VALUES ({marks})", list(rows))


def _check_frame(recs: pd.DataFrame) -> None:
    missing = {"userId", "rank", "movieId", "score"} - set(recs.columns)
    if missing:
        raise StoreError(f"recommendations frame lacks column(s): {', '.join(sorted(missing))}")
    if recs.duplicated(["userId", "rank"]).any():
        raise StoreError("recommendations frame has duplicate (userId, rank) rows")


def write_run(
    engine_or_url: Engine | str | None,
    meta: RunMeta,
    recommendations: pd.DataFrame,
    metrics: Mapping[str, Any] | None = None,
    *,
    catalog: ItemCatalog | None = None,
    make_current: bool = True,
) -> int:
    """Store one run of recommendations; return the new run id.

    Args:
        engine_or_url: an engine, a database URL, or ``None`` for the default store
            (``MOVIEREC_DB_URL`` or ``db/movierec.db``). The schema is created if missing.
        meta: what produced the run (model name, parameters, data fingerprint).
        recommendations: long frame ``userId, rank, movieId, score[, explanation]`` with
            external MovieLens ids (see :func:`recommendations_frame`).
        metrics: evaluation figures to keep with the run (JSON-serialisable values).
        catalog: movies to upsert into ``movies`` (titles, years, genres).
        make_current: flip ``is_current`` to this run when complete (default).

    Returns:
        The id of the run, now ``complete`` (and current if ``make_current``).

    Raises:
        StoreError: bad input, unreachable database or a failed write; the run is then
            marked ``failed`` and the previous current run stays current.
    """
    _check_frame(recommendations)
    engine, owned = as_engine(engine_or_url)
    try:
        ensure_schema(engine)
        run_params = json_safe(dict(meta.params))
        with engine.connect() as conn:
            try:
                with conn.begin():
                    reap_stale_runs(conn)
                with conn.begin():
                    run_id = conn.execute(
                        insert(RUNS)
                        .values(
                            model=meta.model,
                            params=run_params,
                            data_fingerprint=meta.data_fingerprint,
                            metrics=json_safe(dict(metrics or {})),
                            created=_dt.datetime.now(_dt.UTC),
                            status=STATUS_WRITING,
                            is_current=False,
                            writer=writer_identity(),
                            model_version=meta.model_version,
                        )
                        .returning(RUNS.c.id)
                    ).scalar_one()
                    lock_run(conn, run_id)  # held until this connection is done with the run
            except SQLAlchemyError as exc:
                raise StoreError(
                    f"cannot write to {safe_url(engine.url)}: {one_line(exc)}"
                ) from None
            try:
                with conn.begin():
                    _write_body(conn, run_id, recommendations, catalog, make_current)
            except BaseException as exc:
                _mark_failed(engine, run_id)
                if isinstance(exc, SQLAlchemyError):
                    raise StoreError(
                        f"writing run {run_id} to {safe_url(engine.url)} failed and was rolled "
                        f"back: {one_line(exc)}"
                    ) from None
                raise
            finally:
                _unlock(conn, run_id)
        log.info("stored run %d (%d recommendations)", run_id, len(recommendations))
        return int(run_id)
    finally:
        if owned:
            engine.dispose()


def _write_body(
    conn: Connection,
    run_id: int,
    recs: pd.DataFrame,
    catalog: ItemCatalog | None,
    make_current: bool,
) -> None:
    """Step 2 of the protocol, in the caller's transaction on ``conn``."""
    runs = RUNS
    if catalog is not None:
        upsert_movies(conn, catalog)
    _bulk_load(conn, run_id, recs)
    if make_current:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        conn.execute(update(runs).where(runs.c.is_current).values(is_current=False))
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            status=STATUS_COMPLETE,
            is_current=make_current,
            n_users=int(recs["userId"].nunique()),
            n_recommendations=len(recs),
        )
    )


def _unlock(conn: Connection, run_id: int) -> None:
    """Release the writer's lock; if the connection broke, the server released it."""
    try:
        if conn.in_transaction():
            conn.rollback()
        unlock_run(conn, run_id)
        conn.commit()
    except SQLAlchemyError:
        log.debug("run %d: writer lock released with the connection", run_id)


def _mark_failed(engine: Engine, run_id: int) -> None:
    runs = RUNS
    try:
        with engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(status=STATUS_FAILED))
    except SQLAlchemyError:  # pragma: no cover - the original error matters more
        log.warning("could not mark run %d as failed", run_id)
