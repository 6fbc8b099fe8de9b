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

Targets (2 cores): stored ≥ 1,000 req/s with p99 < 50 ms; fold-in ≥ 200 req/s.
Writes ``benchmarks/results/serve.json`` (figures only, no MovieLens data).

Run: ``.venv/bin/python benchmarks/serve.py [--models user-knn,svd] [--workers 2]``
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
import time
import uuid
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
TARGETS = {"stored_req_s": 1000.0, "stored_p99_ms": 50.0, "fold_in_req_s": 200.0, "write_s": 1.0}


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
        return None
    try:
        return time_writes(f"{PG_URL}?options=-csearch_path%3D{schema}", frame, model, repeat)
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# ---------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "movierec", "serve", "--home", str(home), "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--workers", str(workers)], stdout=subprocess.DEVNULL)
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
    'RESULT {"requests": %d, "seconds": %f, "errors": %d, "non_2xx": %d, '
    .. '"p50_ms": %f, "p99_ms": %f, "mean_ms": %f}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default="user-knn,svd", help="comma-separated model names")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    p.add_argument("--duration", type=float, default=10.0, help="wrk seconds per endpoint")
    p.add_argument("--requests", type=int, default=5000, help="httpx requests per endpoint")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3, help="store writes to time")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
    data, catalog = load_ml100k(shared_data() / "ml-100k")
    load_before = os.getloadavg()[0]
    models = {name: bench_model(name, data, catalog, args, tool) for name in args.models.split(",")}
    result = {
        "benchmark": "serve",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1min_before": round(load_before, 2),
            "loadavg_1min_after": round(os.getloadavg()[0], 2),
        },
        "workers": args.workers,
        "tool": tool,
        "targets": TARGETS,
        "models": models,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
