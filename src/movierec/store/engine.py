"""Connecting to the store: URL resolution, engine set-up, schema creation and version checks.

SQLite (the default, ``db/movierec.db`` under the working directory) runs in WAL mode so
readers never block on, nor see, a run being written. PostgreSQL is used when the URL is
``postgresql+psycopg://…`` (``--db-url`` or ``MOVIEREC_DB_URL``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from movierec.config import Layout, get_settings
from movierec.errors import StoreError
from movierec.store.schema import (
    LIVING_TABLES,
    SCHEMA_VERSION,
    SCHEMA_VERSION_TABLE,
    Base,
    SchemaVersion,
)

log = logging.getLogger(__name__)


def _has_column(conn: Connection, table: str, column: str) -> bool:
    return any(c["name"] == column for c in inspect(conn).get_columns(table))


def _add_run_writer(conn: Connection) -> None:
    """Schema 1 -> 2: ``runs.writer`` (the writing process, to reap runs it left behind)."""
    if not _has_column(conn, "runs", "writer"):
        conn.execute(text("ALTER TABLE runs ADD COLUMN writer VARCHAR(255) NOT NULL DEFAULT ''"))


def _add_living_tables(conn: Connection) -> None:
    """Schema 2 -> 3: the living pipeline's tables (users, ratings, model versions, the
    production pointer and its history) and ``runs.model_version``; existing rows are kept."""
    tables = [Base.metadata.tables[name] for name in LIVING_TABLES]
    Base.metadata.create_all(conn, tables=tables)
    if not _has_column(conn, "runs", "model_version"):
        conn.execute(text("ALTER TABLE runs ADD COLUMN model_version INTEGER"))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _add_run_writer, 2: _add_living_tables}
"""``MIGRATIONS[v]`` upgrades a database from schema ``v`` to ``v + 1`` in place."""


def resolve_db_url(db_url: str | None = None, home: str | Path | None = None) -> str:
    """The store URL: ``db_url`` if given, else ``MOVIEREC_DB_URL``, else SQLite under ``home``.

    ``postgresql://`` and ``postgres://`` are rewritten to ``postgresql+psycopg://`` (the
    only PostgreSQL driver installed).

    Raises:
        StoreError: the URL is malformed or names an unsupported database.
    """
    settings = get_settings()
    url = db_url or settings.db_url
    if not url:
        return Layout(Path(home) if home is not None else settings.home).default_db_url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {url!r}: {exc}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {parsed.get_backend_name()!r}; use sqlite:///path/to.db "
            "or postgresql+psycopg://user@host:port/dbname"
        )
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise StoreError("PostgreSQL URLs must use the psycopg driver: postgresql+psycopg://…")
    return url


def safe_url(url: str | URL) -> str:
    """``url`` with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid url>"


def database_label(url: str | URL) -> tuple[str, str]:
    """``(kind, name)`` of a store URL, safe to show: ``("sqlite", "movierec.db")`` (the
    file's name, not its path), ``("postgresql", "movierec")`` (the database, no host, user
    or password)."""
    parsed = make_url(url)
    kind = parsed.get_backend_name()
    database = parsed.database or ""
    if kind == "sqlite":
        return kind, Path(database).name if database not in ("", ":memory:") else ":memory:"
    return kind, database


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, pool_size: int | None = None, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for ``url`` (already resolved by :func:`resolve_db_url`).

    SQLite connections use WAL mode (readers never wait for a writer); nothing is created on
    disk until :func:`ensure_schema`. ``pool_size``: exactly that many pooled connections
    (no overflow), for a server that admits that many concurrent reads (an in-memory SQLite
    database keeps its single connection). Extra keyword arguments go to
    :func:`sqlalchemy.create_engine`.
    """
    parsed = make_url(url)
    if pool_size is not None and parsed.database not in (None, "", ":memory:"):
        kwargs.update(pool_size=pool_size, max_overflow=0)
    if parsed.get_backend_name() == "sqlite":
        connect_args = {"check_same_thread": False, "timeout": 30.0}
        connect_args.update(kwargs.pop("connect_args", {}))
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def as_engine(engine_or_url: Engine | str | None) -> tuple[Engine, bool]:
    """``(engine, owned)``: an engine for a URL (``owned``: caller disposes it) or the engine."""
    if isinstance(engine_or_url, Engine):
        return engine_or_url, False
    return make_engine(resolve_db_url(engine_or_url)), True


def _read_version(conn: Connection) -> int | None:
    insp = inspect(conn)
    if not insp.has_table(SchemaVersion.__tablename__):
        if insp.has_table("runs") or insp.has_table("recommendations"):
            raise StoreError(
                f"{safe_url(conn.engine.url)} holds 'runs'/'recommendations' tables but no "
                "schema_version: it was not created by movierec (or by a pre-release); "
                "point --db-url at a new database"
            )
        return None
    version = conn.execute(select(SchemaVersion.version)).scalar()
    return int(version) if version is not None else None


def schema_state(engine: Engine) -> int | None:
    """The schema version the database holds, or ``None`` if it holds no store tables.

    Raises:
        StoreError: the database is unreachable or holds tables but no version record.
    """
    try:
        with engine.connect() as conn:
            return _read_version(conn)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read the store at {safe_url(engine.url)}: {one_line(exc)}"
        ) from None


def _no_sqlite_file(engine: Engine) -> bool:
    """A SQLite URL whose file does not exist (looking must not create it)."""
    database = engine.url.database or ""
    if engine.url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        return not database.startswith("file:") and not Path(database).is_file()
    return False


def open_store(engine: Engine) -> bool:
    """``True`` if the database holds a store, upgraded to the current schema if it was
    older; ``False`` (creating nothing) if it holds none. For commands that read and mark
    runs (``movierec db runs``, ``db prune``).

    Raises:
        StoreError: as :func:`check_schema` and :func:`ensure_schema`.
    """
    if check_schema(engine):
        return True
    if _no_sqlite_file(engine) or schema_state(engine) is None:
        return False
    ensure_schema(engine)
    return True


def check_schema(engine: Engine) -> bool:
    """``True`` if the store exists with the current schema, ``False`` if it is empty.

    Raises:
        StoreError: the schema is older (and cannot be migrated) or newer than this movierec's.
    """
    if _no_sqlite_file(engine):
        return False  # don't create an empty file just by looking
    version = schema_state(engine)
    if version is None:
        return False
    if version == SCHEMA_VERSION:
        return True
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store at {safe_url(engine.url)} has schema version {version}, newer than "
            f"this movierec's {SCHEMA_VERSION}; upgrade movierec or use another --db-url"
        )
    if all(v in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        return False  # ensure_schema() migrates
    raise StoreError(
        f"the store at {safe_url(engine.url)} has schema version {version}, older than this "
        f"movierec's {SCHEMA_VERSION}, and cannot be migrated; export what you need with "
        "'movierec db export' and point --db-url at a new database"
    )


def ensure_schema(engine: Engine) -> None:
    """Create the tables (or migrate an older schema) so the store has :data:`SCHEMA_VERSION`."""
    if check_schema(engine):
        return
    database = engine.url.database or ""
    if engine.url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
        if not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    try:
        with engine.begin() as conn:
            version = _read_version(conn)
            if version is None:
                Base.metadata.create_all(conn)
                conn.execute(SCHEMA_VERSION_TABLE.insert().values(version=SCHEMA_VERSION))
                log.info("created store schema v%d at %s", SCHEMA_VERSION, safe_url(engine.url))
                return
            for v in range(version, SCHEMA_VERSION):
                MIGRATIONS[v](conn)
            conn.execute(SCHEMA_VERSION_TABLE.update().values(version=SCHEMA_VERSION))
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot create the store schema at {safe_url(engine.url)}: {one_line(exc)}"
        ) from None


def one_line(exc: BaseException) -> str:
    """First line of a database error, without SQLAlchemy's background link."""
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
