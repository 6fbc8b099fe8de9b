"""The store as the API sees it: short sessions, a rechecked availability, a safe label.

Every read opens a session, reads and closes it (:meth:`StoreHandle.session`): a pooled
connection is held for one read only. The routes run reads in the store gate's worker
threads (:mod:`movierec.api.gates`), never on the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from movierec.errors import StoreError
from movierec.store.engine import check_schema, database_label

log = logging.getLogger(__name__)


@contextmanager
def store_errors() -> Iterator[None]:
    """Database failures while reading the store become :class:`StoreError` (HTTP 503),
    with the error's class only (the URL and the server's message go to the log)."""
    try:
        yield
    except SQLAlchemyError as exc:
        log.warning("store read failed: %s", exc)
        raise StoreError(f"the recommendation store failed: {type(exc).__name__}") from None


class StoreHandle:
    """The store's engine, or none; re-checks an empty store at most every ``recheck`` s.

    An incompatible schema or an unreachable server raises :class:`StoreError` at start-up
    (:meth:`check`); later the API degrades to the live model instead of failing.

    Attributes:
        kind: ``"sqlite"``, ``"postgresql"`` or ``""`` (no store).
        name: the database's name (a SQLite file's name, not its path); no host, user or
            password, so it is safe to show.
        detail: why the store is unavailable (no URL or path in it).
    """

    def __init__(self, engine: Engine | None, recheck: float = 2.0) -> None:
        self.engine = engine
        self.recheck = recheck
        self._ok = False
        self._checked = -1e9
        self.kind, self.name = database_label(engine.url) if engine is not None else ("", "")
        self.detail = "no store configured" if engine is None else ""

    def check(self) -> bool:
        """Look at the store now; raises :class:`StoreError` if it is unusable."""
        if self.engine is None:
            return False
        self._checked = time.monotonic()
        self._ok = check_schema(self.engine)
        self.detail = "" if self._ok else "empty: no run stored yet"
        return self._ok

    @property
    def ok(self) -> bool:
        """Whether the store was usable when last looked at (no I/O)."""
        return self._ok

    def available(self) -> bool:
        """Whether reads can be tried (blocking: may look at the store; call it off the
        event loop)."""
        if self._ok or self.engine is None:
            return self._ok
        if time.monotonic() - self._checked < self.recheck:
            return False
        try:
            return self.check()
        except StoreError as exc:
            log.warning("store unavailable: %s", exc)
            self.detail = "unreachable or incompatible (see the server log)"
            return False

    @contextmanager
    def session(self) -> Iterator[Connection]:
        """A connection for one read (Core, no ORM session: the reads are
        :mod:`movierec.store.queries` statements); back to the pool on exit."""
        if self.engine is None:
            raise StoreError("no store configured")
        with self.engine.connect() as db:
            yield db

    def ping(self) -> str:
        """``"ok"`` if the store answers a trivial query now, ``"none"`` without a store,
        else why not (the error's class only). Blocking: call it off the event loop."""
        if self.engine is None:
            return "none"
        try:
            with self.engine.connect() as db:
                db.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.warning("store ping failed: %s", exc)
            return f"unreachable: {type(exc).__name__}"
        return "ok"

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
