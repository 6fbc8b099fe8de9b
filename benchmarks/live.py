"""The living pipeline's store side: rating writes, kill -9, and ``movierec retrain``.

1. **Rating writes** through the store functions the HTTP API will call
   (:func:`movierec.store.put_rating`, 1 in 5 operations a :func:`delete_rating`), into a
   store holding the real ml-100k (imported first, timed): ``--writes`` operations from one
   thread (each one committed transaction; per-call latency -> p50/p99) and from
   ``--threads`` threads sharing one engine. SQLite (a temporary file, WAL,
   ``synchronous=NORMAL``) and PostgreSQL (127.0.0.1:5432, a throw-away schema) when
   reachable. Operations are seeded (users 1-943, movies 1-1682, ratings 1-5).
2. **kill -9**: ``--kills`` rounds of :func:`movierec.testing.crash.run_and_kill` (a child
   process writing in a loop is SIGKILLed after a random number of acknowledged writes);
   counts acknowledged writes missing afterwards.
3. **retrain**: a home with the real ml-100k imported plus 1,000 seeded new ratings
   (:func:`movierec.testing.feedback.new_ratings`, seed 0: 500 by 20 new users, 500 by
   existing users, on real movies) runs the real ``movierec retrain`` command in a fresh
   process (the Prefect flow) end to end, with the hold-out comparison: twice with
   Prefect's temporary server (started by each run), once against a running local server
   (:func:`movierec.prefect_server.command_server`, started untimed); then the same
   stages in-process (what runs without Prefect).

Targets: ≥ 500 acknowledged writes/s, p99 < 50 ms, 0 lost under kill -9, on both backends;
retrain < 30 s end to end. Writes ``benchmarks/results/live.json`` (figures only).

Run: ``.venv/bin/python benchmarks/live.py [--writes 3000] [--threads 4] [--kills 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from movierec.data.datasets import WHOLE_STARS
from movierec.store import (
    create_user,
    delete_rating,
    ensure_schema,
    import_ratings,
    make_engine,
    put_rating,
    ratings_frame,
    user_ratings,
)
from movierec.testing.crash import expected_state, operations, run_and_kill

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "live.json"
PG = os.environ.get("MOVIEREC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGETS = {"writes_per_s": 500.0, "p99_ms": 50.0, "lost": 0, "retrain_s": 30.0}


def shared_data() -> Path:
    env = os.environ.get("MOVIEREC_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def pg_schema() -> tuple[str, str] | None:
    """``(url, schema)`` of a fresh schema on the local PostgreSQL, or ``None``."""
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="test", autocommit=True
        ) as c:
            schema = f"movierec_bench_{uuid.uuid4().hex[:10]}"
            c.execute(f"CREATE SCHEMA {schema}")
    except Exception:
        return None
    return f"{PG}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def ml100k_home(folder: Path) -> Path:
    """download (local zip) -> convert into ``folder``; returns it."""
    run_cli(["download", "--source", str(shared_data() / "ml-100k.zip")], folder)
    run_cli(["convert"], folder)
    return folder


def run_cli(args: list[str], home: Path, **env: str) -> tuple[float, str]:
    """Run ``movierec ARGS`` in a fresh process; ``(wall seconds, stdout)``."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "movierec", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MOVIEREC_HOME": str(home), "MOVIEREC_TRACKING": "0", **env},
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"movierec {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - t0, done.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_ops(seed: int, n: int) -> list[tuple[str, int, int, int]]:
    rng = random.Random(seed)
    ops = []
    for _ in range(n):
        user, movie = rng.randint(1, 943), rng.randint(1, 1682)
        ops.append(("delete" if rng.random() < 0.2 else "put", user, movie, rng.randint(1, 5)))
    return ops


def timed_writes(engine: Any, ops: list[tuple[str, int, int, int]]) -> list[float]:
    lat = []
    for kind, user, movie, rating in ops:
        t0 = time.perf_counter()
        if kind == "put":
            put_rating(engine, user, movie, rating, scale=WHOLE_STARS)
        else:
            delete_rating(engine, user, movie)
        lat.append(time.perf_counter() - t0)
    return lat


def summary(lat: list[float], wall: float) -> dict[str, float]:
    ms = np.array(lat) * 1000
    return {
        "n": len(lat),
        "writes_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def bench_writes(url: str, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from movierec.config import Layout
    from movierec.data.ingest import ingest
    from movierec.interactions import ItemCatalog

    data = ingest(Layout(home))
    engine = make_engine(url, pool_size=args.threads, max_overflow=0)
    ensure_schema(engine)
    t0 = time.perf_counter()
    imported = import_ratings(engine, data.ratings, ItemCatalog.from_frame(data.movies))
    import_s = time.perf_counter() - t0
    out: dict[str, Any] = {"import_s": round(import_s, 3), "imported": imported.n_new}
    ops = write_ops(0, args.writes)
    t0 = time.perf_counter()
    lat = timed_writes(engine, ops)
    out["one_thread"] = summary(lat, time.perf_counter() - t0)
    shares = [write_ops(1 + i, args.writes // args.threads) for i in range(args.threads)]
    lats: list[list[float]] = [[] for _ in shares]

    def work(i: int) -> None:
        lats[i] = timed_writes(engine, shares[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out[f"{args.threads}_threads"] = summary(
        [x for part in lats for x in part], time.perf_counter() - t0
    )
    # kill -9 rounds on 20 new users (the state each round's acknowledged writes leave)
    users = [create_user(engine)[0] for _ in range(20)]
    lost, acked_total = 0, 0
    for k in range(args.kills):
        ops_k = operations(100 + k, 3000, users, list(range(1, 201)))
        acked = run_and_kill(url, ops_k, random.Random(k).randint(100, 1500), home)
        state = expected_state(ops_k, acked)
        after = {
            (r.user_id, r.movie_id): int(r.rating) for u in users for r in user_ratings(engine, u)
        }
        lost += sum(1 for key, v in state.items() if after.get(key) != v)
        acked_total += acked + 1
    out["kill9"] = {"rounds": args.kills, "acknowledged": acked_total, "lost": lost}
    engine.dispose()
    return out


def bench_retrain(folder: Path) -> dict[str, Any]:
    home = ml100k_home(folder)
    run_cli(["import"], home)
    from movierec.testing.feedback import new_ratings

    engine = make_engine(f"sqlite:///{home / 'db' / 'movierec.db'}")
    before, _ = ratings_frame(engine)
    extra = new_ratings(before, 1000, seed=0)
    new_users = sorted(set(extra["userId"]) - set(before["userId"]))
    made = [create_user(engine)[0] for _ in new_users]
    assert made == new_users, (made[:3], new_users[:3])
    for row in extra.itertuples(index=False):
        put_rating(engine, row.userId, row.movieId, row.rating, scale=WHOLE_STARS)
    engine.dispose()
    first_s, first_out = run_cli(["retrain"], home)  # Prefect's temporary server
    second_s, second_out = run_cli(["retrain"], home)
    from movierec.prefect_server import command_server

    env = {"PREFECT_HOME": str(folder / "prefect")}
    os.environ.update(env)
    with command_server(free_port()) as api:  # a running local server (started untimed)
        served_s, _ = run_cli(["retrain"], home, PREFECT_API_URL=api, **env)
    from movierec.pipeline_config import PipelineConfig
    from movierec.retrain import retrain

    os.environ["MOVIEREC_TRACKING"] = "0"
    t0 = time.perf_counter()
    inproc = retrain(PipelineConfig.from_settings(home=home))
    inproc_s = time.perf_counter() - t0
    return {
        "ratings": 101_000,
        "model": inproc.version.model,
        "cli_first_s": round(first_s, 2),
        "cli_second_s": round(second_s, 2),
        "cli_running_server_s": round(served_s, 2),
        "in_process_s": round(inproc_s, 2),
        "first_summary": first_out.strip().splitlines(),
        "second_decision": [
            line for line in second_out.splitlines() if "promot" in line or "kept" in line
        ],
        "n_test": inproc.comparison.n_test,
        "candidate_ndcg10": round(inproc.comparison.candidate["NDCG@10"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8, help="concurrent writers")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--skip-retrain", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load": os.getloadavg()},
        "targets": TARGETS,
        "writes": {},
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        home = ml100k_home(Path(tmp) / "home")
        report["writes"]["sqlite"] = bench_writes(f"sqlite:///{Path(tmp) / 'bench.db'}", home, args)
        print("sqlite", json.dumps(report["writes"]["sqlite"]))
        pg = pg_schema()
        if pg is None:
            report["writes"]["postgresql"] = "not reachable"
        else:
            try:
                report["writes"]["postgresql"] = bench_writes(pg[0], home, args)
            finally:
                drop_schema(pg[1])
            print("postgresql", json.dumps(report["writes"]["postgresql"]))
        if not args.skip_retrain:
            report["retrain"] = bench_retrain(Path(tmp) / "retrain")
            print("retrain", json.dumps(report["retrain"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
