"""Model versions and the production pointer.

A *model version* is one registered model file (``models/versions/<model>-<sha12>.npz``
under the home, content-addressed) with its SHA-256, hold-out metrics, data fingerprint,
parameters, code version and the time its ratings were read as of. The *production
pointer* is one row (``production.id = 1``): the version in production and the one before
it. The service polls :func:`production_pointer` (one primary-key read); ``promote`` and
``rollback`` change it in one transaction and log the change in ``promotions``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from movierec.errors import ConfigError, StoreError, UnknownIdError
from movierec.jsonable import json_safe
from movierec.store.engine import one_line, safe_url
from movierec.store.schema import MODEL_VERSIONS, PRODUCTION, PROMOTIONS, RUNS, STATUS_COMPLETE

POINTER_ID = 1
"""The primary key of the production pointer's one row."""

_POINTER_LOCK = 0x70726F64  # advisory lock serialising pointer changes on PostgreSQL


@dataclass(frozen=True)
class VersionInfo:
    """One row of ``model_versions`` (see :class:`movierec.store.schema.ModelVersion`).

    Attributes:
        path: the model file, relative to the home (``models/versions/…``).
        ratings_as_of: Unix time the training ratings were read as of (``None`` when the
            model was not trained from the store): users whose ``changed`` is later have
            ratings this version has not seen.
        is_production: whether the pointer names it (filled by the readers).
    """

    id: int
    model: str
    params: dict[str, Any]
    path: str
    sha256: str
    metrics: dict[str, Any]
    data_fingerprint: str
    code_version: str
    n_ratings: int
    ratings_as_of: float | None
    created: _dt.datetime
    is_production: bool = False

    def file(self, home: str | Path) -> Path:
        """The model file under ``home``."""
        return Path(home) / self.path

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["created"] = self.created.isoformat()
        return out


@dataclass(frozen=True)
class PointerChange:
    """What :func:`promote` or :func:`rollback` did."""

    action: str
    version_id: int
    previous_version_id: int | None

    def __str__(self) -> str:
        before = "none" if self.previous_version_id is None else f"v{self.previous_version_id}"
        return f"{self.action}: production is now v{self.version_id} (was {before})"


def _error(engine: Engine | Connection, what: str, exc: SQLAlchemyError) -> StoreError:
    url = engine.engine.url if isinstance(engine, Connection) else engine.url
    return StoreError(f"cannot {what} at {safe_url(url)}: {one_line(exc)}")


def _info(row: Any, production: int | None) -> VersionInfo:
    created = row.created
    if created.tzinfo is None:
        created = created.replace(tzinfo=_dt.UTC)
    return VersionInfo(
        id=int(row.id),
        model=row.model,
        params=dict(row.params or {}),
        path=row.path,
        sha256=row.sha256,
        metrics=dict(row.metrics or {}),
        data_fingerprint=row.data_fingerprint,
        code_version=row.code_version,
        n_ratings=int(row.n_ratings),
        ratings_as_of=None if row.ratings_as_of is None else float(row.ratings_as_of),
        created=created,
        is_production=production is not None and int(row.id) == production,
    )


def register_version(
    engine: Engine,
    *,
    model: str,
    params: Mapping[str, Any],
    path: str,
    sha256: str,
    metrics: Mapping[str, Any],
    data_fingerprint: str,
    code_version: str,
    n_ratings: int,
    ratings_as_of: float | None,
) -> VersionInfo:
    """Record a model file as a new version (not promoted); returns it."""
    values = {
        "model": model,
        "params": json_safe(dict(params)),
        "path": path,
        "sha256": sha256,
        "metrics": json_safe(dict(metrics)),
        "data_fingerprint": data_fingerprint,
        "code_version": code_version,
        "n_ratings": int(n_ratings),
        "ratings_as_of": ratings_as_of,
        "created": _dt.datetime.now(_dt.UTC),
    }
    try:
        with engine.begin() as conn:
            vid = conn.execute(
                insert(MODEL_VERSIONS).values(**values).returning(MODEL_VERSIONS.c.id)
            ).scalar_one()
            return get_version(conn, int(vid))
    except SQLAlchemyError as exc:
        raise _error(engine, "register a model version", exc) from None


def production_pointer(conn: Connection) -> int | None:
    """The id of the version in production (``None``: none yet). One primary-key read: what
    the service polls."""
    return conn.execute(
        select(PRODUCTION.c.version_id).where(PRODUCTION.c.id == POINTER_ID)
    ).scalar()


def get_version(conn: Connection, version_id: int) -> VersionInfo:
    """Version ``version_id`` (:class:`UnknownIdError` if there is none)."""
    row = conn.execute(select(MODEL_VERSIONS).where(MODEL_VERSIONS.c.id == int(version_id))).first()
    if row is None:
        raise UnknownIdError(f"unknown model version: {version_id}")
    return _info(row, production_pointer(conn))


def list_versions(engine: Engine) -> list[VersionInfo]:
    """Every version, newest first."""
    try:
        with engine.connect() as conn:
            live = production_pointer(conn)
            rows = conn.execute(select(MODEL_VERSIONS).order_by(MODEL_VERSIONS.c.id.desc())).all()
    except SQLAlchemyError as exc:
        raise _error(engine, "read model versions", exc) from None
    return [_info(r, live) for r in rows]


def production_version(engine: Engine) -> VersionInfo | None:
    """The version in production, or ``None``."""
    try:
        with engine.connect() as conn:
            live = production_pointer(conn)
            return None if live is None else get_version(conn, live)
    except SQLAlchemyError as exc:
        raise _error(engine, "read the production pointer", exc) from None


def version_by_sha256(conn: Connection, sha256: str) -> int | None:
    """The newest version whose file has this SHA-256 (``None``: not registered)."""
    return conn.execute(
        select(MODEL_VERSIONS.c.id)
        .where(MODEL_VERSIONS.c.sha256 == sha256)
        .order_by(MODEL_VERSIONS.c.id.desc())
        .limit(1)
    ).scalar()


def latest_run_of_version(conn: Connection, version_id: int) -> int | None:
    """The newest complete stored run written by ``version_id`` (``None``: none)."""
    return conn.execute(
        select(RUNS.c.id)
        .where(RUNS.c.model_version == int(version_id), RUNS.c.status == STATUS_COMPLETE)
        .order_by(RUNS.c.id.desc())
        .limit(1)
    ).scalar()


def _set_pointer(
    conn: Connection, version_id: int, previous: int | None, action: str, reason: str
) -> None:
    now = _dt.datetime.now(_dt.UTC)
    done = conn.execute(
        update(PRODUCTION)
        .where(PRODUCTION.c.id == POINTER_ID)
        .values(version_id=version_id, previous_version_id=previous, updated=now)
    ).rowcount
    if not done:
        conn.execute(
            insert(PRODUCTION).values(
                id=POINTER_ID, version_id=version_id, previous_version_id=previous, updated=now
            )
        )
    conn.execute(
        insert(PROMOTIONS).values(
            version_id=version_id,
            previous_version_id=previous,
            action=action,
            reason=reason,
            created=now,
        )
    )


def _lock_pointer(conn: Connection) -> tuple[int | None, int | None]:
    """``(current, previous)`` of the pointer, locked against a concurrent change until the
    transaction ends (an advisory lock on PostgreSQL, which also covers the first promotion,
    when the row does not exist yet; SQLite's write lock, taken by a first write)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _POINTER_LOCK})
    else:
        conn.execute(update(PRODUCTION).where(PRODUCTION.c.id == POINTER_ID).values(id=POINTER_ID))
    row = conn.execute(
        select(PRODUCTION.c.version_id, PRODUCTION.c.previous_version_id).where(
            PRODUCTION.c.id == POINTER_ID
        )
    ).first()
    return (None, None) if row is None else (row[0], row[1])


def promote(engine: Engine, version_id: int, reason: str = "") -> PointerChange:
    """Point production at ``version_id`` (one transaction, logged in ``promotions``).

    Raises:
        UnknownIdError: no such version. ConfigError: it is already in production.
    """
    try:
        with engine.begin() as conn:
            get_version(conn, version_id)
            current, _ = _lock_pointer(conn)
            if current == int(version_id):
                raise ConfigError(f"model version {version_id} is already in production")
            _set_pointer(conn, int(version_id), current, "promote", reason)
    except SQLAlchemyError as exc:
        raise _error(engine, "promote a model version", exc) from None
    return PointerChange("promote", int(version_id), current)


def rollback(engine: Engine, reason: str = "") -> PointerChange:
    """Point production back at the version it had before the current one.

    Repeated rollbacks walk further back: the new ``previous`` is the version that was in
    production before the restored one was last put there (from ``promotions``).

    Raises:
        ConfigError: no version in production, or none before it.
    """
    try:
        with engine.begin() as conn:
            current, previous = _lock_pointer(conn)
            if current is None:
                raise ConfigError("no model version is in production; nothing to roll back")
            if previous is None:
                raise ConfigError(f"model version {current} has no predecessor to roll back to")
            before = conn.execute(
                select(PROMOTIONS.c.previous_version_id)
                .where(PROMOTIONS.c.version_id == previous, PROMOTIONS.c.action == "promote")
                .order_by(PROMOTIONS.c.id.desc())
                .limit(1)
            ).scalar()
            _set_pointer(conn, int(previous), before, "rollback", reason or f"from v{current}")
    except SQLAlchemyError as exc:
        raise _error(engine, "roll back", exc) from None
    return PointerChange("rollback", int(previous), current)
