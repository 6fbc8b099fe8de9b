"""The life of a run after its writer: stale ``writing`` runs are reaped, failed runs pruned.

A run is inserted as ``writing`` with its writer's identity (``host:pid:start``, the start
time of the process in clock ticks, so a reused pid is not mistaken for the writer). A
writer that dies (``kill -9``, power loss) cannot mark its run ``failed``; the database
rolls its rows back, but the ``runs`` row would stay ``writing`` forever. So the next write,
``movierec db runs`` and ``movierec db prune`` reap such runs first (:func:`reap_stale_runs`):

* PostgreSQL: the writer holds a session advisory lock on ``(RUN_LOCK, run_id)`` from before
  its ``writing`` row becomes visible until it is done; the server releases it when the
  writer's connection ends. A run whose lock can be taken has no live writer. This holds
  across hosts.
* SQLite (one host): the writer's process is looked up; a run whose process is gone (or is
  another process with the same pid, or a zombie) has no live writer.
* A writer on another host of a SQLite file, or a run written before writers were recorded:
  reaped once older than ``stale_after`` (default 6 hours).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select, update

from movierec.interrupt import pid_exists, proc_fields
from movierec.store.schema import RECOMMENDATIONS, RUNS, STATUS_FAILED, STATUS_WRITING

log = logging.getLogger(__name__)

RUN_LOCK = 0x6D6F7672
"""First key of the PostgreSQL advisory lock ``(RUN_LOCK, run_id)`` a writer holds."""

STALE_AFTER = _dt.timedelta(hours=6)


def writer_identity(pid: int | None = None) -> str:
    """``host:pid:start`` of this process (``start``: clock ticks since boot, or ``""``)."""
    pid = os.getpid() if pid is None else pid
    fields = proc_fields(pid)
    start = fields[19] if fields is not None and len(fields) > 19 else ""
    return f"{socket.gethostname()}:{pid}:{start}"


def writer_alive(identity: str) -> bool | None:
    """Whether the writer ``identity`` still runs: ``True``/``False`` on this host, ``None``
    when it cannot be told (another host, or no identity recorded)."""
    parts = identity.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, pid, start = parts[0], int(parts[1]), parts[2]
    if host != socket.gethostname():
        return None
    fields = proc_fields(pid)
    if fields is None:
        return pid_exists(pid)  # no /proc: the pid exists, trust it
    if fields[0] in ("Z", "X"):
        return False
    return not start or (len(fields) > 19 and fields[19] == start)


def lock_run(conn: Connection, run_id: int) -> None:
    """Take the writer's lock on ``run_id`` (PostgreSQL; a no-op elsewhere): call it in the
    transaction that inserts the ``writing`` row, on the connection that writes the run."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_lock(RUN_LOCK, int(run_id))))


def unlock_run(conn: Connection, run_id: int) -> None:
    """Release :func:`lock_run` (PostgreSQL; a no-op elsewhere)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_unlock(RUN_LOCK, int(run_id))))


def _as_utc(when: _dt.datetime) -> _dt.datetime:
    return when.replace(tzinfo=_dt.UTC) if when.tzinfo is None else when


def reap_stale_runs(conn: Connection, stale_after: _dt.timedelta = STALE_AFTER) -> list[int]:
    """Mark ``failed`` every ``writing`` run whose writer is gone (see the module docstring);
    return their ids. Runs in the caller's transaction."""
    rows = conn.execute(
        select(RUNS.c.id, RUNS.c.writer, RUNS.c.created).where(RUNS.c.status == STATUS_WRITING)
    ).all()
    now = _dt.datetime.now(_dt.UTC)
    dead = []
    for run_id, writer, created in rows:
        alive: bool | None = None
        if writer and conn.dialect.name == "postgresql":
            taken = conn.execute(
                select(func.pg_try_advisory_xact_lock(RUN_LOCK, int(run_id)))
            ).scalar()
            alive = not taken
        elif writer:
            alive = writer_alive(writer)
        if alive is None:
            alive = now - _as_utc(created) < stale_after
        if not alive:
            dead.append(int(run_id))
    if dead:
        conn.execute(
            update(RUNS)
            .where(RUNS.c.id.in_(dead), RUNS.c.status == STATUS_WRITING)
            .values(status=STATUS_FAILED)
        )
        log.warning("marked run(s) %s failed: their writer is gone", dead)
    return dead


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune_failed` removed."""

    runs: list[int]
    recommendations: int


def prune_failed(conn: Connection) -> Pruned:
    """Reap stale runs, then delete every ``failed`` run and its rows (caller's transaction)."""
    reap_stale_runs(conn)
    ids = [int(i) for i in conn.scalars(select(RUNS.c.id).where(RUNS.c.status == STATUS_FAILED))]
    if not ids:
        return Pruned([], 0)
    rows = conn.execute(delete(RECOMMENDATIONS).where(RECOMMENDATIONS.c.run_id.in_(ids)))
    conn.execute(delete(RUNS).where(RUNS.c.id.in_(ids)))
    return Pruned(sorted(ids), int(rows.rowcount or 0))
