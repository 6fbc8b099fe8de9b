"""Time each pipeline step on the real ml-100k, and user-user CF against Surprise.

Runs, in one process:

1. download (from a local copy, ``--source``; no network) -> convert -> ingest -> transform
   -> train (user-knn) -> recommend (user 1), each timed; the sum is the "steps" figure;
2. user-knn fit + top-10 for all users on the cleaned data vs Surprise ``KNNWithMeans``
   (user-based, cosine) fit + predicting every unseen (user, movie) pair for the same users;
3. RMSE of both on the canonical ``ml100k-u1`` split (pairs whose user and movie are in the
   training part, the same pairs for both libraries);
4. the Prefect flow end to end (ephemeral mode), to measure Prefect's added overhead.

Prints a table of figures and ratios; writes ``benchmarks/results/pipeline.json``.
Usage: ``python benchmarks/pipeline.py [--data ../shared/data] [--repeats 3] [--no-surprise]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.config import Layout
from movierec.data.convert import convert
from movierec.data.datasets import get_dataset
from movierec.data.download import download
from movierec.data.ingest import ingest
from movierec.data.ml100k import read_u_data
from movierec.data.transform import transform, write_clean
from movierec.interactions import Interactions
from movierec.models.knn import UserKNN
from movierec.topn import recommend_all, recommend_for_user
from movierec.training import fit_model, load_trained

RESULTS = Path(__file__).with_name("results")

KNN_WITH_MEANS: dict[str, Any] = {
    "k": 40,
    "shrinkage": 0.0,
    "center": "mean",
    "rating_damping": 0.0,
}
"""UserKNN with Surprise ``KNNWithMeans``'s settings (user-based cosine, k = 40)."""


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def time_steps(source: Path) -> dict[str, float]:
    """One pass of the pipeline's steps in a fresh working directory; seconds per step."""
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp))
        t: dict[str, float] = {}
        _, t["download"] = timed(download, layout, str(source))
        _, t["convert"] = timed(convert, layout)
        ing, t["ingest"] = timed(ingest, layout)

        def _transform() -> None:
            result = transform(ing.ratings, 5, 20)
            write_clean(result.frame, layout)

        _, t["transform"] = timed(_transform)
        _, t["train"] = timed(fit_model, layout, "user-knn")
        _, t["recommend"] = timed(lambda: recommend_for_user(load_trained(layout), 1, 5))
        return t


def user_knn_rmse(data_dir: Path) -> tuple[float, int, float]:
    base = read_u_data(data_dir / "ml-100k" / "u1.base")
    test = read_u_data(data_dir / "ml-100k" / "u1.test")
    train_data = Interactions.from_frame(base)
    model, fit_s = timed(UserKNN(**KNN_WITH_MEANS).fit, train_data)
    known = train_data.users.contains(test["userId"]) & train_data.items.contains(test["movieId"])
    test = test[known]
    pred = model.predict(test["userId"].to_numpy(), test["movieId"].to_numpy())
    rmse = float(np.sqrt(np.mean((pred - test["rating"].to_numpy()) ** 2)))
    return rmse, len(test), fit_s


def surprise_figures(data_dir: Path, clean: pd.DataFrame, k: int) -> dict[str, float]:
    from surprise import Dataset, KNNWithMeans, Reader, accuracy

    reader = Reader(rating_scale=get_dataset("ml-100k").rating_scale)
    sim = {"name": "cosine", "user_based": True}
    base = read_u_data(data_dir / "ml-100k" / "u1.base")
    test = read_u_data(data_dir / "ml-100k" / "u1.test")
    trainset = Dataset.load_from_df(
        base[["userId", "movieId", "rating"]], reader
    ).build_full_trainset()
    algo = KNNWithMeans(k=k, sim_options=sim, verbose=False)
    algo.fit(trainset)
    inner_known = test[test["userId"].isin(base["userId"]) & test["movieId"].isin(base["movieId"])]
    preds = algo.test(list(inner_known[["userId", "movieId", "rating"]].itertuples(index=False)))
    rmse = accuracy.rmse(preds, verbose=False)
    # all-users ranking: fit on the cleaned data, predict every unseen pair
    full = Dataset.load_from_df(
        clean[["userId", "movieId", "rating"]], reader
    ).build_full_trainset()
    t0 = time.perf_counter()
    algo = KNNWithMeans(k=k, sim_options=sim, verbose=False).fit(full)
    anti = full.build_anti_testset()
    algo.test(anti)
    return {"u1_rmse": rmse, "all_users_seconds": time.perf_counter() - t0, "pairs": len(anti)}


def prefect_overhead(source: Path) -> dict[str, float]:
    """Flow timings, like-for-like with :func:`time_steps` (no store step).

    Run 1 starts Prefect's ephemeral server; run 2 (fresh home, server up) executes every
    task; run 3 repeats run 2's parameters, so convert and transform are cache hits.
    """
    from movierec.flows import run_pipeline
    from movierec.pipeline_config import PipelineConfig

    def config(home: Path) -> PipelineConfig:
        return PipelineConfig.from_settings(home=home, source=str(source), store_n=0)

    with tempfile.TemporaryDirectory() as tmp:
        first_home, second_home = Path(tmp) / "a", Path(tmp) / "b"
        _, cold = timed(run_pipeline, config(first_home))
        params = config(second_home)
        _, warm = timed(run_pipeline, params)
        _, cached = timed(run_pipeline, params)
    return {
        "flow_cold_start_run_seconds": cold,
        "flow_warm_run_seconds": warm,
        "flow_cached_rerun_seconds": cached,
        "ephemeral_server_start_seconds": cold - warm,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-surprise", action="store_true")
    parser.add_argument("--no-prefect", action="store_true")
    args = parser.parse_args()
    source = args.data / "ml-100k.zip"

    runs = [time_steps(source) for _ in range(args.repeats)]
    steps = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    steps_total = statistics.median(sum(r.values()) for r in runs)
    print("step timings on ml-100k (median of", args.repeats, "runs, seconds):")
    for k, v in steps.items():
        print(f"  {k:10s} {v:8.3f}")
    print(f"  {'total':10s} {steps_total:8.3f}   (target < 3 s)")

    clean = pd.read_csv(
        args.data / "ml-100k" / "u.data",
        sep="\t",
        names=["userId", "movieId", "rating", "timestamp"],
    )
    clean = transform(clean, 5, 20).frame
    data = Interactions.from_frame(clean)
    model = UserKNN(**KNN_WITH_MEANS)
    all_users = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        model.fit(data)
        top = recommend_all(model, n=10)
        all_users.append(time.perf_counter() - t0)
    ours_all = statistics.median(all_users)
    rmse, n_pairs, fit_s = user_knn_rmse(args.data)
    figures: dict[str, Any] = {
        "steps_seconds": steps,
        "steps_total_seconds": steps_total,
        "user_knn": {
            "params": model.get_params(),
            "fit_plus_top10_all_users_seconds": ours_all,
            "users": int(top["userId"].nunique()),
            "u1_rmse": rmse,
            "u1_pairs": n_pairs,
            "u1_fit_seconds": fit_s,
        },
    }
    print(f"user-knn fit + top-10 for {figures['user_knn']['users']} users: {ours_all:.3f} s")
    print(f"user-knn u1 RMSE {rmse:.4f} on {n_pairs} pairs")
    if not args.no_surprise:
        sur = surprise_figures(args.data, clean, k=model.k)
        figures["surprise_knnwithmeans"] = sur
        ratio = sur["all_users_seconds"] / ours_all
        figures["all_users_speedup_vs_surprise"] = ratio
        print(
            f"Surprise KNNWithMeans (user, cosine, k={model.k}) u1 RMSE {sur['u1_rmse']:.4f}; "
            f"fit + {sur['pairs']:,} unseen-pair predictions {sur['all_users_seconds']:.2f} s"
        )
        print(f"speed-up of movierec all-users top-10 over Surprise: {ratio:.0f}x (target >= 50x)")
    if not args.no_prefect:
        pf = prefect_overhead(source)
        pf["task_overhead_vs_steps_seconds"] = pf["flow_warm_run_seconds"] - steps_total
        figures["prefect"] = pf
        print(
            f"Prefect flow: cold run {pf['flow_cold_start_run_seconds']:.2f} s "
            f"(ephemeral server start {pf['ephemeral_server_start_seconds']:.2f} s), warm run "
            f"{pf['flow_warm_run_seconds']:.2f} s (overhead over plain steps "
            f"{pf['task_overhead_vs_steps_seconds']:.2f} s), cached rerun "
            f"{pf['flow_cached_rerun_seconds']:.2f} s"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(figures, indent=2, default=float) + "\n")
    print(f"wrote {RESULTS / 'pipeline.json'}")


if __name__ == "__main__":
    main()
