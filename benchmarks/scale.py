"""Scale benchmark: synthetic 1M / 5M / 25M ratings through the whole local pipeline.

Per size, two fresh subprocesses (so each one's peak RSS is its own):

1. ``synth``: :func:`movierec.data.synth.synthesize` writes an ml-25m-format folder (users
   and movies grow like the MovieLens releases: ~154 ratings a user, movies ∝ sqrt(ratings));
   cached in ``--workdir`` between runs;
2. ``pipeline``: ingest (:func:`movierec.data.releases.load_release`, pyarrow, validated)
   → transform (:func:`movierec.data.transform.transform`, 5/20 filters, then the CSR
   :class:`~movierec.interactions.Interactions`) → train (``ials``: 64 factors, 15
   iterations, ``implicit``'s CG solver on every core; or ``item-knn``) → top-10 for every
   user (:func:`movierec.topn.recommend_all`, batched) → SQLite store
   (:func:`movierec.store.writer.write_run`, one transaction). Each stage reports its wall
   time and the peak RSS sampled while it ran (every 20 ms); the process's ``ru_maxrss`` is
   the overall peak.

Anchor, side by side in the same process: ``implicit``'s own ``recommend`` (C++ top-k,
all threads) on the same fitted factors, for the top-10 stage.

Usage::

    .venv/bin/python benchmarks/scale.py                      # 1M and 5M
    .venv/bin/python benchmarks/scale.py --sizes 1M 5M 25M    # + 25M (about 5 minutes)
    .venv/bin/python benchmarks/scale.py --sizes 25M --model item-knn --tag knn

Writes ``benchmarks/results/scale[-TAG].json`` (figures only, synthetic data) and
``benchmarks/results/scale[-TAG].png``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"
SIZES: dict[str, tuple[int, int, int]] = {  # ratings, users, movies
    "1M": (1_000_000, 6_480, 12_400),
    "5M": (5_000_000, 32_400, 27_700),
    "10M": (10_000_000, 64_800, 39_200),
    "25M": (25_000_000, 162_000, 62_000),
}
GiB = 1024**3


class PeakRSS:
    """Samples this process's RSS every ``interval`` seconds; ``reset()`` starts a new window."""

    def __init__(self, interval: float = 0.02) -> None:
        self._proc = psutil.Process()
        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._proc.memory_info().rss)
            time.sleep(self._interval)

    def reset(self) -> None:
        self._peak = self._proc.memory_info().rss

    def peak(self) -> int:
        return max(self._peak, self._proc.memory_info().rss)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def stage(name: str, out: dict[str, Any], sampler: PeakRSS) -> Iterator[None]:
    sampler.reset()
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    out[name] = {"seconds": round(seconds, 3), "peak_rss_gib": round(sampler.peak() / GiB, 3)}
    print(f"  {name:<10} {seconds:8.2f} s   peak {sampler.peak() / GiB:6.2f} GiB", flush=True)


# ---------------------------------------------------------------------------- subprocesses
def cmd_synth(size: str, workdir: Path) -> dict[str, Any]:
    from movierec.data.synth import synthesize

    n_ratings, n_users, n_movies = SIZES[size]
    folder = workdir / f"synth-{size}"
    marker = folder / "synth.json"
    if marker.is_file():
        return {**json.loads(marker.read_text()), "cached": True}
    summary = synthesize(n_ratings, n_users, n_movies, seed=0, out_dir=folder)
    result = {
        "seconds": round(summary.seconds, 3),
        "ratings": summary.n_ratings,
        "users": summary.n_users,
        "movies": summary.n_movies,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "csv_bytes": summary.ratings_path.stat().st_size,
    }
    marker.write_text(json.dumps(result))
    return {**result, "cached": False}


def cmd_pipeline(size: str, workdir: Path, model_name: str, anchor: bool) -> dict[str, Any]:
    import numpy as np

    from movierec.data.datasets import get_dataset
    from movierec.data.releases import load_release
    from movierec.data.transform import transform
    from movierec.interactions import Interactions, ItemCatalog
    from movierec.models.registry import make_model
    from movierec.store.writer import RunMeta, write_run
    from movierec.topn import recommend_all

    threads = os.cpu_count() or 2
    params: dict[str, Any] = (
        {"factors": 64, "iterations": 15, "num_threads": threads} if model_name == "ials" else {}
    )
    folder = workdir / f"synth-{size}"
    db = workdir / f"store-{size}-{model_name}.db"
    db.unlink(missing_ok=True)
    sampler = PeakRSS()
    stages: dict[str, Any] = {}
    with stage("ingest", stages, sampler):
        ratings, movies = load_release("ml-25m", folder)
    with stage("transform", stages, sampler):
        result = transform(ratings, 5, 20)
        del ratings
        data = Interactions.from_frame(
            result.frame, rating_scale=get_dataset("ml-25m").rating_scale
        )
        kept = movies[movies["movieId"].isin(data.items.ids)]
        catalog = ItemCatalog.from_frame(kept)
        summary = result.summary
        del result
    with stage("train", stages, sampler):
        model = make_model(model_name, **params).fit(data, catalog)
    with stage("recommend", stages, sampler):
        recs = recommend_all(model, n=10, batch_size=1024)
    with stage("store", stages, sampler):
        meta = RunMeta.of(model, n=10, benchmark="scale")
        write_run(f"sqlite:///{db}", meta, recs, catalog=model.items_catalog_)
    figures: dict[str, Any] = {
        "size": size,
        "model": model_name,
        "params": params,
        "ratings_in": summary.ratings_before,
        "ratings": summary.ratings_after,
        "users": summary.users_after,
        "movies": summary.movies_after,
        "recommendations": len(recs),
        "stages": stages,
        "pipeline_seconds": round(sum(s["seconds"] for s in stages.values()), 3),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "db_bytes": db.stat().st_size,
    }
    if anchor and model_name == "ials":
        from implicit.cpu.als import AlternatingLeastSquares

        als = AlternatingLeastSquares(factors=64, num_threads=threads)
        als.user_factors = model.user_factors_
        als.item_factors = model.item_factors_
        rows = np.arange(data.n_users)
        start = time.perf_counter()
        ids, _ = als.recommend(rows, data.matrix, N=10, filter_already_liked_items=True)
        seconds = time.perf_counter() - start
        ours = recs.groupby("userId")["movieId"].apply(list)
        same = np.mean(
            [
                set(data.items.ids[ids[r]]) == set(ours.iloc[r])
                for r in range(0, data.n_users, max(1, data.n_users // 500))
            ]
        )
        figures["anchor_implicit_recommend"] = {
            "seconds": round(seconds, 3),
            "ratio_ours_over_implicit": round(stages["recommend"]["seconds"] / seconds, 2),
            "same_top10_fraction_on_sample": round(float(same), 3),
        }
        print(f"  implicit.recommend {seconds:8.2f} s (anchor)", flush=True)
    if anchor and model_name == "item-knn":
        figures["anchor_implicit_itemknn"] = _implicit_itemknn_anchor(data, stages, threads)
    sampler.close()
    return figures


def _implicit_itemknn_anchor(data: Any, stages: dict[str, Any], threads: int) -> dict[str, Any]:
    """``implicit``'s ``CosineRecommender`` (K=40, C++ all-pairs top-k and recommend) on the
    same matrix: the anchor for our item-knn's train and top-10 stages."""
    import numpy as np
    import scipy.sparse as sp
    from implicit.nearest_neighbours import CosineRecommender

    knn = CosineRecommender(K=40, num_threads=threads)
    start = time.perf_counter()
    knn.fit(sp.csr_matrix(data.matrix), show_progress=False)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    knn.recommend(np.arange(data.n_users), data.matrix, N=10, filter_already_liked_items=True)
    rec_s = time.perf_counter() - start
    print(f"  implicit CosineRecommender fit {fit_s:8.2f} s, recommend {rec_s:8.2f} s (anchor)")
    return {
        "fit_seconds": round(fit_s, 3),
        "recommend_seconds": round(rec_s, 3),
        "ratio_train_ours_over_implicit": round(stages["train"]["seconds"] / fit_s, 2),
        "ratio_recommend_ours_over_implicit": round(stages["recommend"]["seconds"] / rec_s, 2),
    }


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    lines = out.rstrip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    return json.loads(lines[-1])  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- report
def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["ingest", "transform", "train", "recommend", "store"]
    x = [r["pipeline"]["ratings_in"] / 1e6 for r in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in names:
        ax1.plot(x, [r["pipeline"]["stages"][name]["seconds"] for r in results], "o-", label=name)
    ax1.plot(x, [r["pipeline"]["pipeline_seconds"] for r in results], "k*-", label="total")
    ax1.axhline(180, color="r", ls=":", label="target 180 s")
    ax1.set(xscale="log", yscale="log", xlabel="ratings (millions)", ylabel="seconds",
            title=f"time per stage ({results[0]['pipeline']['model']})")  # fmt: skip
    ax1.legend(fontsize=8)
    ax2.plot(x, [r["pipeline"]["peak_rss_gib"] for r in results], "o-", label="pipeline peak")
    ax2.plot(x, [r["synth"]["peak_rss_gib"] for r in results], "s--", label="synth peak")
    ax2.axhline(6, color="r", ls=":", label="target 6 GiB")
    ax2.set(xscale="log", xlabel="ratings (millions)", ylabel="GiB", title="peak memory (RSS)")
    ax2.legend(fontsize=8)
    loads = [x for r in results for x in r["loadavg_1min_before_after"]]
    load = f"1-min load average {min(loads):.1f}-{max(loads):.1f} during the runs"
    fig.suptitle(f"movierec scale benchmark (synthetic ml-25m format, 2 shared cores, {load})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="all", choices=["all", "synth", "pipeline"])
    parser.add_argument("size", nargs="?", help="child commands: one size")
    parser.add_argument("--sizes", nargs="+", default=["1M", "5M"], choices=list(SIZES))
    parser.add_argument("--model", default="ials", choices=["ials", "item-knn"])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/movierec-scale"))
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.command == "synth":
        print(json.dumps(cmd_synth(args.size, args.workdir)))
        return
    if args.command == "pipeline":
        print(json.dumps(cmd_pipeline(args.size, args.workdir, args.model, not args.no_anchor)))
        return
    results = []
    for size in args.sizes:
        print(f"== {size} ({args.model})", flush=True)
        load_before = os.getloadavg()
        synth = _child(["synth", size, "--workdir", str(args.workdir)])
        cached = " (cached)" if synth["cached"] else ""
        print(
            f"  synth      {synth['seconds']:8.2f} s{cached}   peak {synth['peak_rss_gib']:.2f} GiB"
        )
        extra = ["--no-anchor"] if args.no_anchor else []
        pipe = _child(["pipeline", size, "--workdir", str(args.workdir), "--model", args.model,
                       *extra])  # fmt: skip
        print(
            f"  total      {pipe['pipeline_seconds']:8.2f} s   peak {pipe['peak_rss_gib']:.2f} GiB"
        )
        results.append(
            {
                "size": size,
                "synth": synth,
                "pipeline": pipe,
                "loadavg_1min_before_after": [
                    round(load_before[0], 2),
                    round(os.getloadavg()[0], 2),
                ],
            }  # fmt: skip
        )
    suffix = f"-{args.tag}" if args.tag else ""
    report = {
        "benchmark": "scale",
        "cpu_count": os.cpu_count(),
        "note": "2-core machine shared with other processes; see loadavg per size",
        "results": results,
    }
    if len(results) > 1:
        a, b = results[0]["pipeline"], results[-1]["pipeline"]
        growth = b["ratings_in"] / a["ratings_in"]
        report["growth"] = {
            "ratings_ratio": growth,
            "time_ratio": round(b["pipeline_seconds"] / a["pipeline_seconds"], 2),
            "peak_ratio": round(b["peak_rss_gib"] / a["peak_rss_gib"], 2),
        }
        print(f"growth x{growth:g} ratings: time x{report['growth']['time_ratio']}, "
              f"peak memory x{report['growth']['peak_ratio']}")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"scale{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, RESULTS / f"scale{suffix}.png")
    print(f"wrote {RESULTS / f'scale{suffix}.json'} and scale{suffix}.png")


if __name__ == "__main__":
    main()
