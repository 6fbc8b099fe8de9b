"""The service follows promotions and rollbacks without a restart, under load.

A real ``movierec serve`` process (one and two workers, ``MOVIEREC_SWAP_POLL=0.5``) serves the
production version of a store holding ml-100k; 4 client threads on 127.0.0.1 send
``GET /users/{id}/recommendations`` (no stored run: the live model answers, so every
answer names the model version that computed it) while ``movierec models promote`` and
``movierec models rollback`` run as commands. Bounded: 30 s at most.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from movierec.models.registry import make_model
from movierec.store import make_engine, promote
from tests.api.conftest import free_port
from tests.api.living import MOVIEREC, import_ml100k, register, start_serve, stop

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

POLL = 0.5
VERSION = re.compile(r"^movierec_model_version\{.*\} (\S+)$", flags=re.M)
LOAD_BOUND = 5.0
"""Seconds a swap may take after the poll that sees it (load + warm-up, on a busy box)."""


@pytest.fixture(scope="module")
def swap_home(ml100k, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    home = tmp_path_factory.mktemp("swap")
    url = f"sqlite:///{home / 'db' / 'movierec.db'}"
    as_of = import_ml100k(url, ml100k)
    first = register(home, url, make_model("user-knn").fit(*ml100k), as_of)
    second = register(home, url, make_model("ease").fit(*ml100k), as_of)
    engine = make_engine(url)
    promote(engine, first)
    engine.dispose()
    return home, first, second


def cli(home: Path, *args: str) -> float:
    """Run ``movierec models ARGS --home HOME``; the time it returned."""
    done = subprocess.run(
        [*MOVIEREC, "models", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return time.monotonic()


def worker_versions(url: str) -> list[int]:
    """The version every live worker serves, from ``/metrics`` (added up across workers)."""
    text = httpx.get(url + "/metrics", timeout=5).text
    return [int(float(v)) for v in VERSION.findall(text)]


@pytest.mark.parametrize("workers", [1, 2])
def test_promote_and_rollback_under_load_fail_no_request(swap_home, workers: int) -> None:
    home, first, second = swap_home
    port = free_port()
    proc = start_serve(
        home, port, env={"MOVIEREC_SWAP_POLL": str(POLL)}, args=["--workers", str(workers)]
    )
    url = f"http://127.0.0.1:{port}"
    answers: list[tuple[float, float, int, int | None, str]] = []
    errors: list[str] = []
    stop_load = threading.Event()

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            i = 0
            while not stop_load.is_set():
                user = 1 + (k * 7919 + i * 31) % 943
                i += 1
                t0 = time.monotonic()
                try:
                    r = http.get(f"/users/{user}/recommendations")
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                body = r.json() if r.status_code == 200 else {}
                answers.append(
                    (t0, time.monotonic(), r.status_code, body.get("model_version"), r.text[:80])
                )

    def all_workers_on(version: int) -> float:
        """When every worker serves ``version`` (seen through /metrics)."""
        deadline = time.monotonic() + POLL + LOAD_BOUND + 5
        while time.monotonic() < deadline:
            if worker_versions(url) == [version] * workers:
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"not every worker serves version {version}: {worker_versions(url)}")

    def first_answer_by(version: int, after: float) -> float:
        deadline = time.monotonic() + POLL + LOAD_BOUND + 5
        while time.monotonic() < deadline:
            hits = [a[0] for a in list(answers) if a[3] == version and a[0] >= after]
            if hits:
                return min(hits)
            time.sleep(0.05)
        raise AssertionError(f"no answer by version {version} within the stated delay")

    try:
        all_workers_on(first)  # /ready answered once one worker was up
        health = httpx.get(url + "/health", timeout=5).json()
        assert health["model"]["version"] == first and health["swap"]["in_sync"]
        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        started = time.monotonic()
        promoted = cli(home, "promote", str(second))
        to_second = first_answer_by(second, started)
        all_second = all_workers_on(second)
        time.sleep(1.0)
        back_started = time.monotonic()
        rolled = cli(home, "rollback")
        to_first = first_answer_by(first, back_started)
        all_first = all_workers_on(first)
        time.sleep(1.0)
        stop_load.set()
        for t in threads:
            t.join(15)
        health = httpx.get(url + "/health", timeout=5).json()
        metrics = httpx.get(url + "/metrics", timeout=5).text
        ready = httpx.get(url + "/ready", timeout=5)
    finally:
        stop_load.set()
        stop(proc)
    assert not errors, errors[:3]
    assert len(answers) > 50
    assert {a[2] for a in answers} == {200}, [a for a in answers if a[2] != 200][:3]
    assert {a[3] for a in answers} == {first, second}
    # the swap is seen within a poll plus the load after the command returned
    assert to_second - promoted < POLL + LOAD_BOUND
    assert to_first - rolled < POLL + LOAD_BOUND
    assert all_second - promoted < POLL + LOAD_BOUND and all_first - rolled < POLL + LOAD_BOUND
    # once every worker has swapped, every request sent later gets the new model
    assert all(a[3] == second for a in answers if all_second + 0.1 <= a[0] < back_started)
    assert all(a[3] == first for a in answers if a[0] >= all_first + 0.1)
    assert sum(a[0] >= all_first + 0.1 for a in answers) > 5
    assert health["model"]["version"] == first and health["swap"]["swaps"] == 2
    assert health["swap"]["in_sync"] and health["swap"]["production_version"] == first
    assert health["swap"]["all_in_sync"] and len(health["swap"]["workers"]) == workers
    assert f"movierec_model_swaps_total {2.0 * workers}" in metrics  # added up across workers
    assert ready.status_code == 200 and ready.json()["model_version"] == first


def test_a_version_whose_file_changed_is_refused_and_the_old_model_serves(
    swap_home, ml100k
) -> None:
    """In process: promote a version whose file no longer matches its SHA-256; one poll
    leaves the old model serving, says why in /health, and counts a store error."""
    from fastapi.testclient import TestClient

    from movierec.api.app import create_app
    from movierec.config import Settings
    from movierec.store import list_versions, rollback

    home, first, _ = swap_home
    url = f"sqlite:///{home / 'db' / 'movierec.db'}"
    bad = register(home, url, make_model("popularity").fit(*ml100k), None)
    engine = make_engine(url)
    info = next(v for v in list_versions(engine) if v.id == bad)
    app = create_app(Settings(swap_poll=0), home=home)
    try:
        with TestClient(app) as client:
            assert client.get("/health").json()["model"]["version"] == first
            info.file(home).write_bytes(info.file(home).read_bytes()[:-10] + b"0123456789")
            promote(engine, bad)
            assert client.portal.call(app.state.swap.check) is False
            health = client.get("/health").json()
            assert health["model"]["version"] == first  # still the old model
            assert health["swap"]["production_version"] == bad and not health["swap"]["in_sync"]
            assert "SHA-256 differs" in health["swap"]["error"]
            assert client.portal.call(app.state.swap.check) is False  # not retried
            assert client.get("/users/1/recommendations").status_code == 200
    finally:
        rollback(engine)
        engine.dispose()
