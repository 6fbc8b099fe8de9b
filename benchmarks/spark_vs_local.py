"""Spark vs local on the same objective: explicit ALS-WR without global mean or biases.

Both engines minimise ``Σ (r − xᵀy)² + λ (Σ_u n_u‖x_u‖² + Σ_i n_i‖y_i‖²)`` with rank 10,
λ = 0.1, 10 iterations: Spark MLlib's ``ALS`` (``local[*]``) and the local ``als``
(``biases=False, global_mean=False``, numba ridge solves). Three data sets:

* ``u1``: real ml-100k ``u1.base`` / ``u1.test``;
* ``ml100k-filtered-80-20``: real ml-100k through the pipeline's 5/20 filters, a seeded
  random 80/20 split;
* ``synth-5M``: the 5M-rating synthetic set of ``benchmarks/scale.py`` (``movierec synth``),
  5/20 filters, the same kind of split.

Each (data set, engine) runs in a fresh subprocess so its peak memory is its own; peak
RSS includes child processes (Spark's JVM). Reported: RMSE on the warm test pairs (both
the user and the movie trained), fit seconds, wall seconds of the whole process's work
(Spark: session start included) and peak RSS; the load average before and after.

Usage::

    .venv/bin/python benchmarks/spark_vs_local.py --ml100k /path/to/ml-100k \\
        --synth /tmp/movierec-scale/synth-5M

Writes ``benchmarks/results/spark_vs_local.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import GiB, PeakRSS  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
RANK, REG, ITERS = 10, 0.1, 10
COLS = ["userId", "movieId", "rating", "timestamp"]


def split(name: str, ml100k: Path, synth: Path) -> tuple[Any, Any]:
    """``(train, test)`` frames of data set ``name``."""
    import numpy as np
    import pandas as pd

    from movierec.data.transform import transform

    if name == "u1":
        read = lambda f: pd.read_csv(ml100k / f, sep="\t", names=COLS)  # noqa: E731
        return read("u1.base"), read("u1.test")
    if name == "ml100k-filtered-80-20":
        ratings = pd.read_csv(ml100k / "u.data", sep="\t", names=COLS)
    else:
        ratings = pd.read_csv(synth / "ratings.csv")
    clean = transform(ratings, 5, 20).frame.reset_index(drop=True)
    test = np.random.default_rng(0).random(len(clean)) < 0.2
    return clean[~test], clean[test]


def rmse_of(pred: Any, truth: Any) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(truth)) ** 2)))


def run(engine: str, name: str, ml100k: Path, synth: Path) -> dict[str, Any]:
    sampler = PeakRSS()
    train, test = split(name, ml100k, synth)
    warm = test[test["userId"].isin(train["userId"]) & test["movieId"].isin(train["movieId"])]
    start = time.perf_counter()
    if engine == "spark":
        from movierec.spark import engine as E

        spark = E.spark_session("local[*]")
        train_df = E.from_pandas(spark, train).cache()
        train_df.count()
        t0 = time.perf_counter()
        model = E.train_als(train_df, rank=RANK, reg=REG, iterations=ITERS)
        fit = time.perf_counter() - t0
        rmse, n = E.evaluate_rmse(model, E.from_pandas(spark, warm))
    else:
        from movierec.interactions import Interactions
        from movierec.models.mf import ExplicitALS

        data = Interactions.from_frame(train)
        model = ExplicitALS(
            factors=RANK, iterations=ITERS, reg=REG, biases=False, global_mean=False, seed=0
        )
        t0 = time.perf_counter()
        model.fit(data)
        fit = time.perf_counter() - t0
        pred = model.predict(warm["userId"].to_numpy(), warm["movieId"].to_numpy())
        rmse, n = rmse_of(pred, warm["rating"]), len(warm)
    wall = time.perf_counter() - start
    peak = sampler.peak()
    sampler.close()
    return {
        "engine": engine,
        "data": name,
        "train_ratings": len(train),
        "test_pairs_warm": n,
        "rmse": round(rmse, 4),
        "fit_seconds": round(fit, 2),
        "wall_seconds": round(wall, 2),
        "peak_rss_gib_with_children": round(peak / GiB, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ml100k", type=Path, required=True)
    parser.add_argument("--synth", type=Path, required=True)
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "DATA"), help="child run")
    parser.add_argument("--data", nargs="+", default=["u1", "ml100k-filtered-80-20", "synth-5M"])
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run(args.one[0], args.one[1], args.ml100k, args.synth)))
        return
    rows, load = [], [os.getloadavg()[0]]
    for name in args.data:
        for engine in ("local", "spark"):
            out = subprocess.run(
                [sys.executable, __file__, "--ml100k", str(args.ml100k), "--synth",
                 str(args.synth), "--one", engine, name],
                check=True, stdout=subprocess.PIPE, text=True,
            ).stdout  # fmt: skip
            row = json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), flush=True)
    load.append(os.getloadavg()[0])
    report = {
        "benchmark": "spark_vs_local (same objective: ALS-WR, no mean, no biases)",
        "params": {"rank": RANK, "reg": REG, "iterations": ITERS, "spark_master": "local[*]"},
        "cpu_count": os.cpu_count(),
        "loadavg_1min_before_after": [round(x, 2) for x in load],
        "results": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "spark_vs_local.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'spark_vs_local.json'}")


if __name__ == "__main__":
    main()
