"""Serving benchmark: store write time and a bounded HTTP load test, on 127.0.0.1 only.

1. Trains each of ``--models`` (default: user-knn, the product default, and svd) on the
   real ml-100k and stores every user's top-10 with explanations.
2. Store: writes every user's top-10 (9,430 rows) as one run into SQLite and into
   PostgreSQL (if reachable; a throw-away schema), best of ``--repeat`` runs.
3. Starts ``movierec serve`` (uvicorn, ``--workers``) itself and loads two endpoints:
   ``GET /users/{id}/recommendations`` (stored run; random users) and
   ``POST /recommendations`` (fold-in from 5 random ratings of popular movies).
   With Debian's ``wrk`` installed (``apt-get install wrk``) each endpoint runs for a fixed
   ``--duration``; without it an httpx/asyncio client sends a fixed ``--requests``.
   Both stop by themselves. Reports requests/s and p50/p99 latency.

Anchors run side by side: ``pandas.DataFrame.to_sql`` of the same rows (store writes) and
``GET /movies/50``, an in-memory lookup through the same stack (the framework's ceiling).
The server's CPU time per request is reported too: unlike req/s it holds up when other
jobs share the machine.

4. The live path under pressure (``--live-models``, default user-knn; needs ``wrk``): for
   SQLite and PostgreSQL, two ways a request reaches the live model: ``n=20`` over a stored
   top-10, and ``n=10`` over a run stored with ``-n 5``; each at ``--levels`` concurrent
   connections (16, 64, 256) for ``--live-duration`` seconds, with ``/health`` probed every
   100 ms meanwhile (its worst latency and failures). A fresh server per level. Requests are
   counted by status: 200, 503 (the queue is full: by design), other, and wrk's timeouts.

5. Writes (``--writes``, issue 12; results in ``benchmarks/results/serve_writes.json``):
   ml-100k imported into the store, user-knn (v1, production) and ease (v2) registered as
   model versions; ``movierec serve --workers W`` (``--write-workers 1,2``) on SQLite and
   PostgreSQL; wrk PUTs random ratings by 64 users created through ``POST /users`` (their
   own tokens) at ``--write-connections`` (4, 16) for ``--write-duration`` s: acknowledged
   PUT/s, p50/p99, server CPU per PUT; read-after-write: 200 sequential PUT-then-GET
   ``/users/{id}/recommendations`` (new users; MovieLens users through the admin token),
   the GET must be a fold-in without the movie, server times from ``Server-Timing``; swap
   under load: 4 threads ask for live recommendations while the pointer is promoted to v2
   and rolled back: failed requests and the delay to the first and the last answer of each
   switch. Targets: >= 500 acknowledged PUT/s, p99 < 50 ms, read-after-write < 50 ms.

Targets (2 cores): stored ≥ 1,000 req/s with p99 < 50 ms; fold-in ≥ 200 req/s; live path:
no timeouts, only 200 or 503, ``/health`` < 1 s throughout.
Writes ``benchmarks/results/serve.json`` (figures only, no MovieLens data).

Run: ``.venv/bin/python benchmarks/serve.py [--models user-knn,svd] [--workers 2]``

Before/after: the same script measures another checkout when run with its sources first on
the path (``git archive <commit> | tar -x -C /tmp/before``, then
``PYTHONPATH=/tmp/before/src python benchmarks/serve.py --label <commit> --out before.json``);
``--baseline before.json`` then puts those figures beside this run's in the results file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from movierec.data.releases import load_release
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.models.registry import make_model
from movierec.store import RunMeta, write_run
from movierec.topn import recommend_all

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serve.json"
PG_URL = os.environ.get("MOVIEREC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGETS = {"stored_req_s": 1000.0, "stored_p99_ms": 50.0, "fold_in_req_s": 200.0, "write_s": 1.0,
           "live_health_max_s": 1.0}  # fmt: skip


def shared_data() -> Path:
    env = os.environ.get("MOVIEREC_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def load_ml100k(folder: Path) -> tuple[Interactions, ItemCatalog]:
    ratings, movies = load_release("ml-100k", folder)
    return Interactions.from_frame(ratings), ItemCatalog.from_frame(movies)


# ---------------------------------------------------------------------- store writes
def time_writes(url: str, frame: pd.DataFrame, model: Recommender, repeat: int) -> dict:
    """Best wall time (s) of writing all users' top-10 as one run (schema already created),
    beside the anchor: ``pandas.DataFrame.to_sql`` of the same rows in one transaction."""
    from sqlalchemy import create_engine

    meta, catalog = RunMeta.of(model, n=10), model.items_catalog_
    write_run(url, meta, frame.head(10), catalog=catalog)  # the schema and movies, once
    best = anchor = float("inf")
    engine = create_engine(url)
    rows = frame.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    try:
        rows.head(0).to_sql("anchor_recommendations", engine, index=False, if_exists="replace")
        for _ in range(repeat):
            t0 = time.perf_counter()
            write_run(url, meta, frame, catalog=catalog)
            best = min(best, time.perf_counter() - t0)
            t0 = time.perf_counter()
            with engine.begin() as conn:
                rows.to_sql("anchor_recommendations", conn, index=False, if_exists="append")
            anchor = min(anchor, time.perf_counter() - t0)
    finally:
        engine.dispose()
    return {"write_run_s": round(best, 4), "pandas_to_sql_s": round(anchor, 4),
            "ratio_vs_pandas": round(best / anchor, 2)}  # fmt: skip


def time_postgres(frame: pd.DataFrame, model: Recommender, repeat: int) -> dict | None:
    """:func:`time_writes` into a throw-away PostgreSQL schema (``None`` if unreachable)."""
    with store_url("postgres", Path(tempfile.gettempdir())) as url:
        return None if url is None else time_writes(url, frame, model, repeat)


# ---------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    home: Path,
    port: int,
    workers: int,
    db_url: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "movierec", "serve", "--home", str(home), "--port", str(port)]
    cmd += ["--workers", str(workers), *(["--db-url", db_url] if db_url else [])]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"movierec serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start within 120 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s (a frozen server may never finish its requests)."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the server's own session: it and its worker processes
        proc.wait(10)


def cpu_seconds(root: int) -> float:
    """User+system CPU seconds of process ``root`` and its direct children (uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# ---------------------------------------------------------------------- load generators
WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %f, "errors": %d, "timeouts": %d, "non_2xx": %d, '
    .. '"p50_ms": %f, "p99_ms": %f, "mean_ms": %f}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout,
    e.timeout, e.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000))
end
"""


def wrk_script(kind: str, user_ids: list[int], popular: list[int]) -> str:
    if kind == "ceiling":
        body = """
request = function()
  return wrk.format("GET", "/movies/50")
end
"""
    elif kind == "stored":
        users = ", ".join(map(str, user_ids))
        body = f"""
local users = {{{users}}}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/users/" .. users[(i % #users) + 1] .. "/recommendations?n=10")
end
"""
    else:
        movies = ", ".join(map(str, popular))
        body = f"""
math.randomseed(42)
local movies = {{{movies}}}
request = function()
  local parts = {{}}
  local start = math.random(1, #movies - 5)
  for k = 0, 4 do
    parts[#parts + 1] = string.format('{{"movieId": %d, "rating": %d}}',
      movies[start + k], math.random(1, 5))
  end
  local payload = '{{"n": 10, "ratings": [' .. table.concat(parts, ", ") .. ']}}'
  return wrk.format("POST", "/recommendations", {{["Content-Type"] = "application/json"}}, payload)
end
"""
    return body + WRK_DONE


def wrk_live_script(user_ids: list[int], n: int) -> str:
    """Known users asking for ``n`` movies (the live model answers when fewer are stored);
    the done() line adds the count of each HTTP status (gathered from every wrk thread)."""
    users = ", ".join(map(str, user_ids))
    return (
        f"""
local users = {{{users}}}
local i = 0
local threads = {{}}
statuses = {{}}
setup = function(thread)
  table.insert(threads, thread)
end
request = function()
  i = i + 1
  return wrk.format("GET", "/users/" .. users[(i % #users) + 1] .. "/recommendations?n={n}")
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
"""
        + WRK_DONE.replace("end\n", "", 1).rstrip()
        + """
  local total = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    parts[#parts + 1] = string.format('"%d": %d', status, count)
  end
  io.write('STATUS {' .. table.concat(parts, ", ") .. '}\\n')
end
"""
    )


def run_wrk(url: str, script: str, duration: float, connections: int, threads: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "10s",
                "-s",
                fh.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(fh.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    res = json.loads(line[len("RESULT ") :])
    status = [x for x in out.splitlines() if x.startswith("STATUS ")]
    if status:
        res["status"] = json.loads(status[0][len("STATUS ") :])
    res["req_s"] = res["requests"] / res["seconds"]
    res["tool"] = f"wrk -t{threads} -c{connections} -d{max(1, round(duration))}s"
    return res


def run_httpx(url: str, kind: str, n: int, concurrency: int, users: list[int], popular: list[int]):
    """A fixed number of requests from ``concurrency`` asyncio workers; per-request latency."""
    rng = random.Random(42)
    jobs: list[tuple[str, str, Any]] = []
    for i in range(n):
        if kind == "ceiling":
            jobs.append(("GET", "/movies/50", None))
        elif kind == "stored":
            jobs.append(("GET", f"/users/{users[i % len(users)]}/recommendations?n=10", None))
        else:
            start = rng.randrange(len(popular) - 5)
            ratings = [
                {"movieId": m, "rating": rng.randint(1, 5)} for m in popular[start : start + 5]
            ]
            jobs.append(("POST", "/recommendations", {"n": 10, "ratings": ratings}))

    async def main() -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors = 0
        queue = iter(jobs)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

            async def worker() -> None:
                nonlocal errors
                for method, path, body in queue:
                    t0 = time.perf_counter()
                    r = await client.request(method, path, json=body)
                    latencies.append(time.perf_counter() - t0)
                    errors += r.status_code != 200

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return latencies, errors, time.perf_counter() - t0

    lat, errors, seconds = asyncio.run(main())
    ms = np.array(lat) * 1000
    return {
        "requests": n,
        "seconds": seconds,
        "req_s": n / seconds,
        "errors": 0,
        "non_2xx": errors,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "tool": f"httpx asyncio, {n} requests, concurrency {concurrency}",
    }


# ---------------------------------------------------------------------- the live path
LIVE_SCENARIOS = (
    ("n=20 over a stored top-10", 10, 20),
    ("n=10 over a run stored with -n 5", 5, 10),
)


@contextmanager
def store_url(backend: str, home: Path) -> Iterator[str | None]:
    """A fresh store of ``backend`` (``None`` if PostgreSQL is unreachable)."""
    if backend == "sqlite":
        yield f"sqlite:///{home / 'db' / 'movierec.db'}"
        return
    import psycopg
    from sqlalchemy import make_url

    u = make_url(PG_URL)
    params = {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database}
    schema = f"movierec_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(**params, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.Error as exc:
        print(f"PostgreSQL unreachable, skipped: {exc}")
        yield None
        return
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


class HealthProbe(threading.Thread):
    """``GET /health`` every 100 ms (5 s timeout each) until :meth:`stop`: the worst
    latency, and how many probes failed (timeout, refused or not 200)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.latencies: list[float] = []
        self.failures = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self._stop_event.is_set():
                t0 = time.perf_counter()
                try:
                    ok = client.get("/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - t0)
                self.failures += not ok
                self._stop_event.wait(0.1)

    def stop(self) -> dict[str, Any]:
        self._stop_event.set()
        self.join(10)
        return {
            "health_probes": len(self.latencies),
            "health_failures": self.failures,
            "health_max_s": round(max(self.latencies, default=float("nan")), 3),
            "health_p50_s": round(float(np.median(self.latencies)), 4) if self.latencies else None,
        }


def bench_live(
    name: str, data: Interactions, catalog: ItemCatalog, args: argparse.Namespace
) -> dict[str, Any]:
    """The live path at each concurrency level, on SQLite and PostgreSQL (a fresh server
    per level: an overloaded server of an older version may stay frozen for minutes), with
    ``--live-workers`` server processes (1, ``movierec serve``'s default)."""
    model = make_model(name).fit(data, catalog)
    users = random.Random(11).sample(data.users.ids.tolist(), len(data.users))
    levels = [int(c) for c in args.levels.split(",")]
    out: dict[str, Any] = {}
    for backend in ("sqlite", "postgres"):
        out[backend] = {}
        for scenario, stored_n, ask_n in LIVE_SCENARIOS:
            home = Path(tempfile.mkdtemp(prefix="movierec-live-"))
            try:
                model.save(home / "models" / "recommender.npz")
                with store_url(backend, home) as url:
                    if url is None:
                        out[backend] = None
                        break
                    frame = recommend_all(model, n=stored_n)
                    write_run(url, RunMeta.of(model, n=stored_n), frame, catalog=catalog)
                    served = None if backend == "sqlite" else url
                    runs = {}
                    for c in levels:
                        port = free_port()
                        proc = start_server(home, port, args.live_workers, served)
                        base = f"http://127.0.0.1:{port}"
                        try:
                            probe = HealthProbe(base)
                            probe.start()
                            script = wrk_live_script(users, ask_n)
                            cpu0 = cpu_seconds(proc.pid)
                            res = run_wrk(base, script, args.live_duration, c, 1)
                            cpu = (cpu_seconds(proc.pid) - cpu0) * 1000
                            res.update(probe.stop())
                            res["server_cpu_ms_per_request"] = cpu / max(res["requests"], 1)
                        finally:
                            stop_server(proc)
                        res["concurrency"] = c
                        runs[str(c)] = res
                        print(
                            f"{backend:8s} {scenario:34s} c={c:3d}: {res['req_s']:7.0f} req/s "
                            f"p99 {res['p99_ms']:8.1f} ms  status {res.get('status')}  "
                            f"timeouts {res['timeouts']}  /health max {res['health_max_s']} s "
                            f"({res['health_failures']}/{res['health_probes']} failed)"
                        )
                    out[backend][scenario] = runs
            finally:
                shutil.rmtree(home, ignore_errors=True)
    return out


# ---------------------------------------------------------------------- main
def bench_model(
    name: str, data: Interactions, catalog: ItemCatalog, args: argparse.Namespace, tool: str
) -> dict[str, Any]:
    """Fit, store, serve and load-test one model; the figures of one model."""
    t0 = time.perf_counter()
    model = make_model(name).fit(data, catalog)
    fit_s = time.perf_counter() - t0
    print(f"\n== {name}: fitted on ml-100k in {fit_s:.2f} s")
    home = Path(tempfile.mkdtemp(prefix="movierec-bench-"))
    proc = None
    try:
        t0 = time.perf_counter()
        frame = recommend_all(model, n=10)
        explain_s = time.perf_counter() - t0
        print(f"top-10 + explanations for all users in {explain_s:.2f} s")
        sqlite_url = f"sqlite:///{home / 'db' / 'movierec.db'}"
        writes: dict[str, Any] = {"rows": len(frame), "explain_s": round(explain_s, 3)}
        writes["postgres"] = time_postgres(frame, model, args.repeat)
        writes["sqlite"] = time_writes(sqlite_url, frame, model, args.repeat)  # served next
        for backend in ("sqlite", "postgres"):
            w = writes[backend]
            print(
                f"store write of {len(frame)} rows into {backend}: skipped"
                if w is None
                else f"store write of {len(frame)} rows into {backend}: {w['write_run_s']:.3f} s "
                f"(pandas to_sql {w['pandas_to_sql_s']:.3f} s, ratio {w['ratio_vs_pandas']})"
            )
        model.save(home / "models" / "recommender.npz")

        port = free_port()
        proc = start_server(home, port, args.workers)
        url = f"http://127.0.0.1:{port}"
        users = random.Random(7).sample(data.users.ids.tolist(), len(data.users))
        counts = np.diff(data.matrix.tocsc().indptr)
        popular = data.items.ids[np.argsort(-counts, kind="stable")[:200]].tolist()
        endpoints: dict[str, Any] = {}
        for kind, label in (
            ("ceiling", "GET /movies/50 (framework ceiling)"),
            ("stored", "GET /users/{id}/recommendations"),
            ("fold_in", "POST /recommendations"),
        ):
            if tool == "wrk":
                script = wrk_script(kind, users, popular)
                run_wrk(url, script, 2.0, args.connections, 1)  # warm-up
                cpu0 = cpu_seconds(proc.pid)
                res = run_wrk(url, script, args.duration, args.connections, 1)
            else:
                run_httpx(url, kind, 200, args.connections, users, popular)  # warm-up
                cpu0 = cpu_seconds(proc.pid)
                res = run_httpx(url, kind, args.requests, args.connections, users, popular)
            # server CPU per request: a figure that holds up when other jobs share the machine
            res["server_cpu_ms_per_request"] = (
                (cpu_seconds(proc.pid) - cpu0) * 1000 / max(res["requests"], 1)
            )
            res["endpoint"] = label
            endpoints[kind] = res
            print(
                f"{label:34s} {res['req_s']:8.0f} req/s  p50 {res['p50_ms']:6.2f} ms  "
                f"p99 {res['p99_ms']:6.2f} ms  non-2xx {res['non_2xx']}  "
                f"server CPU {res['server_cpu_ms_per_request']:.2f} ms/req  ({res['tool']})"
            )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    stored, fold = endpoints["stored"], endpoints["fold_in"]
    stored["ratio_vs_ceiling"] = round(stored["req_s"] / endpoints["ceiling"]["req_s"], 3)
    met = {
        "stored": stored["req_s"] >= TARGETS["stored_req_s"]
        and stored["p99_ms"] < TARGETS["stored_p99_ms"],
        "fold_in": fold["req_s"] >= TARGETS["fold_in_req_s"],
        "write_sqlite": writes["sqlite"]["write_run_s"] < TARGETS["write_s"],
        "write_postgres": writes["postgres"] is not None
        and writes["postgres"]["write_run_s"] < TARGETS["write_s"],
    }
    print(f"targets met: {met}")
    return {
        "fit_s": round(fit_s, 3),
        "store_write": writes,
        "endpoints": endpoints,
        "met": met,
    }


# ---------------------------------------------------------------------- writes (issue 12)
WRITE_TARGETS = {"put_ack_s": 500.0, "put_p99_ms": 50.0, "read_after_write_ms": 50.0}
WRITES_RESULTS = ROOT / "benchmarks" / "results" / "serve_writes.json"
ADMIN = "bench-admin-token"


def wrk_put_script(users: list[tuple[int, str]], n_movies: int) -> str:
    """PUT a random rating (1-5) of a random movie by a random one of ``users`` (their own
    tokens); wrk counts non-2xx answers."""
    rows = ", ".join(f'{{{uid}, "{tok}"}}' for uid, tok in users)
    return (
        f"""
local users = {{{rows}}}
math.randomseed(7)
request = function()
  local u = users[math.random(#users)]
  local body = '{{"rating": ' .. math.random(5) .. '}}'
  return wrk.format("PUT", "/users/" .. u[1] .. "/ratings/" .. math.random({n_movies}),
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. u[2]}}, body)
end
"""
        + WRK_DONE
    )


def register_file(home: Path, url: str, model: Recommender, as_of: float) -> int:
    """Save ``model`` under models/versions/ and register it (``retrain``'s own function)."""
    from movierec.config import Layout
    from movierec.retrain import save_version
    from movierec.store import make_engine

    engine = make_engine(url)
    try:
        return save_version(Layout(home), engine, model, metrics={}, ratings_as_of=as_of).id
    finally:
        engine.dispose()


def server_ms(response: httpx.Response) -> float:
    """The server's own time of a response (its ``Server-Timing: app;dur=`` header)."""
    return float(response.headers["server-timing"].split("dur=")[1])


def read_after_write(url: str, users: list[tuple[int, str]], n: int, seed: int) -> dict:
    """``n`` times: PUT a rating, then at once GET the user's recommendations; the GET must
    be a fold-in without the movie. Server times from ``Server-Timing``."""
    rng = random.Random(seed)
    put_ms, get_ms, both_ms, reflected = [], [], [], 0
    with httpx.Client(base_url=url, timeout=10) as http:
        for _ in range(n):
            uid, tok = rng.choice(users)
            movie = rng.randint(1, 1682)
            t0 = time.perf_counter()
            put = http.put(
                f"/users/{uid}/ratings/{movie}",
                json={"rating": rng.randint(1, 5)},
                headers={"Authorization": f"Bearer {tok}"},
            )
            got = http.get(f"/users/{uid}/recommendations", params={"n": 10})
            both_ms.append((time.perf_counter() - t0) * 1000)
            assert put.status_code == 200 and got.status_code == 200, (put.text, got.text)
            body = got.json()
            ids = [r["movie"]["id"] for r in body["recommendations"]]
            reflected += body["source"] == "fold-in" and movie not in ids
            put_ms.append(server_ms(put))
            get_ms.append(server_ms(got))

    def pct(xs: list[float], q: float) -> float:
        return round(float(np.percentile(xs, q)), 2)

    return {
        "n": n,
        "reflected": reflected,
        "put_server_p50_ms": pct(put_ms, 50),
        "put_server_p99_ms": pct(put_ms, 99),
        "get_server_p50_ms": pct(get_ms, 50),
        "get_server_p99_ms": pct(get_ms, 99),
        "put_then_get_client_p50_ms": pct(both_ms, 50),
        "put_then_get_client_p99_ms": pct(both_ms, 99),
    }


def swap_under_load(url: str, db_url: str, versions: list[int], clients: int) -> dict:
    """GET /users/{id}/recommendations (the live model answers: no stored run) from
    ``clients`` threads while the pointer moves to ``versions[1]`` and back (in-process
    promote/rollback, commit times recorded): failed requests and the delays from each
    commit to the first answer by the new version (request start) and to the last answer
    by the old one (every worker swapped)."""
    from movierec.store import make_engine, promote, rollback

    answers: list[tuple[float, int, int | None]] = []
    failures: list[str] = []
    done = threading.Event()

    def client(k: int) -> None:
        rng = random.Random(k)
        with httpx.Client(base_url=url, timeout=10) as http:
            while not done.is_set():
                t0 = time.monotonic()
                try:
                    r = http.get(f"/users/{rng.randint(1, 943)}/recommendations")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                version = r.json().get("model_version") if r.status_code == 200 else None
                answers.append((t0, r.status_code, version))

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    engine = make_engine(db_url)
    commits = []
    try:
        time.sleep(3)
        promote(engine, versions[1], reason="benchmark")
        commits.append((time.monotonic(), versions[1], versions[0]))
        time.sleep(8)
        rollback(engine, reason="benchmark")
        commits.append((time.monotonic(), versions[0], versions[1]))
        time.sleep(8)
    finally:
        done.set()
        for t in threads:
            t.join(15)
        engine.dispose()
    switches = []
    for k, (at, new, old) in enumerate(commits):
        until = commits[k + 1][0] if k + 1 < len(commits) else float("inf")
        window = [a for a in answers if at <= a[0] < until]
        first_new = min((a[0] for a in window if a[2] == new), default=float("nan"))
        last_old = max((a[0] for a in window if a[2] == old), default=at)
        switches.append(
            {
                "to_version": new,
                "first_new_answer_s": round(first_new - at, 3),
                "last_old_answer_s": round(last_old - at, 3),
            }
        )
    return {
        "clients": clients,
        "requests": len(answers) + len(failures),
        "failed": len(failures) + sum(a[1] != 200 for a in answers),
        "statuses": sorted({a[1] for a in answers}),
        "switches": switches,
    }


def bench_writes_backend(
    backend: str, data: Interactions, catalog: ItemCatalog, args: argparse.Namespace
) -> dict | None:
    from movierec.store import ensure_schema, import_ratings, make_engine, promote

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, store_url(backend, Path(tmp)) as url:
        if url is None:
            return None
        home = Path(tmp)
        engine = make_engine(url)
        ensure_schema(engine)
        t0 = time.perf_counter()
        import_ratings(engine, data.to_frame(), catalog)
        out["import_s"] = round(time.perf_counter() - t0, 2)
        as_of = time.time()
        versions = [
            register_file(home, url, make_model(name).fit(data, catalog), as_of)
            for name in ("user-knn", "ease")
        ]
        promote(engine, versions[0], reason="benchmark")
        engine.dispose()
        for workers in args.write_workers:
            port = free_port()
            env = {"MOVIEREC_ADMIN_TOKEN": ADMIN}
            proc = start_server(home, port, workers, url, env=env)
            base = f"http://127.0.0.1:{port}"
            try:
                time.sleep(3 if workers > 1 else 0)  # the other workers load their model
                with httpx.Client(base_url=base, timeout=10) as http:
                    made = [http.post("/users").json() for _ in range(64)]
                users = [(m["id"], m["token"]) for m in made]
                row: dict[str, Any] = {"puts": {}}
                for connections in args.write_connections:
                    cpu0 = cpu_seconds(proc.pid)
                    res = run_wrk(
                        base, wrk_put_script(users, 1682), args.write_duration, connections, 2
                    )
                    cpu = cpu_seconds(proc.pid) - cpu0
                    acked = res["requests"] - res["non_2xx"] - res["errors"]
                    row["puts"][f"c{connections}"] = {
                        "put_ack_s": round(acked / res["seconds"], 1),
                        "put_p50_ms": round(res["p50_ms"], 2),
                        "put_p99_ms": round(res["p99_ms"], 2),
                        "non_2xx": res["non_2xx"],
                        "errors": res["errors"],
                        "server_cpu_ms_per_put": round(1000 * cpu / max(res["requests"], 1), 2),
                        "tool": res["tool"],
                        "loadavg_1min": round(os.getloadavg()[0], 2),
                    }
                movielens = [(u, ADMIN) for u in range(1, 944)]
                row["read_after_write_new_users"] = read_after_write(base, users, 200, 1)
                row["read_after_write_movielens_users"] = read_after_write(base, movielens, 200, 2)
                row["swap"] = swap_under_load(base, url, versions, args.swap_clients)
                row["loadavg_1min"] = round(os.getloadavg()[0], 2)
                out[f"workers_{workers}"] = row
                print(backend, workers, json.dumps(row))
            finally:
                stop_server(proc)
    return out


def bench_writes(args: argparse.Namespace) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("the writes benchmark needs wrk (apt-get install wrk)")
    data, catalog = load_ml100k(shared_data() / "ml-100k")
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    backends = {b: bench_writes_backend(b, data, catalog, args) for b in ("sqlite", "postgresql")}
    result = {
        "benchmark": "serve_writes",
        "code": args.label or git_describe(),
        "command": " ".join(["python", "benchmarks/serve.py", *sys.argv[1:]]),
        "protocol": (
            "ml-100k imported into the store; user-knn (v1, production) and ease (v2) "
            "registered; movierec serve on 127.0.0.1 with --workers W; 64 users from POST "
            "/users; wrk PUTs random ratings of random movies by random users (their own "
            "tokens) for the duration; read-after-write: 200 sequential PUT then GET "
            "/users/{id}/recommendations, server time from Server-Timing, for new users and "
            "for MovieLens users (admin token); swap: threads GET live recommendations while "
            "the pointer is promoted to v2 then rolled back in-process (MOVIEREC_SWAP_POLL "
            "default 2 s)"
        ),
        "seeds": {"wrk": 7, "read_after_write": [1, 2], "swap_clients": "0..clients-1"},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "uptime_before": uptime_before,
            "uptime_after": subprocess.run(
                ["uptime"], capture_output=True, text=True
            ).stdout.strip(),
        },
        "targets": WRITE_TARGETS,
        "backends": backends,
    }
    args.writes_out.parent.mkdir(parents=True, exist_ok=True)
    args.writes_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.writes_out}")


def git_describe() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default="user-knn,svd", help="comma-separated model names")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    p.add_argument("--duration", type=float, default=10.0, help="wrk seconds per endpoint")
    p.add_argument("--requests", type=int, default=5000, help="httpx requests per endpoint")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3, help="store writes to time")
    p.add_argument("--live-models", default="user-knn", help="models for the live path ('': none)")
    p.add_argument("--levels", default="16,64,256", help="concurrent connections (live path)")
    p.add_argument("--live-duration", type=float, default=5.0, help="wrk seconds per level")
    p.add_argument(
        "--live-workers", type=int, default=1, help="server processes (live path; serve's default)"
    )
    p.add_argument("--label", default="", help="what code was measured (e.g. a commit)")
    p.add_argument("--baseline", type=Path, help="results of another checkout, to put beside")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--writes",
        action="store_true",
        help="only the rating writes, read-after-write and swap figures (serve_writes.json)",
    )
    p.add_argument(
        "--write-workers",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 2],
        help="server processes for the writes benchmark (comma-separated)",
    )
    p.add_argument("--write-duration", type=float, default=10.0, help="wrk seconds of PUTs")
    p.add_argument(
        "--write-connections",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[4, 16],
        help="wrk connections for the PUTs (comma-separated levels)",
    )
    p.add_argument("--swap-clients", type=int, default=4, help="client threads during swaps")
    p.add_argument("--writes-out", type=Path, default=WRITES_RESULTS)
    args = p.parse_args()
    if args.writes:
        bench_writes(args)
        return
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
    data, catalog = load_ml100k(shared_data() / "ml-100k")
    load_before = os.getloadavg()[0]
    names = [m for m in args.models.split(",") if m]
    models = {name: bench_model(name, data, catalog, args, tool) for name in names}
    live = {}
    if args.live_models:
        if not shutil.which("wrk"):
            raise SystemExit("the live-path benchmark needs wrk (apt-get install wrk)")
        live = {name: bench_live(name, data, catalog, args) for name in args.live_models.split(",")}
    result = {
        "benchmark": "serve",
        "code": args.label or git_describe(),
        "command": " ".join(["python", "benchmarks/serve.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1min_before": round(load_before, 2),
            "loadavg_1min_after": round(os.getloadavg()[0], 2),
        },
        "workers": args.workers,
        "live_workers": args.live_workers,
        "tool": tool,
        "targets": TARGETS,
        "models": models,
        "live": live,
    }
    if args.baseline:
        before = json.loads(args.baseline.read_text(encoding="utf-8"))
        result["baseline"] = {k: before.get(k) for k in ("code", "machine", "models", "live")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
