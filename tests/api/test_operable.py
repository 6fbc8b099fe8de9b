"""``movierec serve`` as operators run it: workers, log options, /metrics, offline /docs.

A real server process on 127.0.0.1 with ``--workers 2 --json-logs --access-log``; every
figure of ``/metrics`` is checked against the requests this test sent (whichever worker
answered them: the workers' metrics are added up).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from movierec.models.registry import make_model
from tests.api.conftest import free_port
from tests.api.living import MOVIEREC, import_ml100k, start_serve, stop

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

VERSION = re.compile(r"^movierec_model_version\{.*\} (\S+)$", flags=re.M)


@pytest.fixture(scope="module")
def ops_home(ml100k, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("ops")
    import_ml100k(f"sqlite:///{home / 'db' / 'movierec.db'}", ml100k)
    make_model("popularity").fit(*ml100k).save(home / "models" / "recommender.npz")
    return home


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text ``text`` (0 if absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_two_workers_json_access_logs_metrics_and_offline_docs(ops_home: Path) -> None:
    port = free_port()
    log = ops_home / "ops.log"
    args = ["--workers", "2", "--json-logs", "--access-log", "--log-level", "info"]
    proc = start_serve(ops_home, port, args=args, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            deadline = time.monotonic() + 60  # /ready answered once one worker was up
            while len(VERSION.findall(http.get("/metrics").text)) < 2:
                assert time.monotonic() < deadline, "the second worker did not start"
                time.sleep(0.2)
            for _ in range(20):
                assert http.get("/movies/50").status_code == 200
            for _ in range(3):
                assert http.get("/movies/999999").status_code == 404
            made = http.post("/users").json()
            headers = {"Authorization": f"Bearer {made['token']}"}
            put = http.put(f"/users/{made['id']}/ratings/50", json={"rating": 5}, headers=headers)
            assert put.status_code == 200
            recs = http.get(f"/users/{made['id']}/recommendations").json()
            assert recs["source"] == "fold-in" and recs["method"] == "fold-in"
            docs = http.get("/docs")
            asset = http.get("/static-offline-docs/swagger-ui-bundle.js")
            text = http.get("/metrics").text
            health = http.get("/health").json()
    finally:
        stop(proc)
    route = "/movies/{movie_id}"
    assert metric(text, "movierec_requests_total", route=route, status="200") == 20
    assert metric(text, "movierec_requests_total", route=route, status="404") == 3
    assert metric(text, "movierec_request_seconds_count", route=route, method="GET") == 23
    assert metric(text, "movierec_fold_in_seconds_count", method="fold-in") == 1
    # both workers serve the unregistered models/recommender.npz: version -1
    assert VERSION.findall(text) == ["-1.0", "-1.0"]
    assert len(health["swap"]["workers"]) == 2 and set(health["swap"]["workers"].values()) == {None}
    assert health["swap"]["all_in_sync"]  # no production pointer: nothing to follow
    # /docs is the self-hosted Swagger UI: no CDN, its script served by this server
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()
    assert "/static-offline-docs/swagger-ui-bundle.js" in docs.text
    assert asset.status_code == 200 and len(asset.content) > 100_000
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [x for x in lines if x["logger"] == "uvicorn.access"]
    assert sum(x["path"] == "/movies/50" and x["status"] == 200 for x in access) == 20
    assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)


def test_a_bad_log_level_is_one_line(ops_home: Path) -> None:
    done = subprocess.run(
        [*MOVIEREC, "serve", "--home", str(ops_home), "--log-level", "loud"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --log-level must be one of critical, error, warning, info, debug, not 'loud'"
    ]
