"""Runs left ``writing`` by a dead writer are reaped; ``movierec db prune`` removes failed runs.

The writer is a real process (``write_run`` in a subprocess, held mid-transaction after its
rows are loaded) killed with SIGKILL, on SQLite and on the real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, insert, select, text

from movierec.store import make_engine, runs_table
from movierec.store.engine import ensure_schema
from movierec.store.lifecycle import RUN_LOCK, reap_stale_runs, writer_alive, writer_identity
from movierec.store.schema import RECOMMENDATIONS, RUNS
from tests.store.test_store import top_n
from tests.store.toy import write_model_run
from tests.test_cli import run_cli

WRITER = """
import sys, time
import pandas as pd
from movierec.store import RunMeta, write_run, writer

load = writer._bulk_load


def load_then_stall(conn, run_id, recs):  # the rows are in, the transaction still open
    load(conn, run_id, recs)
    print(run_id, flush=True)
    time.sleep(120)


writer._bulk_load = load_then_stall
frame = pd.DataFrame({"userId": range(1, 501), "rank": 1, "movieId": 7, "score": 1.0})
write_run(sys.argv[1], RunMeta("killed", {"n": 1}, "f"), frame)
"""


def start_writer(url: str) -> tuple[subprocess.Popen[str], int]:
    """A writer process mid-write: its run is ``writing`` with 500 uncommitted rows."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the rows are loaded (or the writer died)
    assert line.strip().isdigit(), f"writer exited with {proc.poll()}"
    return proc, int(line)


def kill(proc: subprocess.Popen[str], url: str, run_id: int) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    if url.startswith("postgresql"):  # the server drops the dead session (and its locks)
        engine = make_engine(url)
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid = :c AND objid = :o"
        )
        deadline = time.monotonic() + 10
        with engine.connect() as conn:
            while conn.execute(query, {"c": RUN_LOCK, "o": run_id}).scalar() and (
                time.monotonic() < deadline
            ):
                time.sleep(0.05)
                conn.rollback()
        engine.dispose()


def rows_of(url: str, run_id: int) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count()).where(RECOMMENDATIONS.c.run_id == run_id)
        ).scalar_one()
    engine.dispose()
    return int(n)


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, out, err = run_cli(argv, capsys)
    return code, out + err


@pytest.mark.slow
def test_killed_writer_is_reaped_by_db_runs_and_pruned(
    db_url: str, toy_model, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_model_run(db_url, toy_model, top_n(toy_model, 2))
    proc, run_id = start_writer(db_url)
    try:
        # alive: looking at the runs never marks a live writer's run failed
        status = {r.id: r.status for r in runs_table(db_url)}
        assert status == {first: "complete", run_id: "writing"}
    finally:
        kill(proc, db_url, run_id)
    assert rows_of(db_url, run_id) == 0  # the database rolled the rows back
    code, out = cli(["db", "runs", "--db-url", db_url], capsys)
    assert code == 0 and "failed" in out and "writing" not in out
    (killed,) = [r for r in runs_table(db_url) if r.id == run_id]
    assert killed.status == "failed" and not killed.is_current
    current = [r.id for r in runs_table(db_url) if r.is_current]
    assert current == [first]
    code, out = cli(["db", "prune", "--db-url", db_url], capsys)
    assert code == 0, out
    assert out.strip() == f"removed 1 failed run(s) ({run_id}) and 0 recommendation row(s)"
    assert [r.id for r in runs_table(db_url)] == [first]
    code, out = cli(["db", "prune", "--db-url", db_url], capsys)
    assert out.strip() == "removed 0 failed run(s) and 0 recommendation row(s)"


@pytest.mark.slow
def test_next_write_reaps_a_killed_writer(db_url: str, toy_model) -> None:
    write_model_run(db_url, toy_model, top_n(toy_model, 1))
    proc, run_id = start_writer(db_url)
    kill(proc, db_url, run_id)
    engine = make_engine(db_url)
    with engine.connect() as conn:  # nobody looked at the runs in between
        status = conn.execute(select(RUNS.c.status).where(RUNS.c.id == run_id)).scalar_one()
    engine.dispose()
    assert status == "writing"
    new = write_model_run(db_url, toy_model, top_n(toy_model, 3))
    status = {r.id: (r.status, r.is_current) for r in runs_table(db_url)}
    assert status[run_id] == ("failed", False) and status[new] == ("complete", True)


def test_failed_runs_with_rows_are_pruned_with_their_rows(db_url: str, toy_model) -> None:
    keep = write_model_run(db_url, toy_model, top_n(toy_model, 2))
    gone = write_model_run(db_url, toy_model, top_n(toy_model, 2), make_current=False)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(RUNS.update().where(RUNS.c.id == gone).values(status="failed"))
    engine.dispose()
    from movierec.store import prune_runs

    pruned = prune_runs(db_url)
    assert pruned.runs == [gone] and pruned.recommendations == 2 * toy_model.data_.n_users
    assert [r.id for r in runs_table(db_url)] == [keep]
    assert rows_of(db_url, gone) == 0 and rows_of(db_url, keep) == 2 * toy_model.data_.n_users


def test_reaping_rules_without_a_live_lock(tmp_path) -> None:
    """SQLite: the writer's process decides; without a usable identity, the age does."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(hours=7)
    me = writer_identity()
    host, pid, start = me.rsplit(":", 2)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    cases = {
        "me": (me, now, "writing"),
        "dead pid": (f"{host}:{dead}:1", now, "failed"),
        "reused pid": (f"{host}:{pid}:{int(start or 0) + 1}", now, "failed"),
        "other host, fresh": ("elsewhere:1:1", now, "writing"),
        "other host, old": ("elsewhere:1:1", old, "failed"),
        "unknown writer, fresh": ("", now, "writing"),
        "unknown writer, old": ("", old, "failed"),
    }
    ids = {}
    with engine.begin() as conn:
        for name, (writer, created, _) in cases.items():
            ids[name] = conn.execute(
                insert(RUNS)
                .values(model=name, created=created, status="writing", writer=writer)
                .returning(RUNS.c.id)
            ).scalar_one()
        reaped = reap_stale_runs(conn)
        status = dict(conn.execute(select(RUNS.c.model, RUNS.c.status)).all())
    engine.dispose()
    assert status == {name: want for name, (_, _, want) in cases.items()}
    assert sorted(reaped) == sorted(ids[n] for n, c in cases.items() if c[2] == "failed")
    assert writer_alive(me) is True and writer_alive("elsewhere:1:1") is None


def test_a_schema_1_store_is_upgraded_and_keeps_its_runs(db_url: str, toy_model) -> None:
    first = write_model_run(db_url, toy_model, top_n(toy_model, 1))
    engine = make_engine(db_url)
    with engine.begin() as conn:  # what movierec 0.1 with schema 1 wrote
        conn.execute(text("ALTER TABLE runs DROP COLUMN writer"))
        conn.execute(text("UPDATE schema_version SET version = 1"))
    engine.dispose()
    (run,) = runs_table(db_url)  # upgrades the schema to read and reap
    assert (run.id, run.status, run.is_current) == (first, "complete", True)
    second = write_model_run(db_url, toy_model, top_n(toy_model, 1))
    assert [r.id for r in runs_table(db_url)] == [second, first]
