"""``movierec schedule`` on one machine: it starts a real Prefect server (a child on a free
port), serves the retrain deployment with its cron; a run triggered through Prefect's API
registers a new model version in the store; Ctrl-C stops the command and its server within
seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from movierec.cli import main
from movierec.prefect_server import _answers
from movierec.store import list_versions, make_engine, runs_table

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_schedule_serves_retrain_and_ctrl_c_stops_it(shared_data: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    main(["download", "--source", str(shared_data / "ml-100k.zip"), "--home", str(home)])
    main(["convert", "--home", str(home)])
    main(["import", "--home", str(home)])
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "MOVIEREC_HOME": str(home),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "MOVIEREC_TRACKING": "0",
    }
    env.pop("PREFECT_API_URL", None)
    out, err = (tmp_path / "out.txt").open("w"), (tmp_path / "err.txt").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "movierec", "schedule", "--cron", "0 4 * * *"]
        + ["--model", "popularity", "--prefect-port", str(port)],
        stdout=out,
        stderr=err,
        env=env,
    )
    try:
        name = f"{api}/deployments/name/movierec-retrain/movierec-retrain"

        def deployment() -> dict | None:
            try:
                got = httpx.get(name, timeout=5)
            except httpx.HTTPError:
                return None
            return got.json() if got.status_code == 200 else None

        dep = wait_for(deployment, 300, "the deployment")
        assert dep["schedules"][0]["schedule"]["cron"] == "0 4 * * *"
        assert dep["parameters"]["cfg"]["model"] == "popularity"
        assert dep["parameters"]["cfg"]["db_url"] is None  # no secret stored in Prefect
        # Prefect's server answers 503 while its SQLite database is locked (its own client
        # retries those); the test retries the same way, a bounded number of times.
        for _ in range(10):
            run = httpx.post(f"{api}/deployments/{dep['id']}/create_flow_run", json={}, timeout=10)
            if run.status_code != 503:
                break
            time.sleep(2.0)
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]

        def finished() -> str | None:
            state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=5).json()["state_type"]
            return state if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        assert wait_for(finished, 300, "the triggered flow run") == "COMPLETED"
        engine = make_engine(f"sqlite:///{home / 'db' / 'movierec.db'}")
        [version] = list_versions(engine)
        assert version.is_production and version.model == "popularity"
        assert [r.model_version for r in runs_table(engine)] == [version.id]
        engine.dispose()
    finally:
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        took = time.monotonic() - t0
        out.close()
        err.close()
    assert code == 130 and took < 10, (code, took)
    assert (
        (tmp_path / "err.txt")
        .read_text()
        .strip()
        .endswith("error: interrupted; the previous artifacts were kept")
    )
    assert (
        "serving deployment movierec-retrain/movierec-retrain" in (tmp_path / "out.txt").read_text()
    )
    wait_for(lambda: not _answers(api), 10, "the server child to stop")
