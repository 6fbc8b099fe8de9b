"""Scale benchmark of the product path: the pipeline's own step functions at 1M / 5M / 25M
synthetic ratings.

Per size, fresh subprocesses (so each one's peak RSS is its own):

1. ``synth``: ``movierec synth`` writes an ml-25m-format folder (~154 ratings a user,
   movies ∝ sqrt(ratings)); cached in ``--workdir`` between runs;
2. ``pipeline``: first a **warm-up** on a 20k-rating synthetic set in its own home (imports,
   numba compilation or cache load, ``implicit``'s first call), timed and reported apart;
   then the steps the flow calls (:mod:`movierec.steps`, one
   :class:`~movierec.pipeline_config.PipelineConfig` built like the CLI's, no model given so
   the pipeline's default-model rule applies): download (the folder as ``--source``) →
   convert → ingest → transform → choose the model → train → store (every user's explained
   top-10, SQLite; again into PostgreSQL with ``--postgres``) → recommend (one user). Each
   step reports its wall time and the peak RSS sampled while it ran (every 20 ms);
3. the **anchor** in the same process, side by side on the same matrix: ``implicit``'s
   ``AlternatingLeastSquares`` (same factors, λ, confidence, iterations, every core) fit and
   ``recommend`` for every user, against our train step and our top-10 for every user
   without explanations (:func:`movierec.topn.ranked_frame`); for ``item-knn``,
   ``implicit``'s ``CosineRecommender`` (K = 40). Medians of ``--repeat`` runs.

The exponent ``b`` of ``t ∝ ratings^b`` is fitted per step (least squares on log-log over
the sizes run). The load average is recorded before and after every size (the machine is
shared); ratios measured in one process are the robust figures.

Usage::

    .venv/bin/python benchmarks/scale.py --sizes 1M 5M 25M
    .venv/bin/python benchmarks/scale.py --sizes 1M 5M 25M --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/scale.py --sizes 1M 5M --model item-knn --tag knn

Writes ``benchmarks/results/scale[-TAG].json`` (figures only, synthetic data).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"
SIZES: dict[str, tuple[str, str, str]] = {  # ratings, users, movies (movierec synth counts)
    "warm": ("20k", "130", "400"),
    "1M": ("1M", "6480", "12400"),
    "5M": ("5M", "32400", "27700"),
    "25M": ("25M", "162000", "62000"),
}
GiB = 1024**3
STEPS = ["download", "convert", "ingest", "transform", "train", "store", "recommend"]


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
            self._peak = max(self._peak, self._rss())
            time.sleep(self._interval)

    def _rss(self) -> int:
        """This process and its children (a Spark JVM, a server)."""
        rss = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                rss += child.memory_info().rss
            except psutil.Error:
                pass
        return rss

    def reset(self) -> None:
        self._peak = self._rss()

    def peak(self) -> int:
        return max(self._peak, self._rss())

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
    print(f"  {name:<12} {seconds:8.2f} s   peak {sampler.peak() / GiB:6.2f} GiB", flush=True)


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


# ---------------------------------------------------------------------------- subprocesses
def cmd_synth(size: str, workdir: Path) -> dict[str, Any]:
    """``movierec synth`` (the real command) into ``workdir/synth-SIZE`` unless cached."""
    folder = workdir / f"synth-{size}"
    marker = folder / "synth.json"
    if marker.is_file():
        return {**json.loads(marker.read_text()), "cached": True}
    ratings, users, movies = SIZES[size]
    exe = Path(sys.executable).with_name("movierec")
    start = time.perf_counter()
    subprocess.run(
        [str(exe), "synth", "--out", str(folder), "--ratings", ratings, "--users", users,
         "--movies", movies, "--seed", "0"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    result = {"seconds": round(time.perf_counter() - start, 3), "folder": str(folder)}
    marker.write_text(json.dumps(result))
    return {**result, "cached": False}


def run_steps(
    home: Path, folder: Path, sampler: PeakRSS, postgres: str | None, model: str | None
) -> tuple[dict[str, Any], Any]:
    """The pipeline's steps on ``folder`` (as ``--source``) under ``home``; returns the
    per-step figures and the config that trained."""
    from pydantic import SecretStr

    from movierec import steps
    from movierec.pipeline_config import PipelineConfig

    db = home / "db" / "movierec.db"
    db.unlink(missing_ok=True)
    cfg = PipelineConfig.from_settings(
        home=home, dataset="ml-25m", source=str(folder), model=model, store_n=10, user=None
    )
    out: dict[str, Any] = {}
    with stage("download", out, sampler):
        steps.download(cfg)
    with stage("convert", out, sampler):
        steps.convert(cfg)
    with stage("ingest", out, sampler):
        steps.ingest(cfg)
    with stage("transform", out, sampler):
        result = steps.transform(cfg)
    cfg, note = steps.choose_model(cfg)
    if note:
        print(f"  {note}", flush=True)
    with stage("train", out, sampler):
        trained = steps.train(cfg)
    with stage("store", out, sampler):
        stored = steps.store(cfg)
    if postgres:
        schema = f"movierec_scale_{uuid.uuid4().hex[:8]}"
        with _pg_schema(postgres, schema) as url:
            with stage("store_postgres", out, sampler):
                steps.store(cfg.model_copy(update={"db_url": SecretStr(url)}))
    user = int(trained.model.data_.users.ids[0])
    with stage("recommend", out, sampler):
        steps.recommend(cfg.model_copy(update={"user": user}))
    figures = {
        "model": cfg.model,
        "model_note": note,
        "threads": trained.threads,
        "ratings_in": result.result.summary.ratings_before,
        "ratings": trained.n_ratings,
        "users": trained.n_users,
        "movies": trained.n_items,
        "stored_rows": stored.n_rows,
        "steps": out,
        "total_seconds": round(sum(v["seconds"] for v in out.values()), 3),
    }
    return figures, trained.model


@contextmanager
def _pg_schema(url: str, schema: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy import make_url

    u = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    params = {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database}
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def anchor_ials(model: Any, repeat: int) -> dict[str, Any]:
    """``implicit``'s own ALS fit and ``recommend`` on the same matrix, next to ours."""
    import numpy as np
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from movierec import threads
    from movierec.topn import ranked_frame

    data = model.data_
    conf = sp.csr_matrix(
        (model.confidence(data.matrix.data), data.matrix.indices, data.matrix.indptr),
        shape=data.shape,
    )
    fits, ours_fit = [], []
    for _ in range(repeat):  # interleaved, so a change of load hits both alike
        als = AlternatingLeastSquares(
            factors=int(model.factors), regularization=float(model.reg), alpha=1.0,
            iterations=int(model.iterations), use_cg=bool(model.use_cg),
            num_threads=threads.current(), random_state=int(model.seed),
        )  # fmt: skip
        with threadpool_limits(1, "blas"):
            t0 = time.perf_counter()
            als.fit(conf, show_progress=False)
            fits.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        type(model)(**model.get_params()).fit(data, model.items_catalog_)
        ours_fit.append(time.perf_counter() - t0)
    same = bool(np.array_equal(np.asarray(als.item_factors), model.item_factors_))
    rows = np.arange(data.n_users)
    theirs, ours = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ids, _ = als.recommend(rows, data.matrix, N=10, filter_already_liked_items=True)
        theirs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        frame = ranked_frame(model, n=10)
        ours.append(time.perf_counter() - t0)
    got = frame.groupby("userId", sort=True)["movieId"].apply(list)
    agree = float(np.mean([set(data.items.ids[ids[r]]) == set(got.iloc[r]) for r in rows[::50]]))
    out = {
        "implicit_fit_seconds": round(median(fits), 3),
        "ours_fit_seconds": round(median(ours_fit), 3),
        "fit_ratio_ours_over_implicit": round(median(ours_fit) / median(fits), 2),
        "same_factors": same,
        "implicit_recommend_seconds": round(median(theirs), 3),
        "ours_top10_all_users_seconds": round(median(ours), 3),
        "top10_ratio_ours_over_implicit": round(median(ours) / median(theirs), 2),
        "same_top10_fraction_every_50th_user": round(agree, 3),
    }
    print(f"  anchor: {json.dumps(out)}", flush=True)
    return out


def anchor_itemknn(model: Any, repeat: int) -> dict[str, Any]:
    """``implicit``'s ``CosineRecommender`` (K = 40) fit and recommend on the same matrix."""
    import numpy as np
    import scipy.sparse as sp
    from implicit.nearest_neighbours import CosineRecommender

    from movierec import threads
    from movierec.topn import ranked_frame

    data = model.data_
    fits, recs, ours = [], [], []
    for _ in range(repeat):
        knn = CosineRecommender(K=40, num_threads=threads.current())
        t0 = time.perf_counter()
        knn.fit(sp.csr_matrix(data.matrix), show_progress=False)
        fits.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        knn.recommend(np.arange(data.n_users), data.matrix, N=10, filter_already_liked_items=True)
        recs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ranked_frame(model, n=10)
        ours.append(time.perf_counter() - t0)
    out = {
        "implicit_cosine_fit_seconds": round(median(fits), 3),
        "implicit_cosine_recommend_seconds": round(median(recs), 3),
        "ours_top10_all_users_seconds": round(median(ours), 3),
    }
    print(f"  anchor: {json.dumps(out)}", flush=True)
    return out


def cmd_pipeline(
    size: str, workdir: Path, postgres: str | None, model: str | None, repeat: int
) -> dict[str, Any]:
    from movierec.pipeline_config import PipelineConfig, model_for_size
    from movierec.steps import count_rows

    sampler = PeakRSS()
    t0 = time.perf_counter()
    cmd_synth("warm", workdir)
    # warm up the model this size will train (the default rule, on the raw count)
    cfg = PipelineConfig.from_settings(home=workdir, dataset="ml-25m", model=model)
    warm_model = model_for_size(cfg, count_rows(workdir / f"synth-{size}" / "ratings.csv"))[0]
    warm_home = workdir / f"home-warm-{os.getpid()}"
    warm_figures, _ = run_steps(warm_home, workdir / "synth-warm", sampler, None, warm_model.model)
    warm = {"seconds": round(time.perf_counter() - t0, 3), "steps": warm_figures["steps"]}
    print(f"  warm-up      {warm['seconds']:8.2f} s (excluded)", flush=True)
    figures, fitted = run_steps(
        workdir / f"home-{size}", workdir / f"synth-{size}", sampler, postgres, model
    )
    figures["warmup"] = warm
    figures["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    if fitted.name == "ials":
        figures["anchor"] = anchor_ials(fitted, repeat)
    elif fitted.name == "item-knn":
        figures["anchor"] = anchor_itemknn(fitted, repeat)
    sampler.close()
    return figures


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    lines = out.rstrip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def add_sqlite_totals(results: list[dict[str, Any]]) -> None:
    """Each size's pipeline total with the SQLite store only (``total_seconds`` also counts
    the extra PostgreSQL store), as ``total_sqlite_seconds``."""
    for r in results:
        steps = r["pipeline"]["steps"]
        sqlite = sum(v["seconds"] for k, v in steps.items() if k != "store_postgres")
        r["pipeline"]["total_sqlite_seconds"] = round(sqlite, 3)


def same_model_exponents(results: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`exponents` over the sizes that trained the largest size's model (the pipeline
    switches models above a size, and a growth exponent across two models measures the
    switch, not the growth); ``{"model", "sizes", "b"}``, ``b`` empty below two sizes."""
    model = results[-1]["pipeline"]["model"]
    same = [r for r in results if r["pipeline"]["model"] == model]
    return {
        "model": model,
        "sizes": [r["size"] for r in same],
        "b": exponents(same) if len(same) > 1 else {},
    }


def exponents(results: list[dict[str, Any]]) -> dict[str, float]:
    """Per step, ``b`` of ``t ∝ ratings^b`` (least squares on log t vs log ratings)."""
    out = {}
    x = [math.log(r["pipeline"]["ratings_in"]) for r in results]
    mx = sum(x) / len(x)
    names = results[0]["pipeline"]["steps"].keys()
    for name in [*names, "total"]:
        ts = [
            r["pipeline"]["total_seconds"]
            if name == "total"
            else r["pipeline"]["steps"][name]["seconds"]
            for r in results
        ]
        y = [math.log(max(t, 1e-3)) for t in ts]
        my = sum(y) / len(y)
        b = sum((a - mx) * (c - my) for a, c in zip(x, y, strict=True)) / sum(
            (a - mx) ** 2 for a in x
        )
        out[name] = round(b, 2)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="all", choices=["all", "synth", "pipeline"])
    parser.add_argument("size", nargs="?", help="child commands: one size")
    parser.add_argument("--sizes", nargs="+", default=["1M", "5M"], choices=list(SIZES)[1:])
    parser.add_argument("--model", default=None, help="default: the pipeline's own choice")
    parser.add_argument("--postgres", default=None, help="also store into this PostgreSQL URL")
    parser.add_argument("--repeat", type=int, default=3, help="anchor repeats (median)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/movierec-scale"))
    parser.add_argument("--tag", default="", help="suffix of the result file")
    parser.add_argument(
        "--recompute", type=Path, default=None,
        help="only recompute the exponents of an earlier results file (in place)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.recompute is not None:
        report = json.loads(args.recompute.read_text())
        add_sqlite_totals(report["results"])
        report["exponent_b"] = exponents(report["results"])
        report["exponent_b_same_model"] = same_model_exponents(report["results"])
        args.recompute.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report["exponent_b_same_model"]))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.command == "synth":
        print(json.dumps(cmd_synth(args.size, args.workdir)))
        return
    if args.command == "pipeline":
        figures = cmd_pipeline(args.size, args.workdir, args.postgres, args.model, args.repeat)
        print(json.dumps(figures))
        return
    results = []
    for size in args.sizes:
        print(f"== {size}", flush=True)
        load_before = os.getloadavg()
        synth = _child(["synth", size, "--workdir", str(args.workdir)])
        extra = ["--postgres", args.postgres] if args.postgres else []
        extra += ["--model", args.model] if args.model else []
        pipe = _child(["pipeline", size, "--workdir", str(args.workdir),
                       "--repeat", str(args.repeat), *extra])  # fmt: skip
        print(
            f"  total        {pipe['total_seconds']:8.2f} s   peak {pipe['peak_rss_gib']:.2f} GiB"
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
    report: dict[str, Any] = {
        "benchmark": "scale (product path: movierec.steps)",
        "command": "benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu_count": os.cpu_count(),
        "note": "2-core machine shared with other processes; see the load average per size",
        "results": results,
    }
    add_sqlite_totals(results)
    if len(results) > 1:
        report["exponent_b"] = exponents(results)
        report["exponent_b_same_model"] = same_model_exponents(results)
        print(f"exponent b per step: {report['exponent_b']}")
        print(f"same model: {report['exponent_b_same_model']}")
    suffix = f"-{args.tag}" if args.tag else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"scale{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / f'scale{suffix}.json'}")


if __name__ == "__main__":
    main()
