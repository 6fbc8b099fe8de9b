"""Our models side by side with Surprise and implicit, same process, same splits.

Rating prediction on ``ml100k-u1`` (u1.base -> u1.test, every test row scored; Surprise's
own fallback for unknown ids, ours the training mean): RMSE/MAE and fit times of

* ours: baseline, user-knn, item-knn, svd, svdpp, als;
* Surprise: BaselineOnly, SVD, SVDpp, KNNWithMeans (user, cosine), KNNBaseline (item,
  pearson_baseline) — default parameters.

Speed ratios at the same factors/epochs: our ``svd`` vs Surprise ``SVD`` (100 factors, 20
epochs) and our ``svdpp`` vs ``SVDpp`` (20 factors, 20 epochs); each fit is timed
``--repeats`` times after one untimed warm-up (numba compiles on first use) and the median
is reported.

Ranking on ``stratified-75-25`` (Microsoft Recommenders' split, top-10, seen items
excluded): NDCG@10 / Precision@10 / MAP of our ranking models and of implicit's
``AlternatingLeastSquares`` and ``BayesianPersonalizedRanking`` (scored by the same metric
code, which matches recommenders 1.2.1 to 1e-15).

Finally the whole ``evaluate`` of every registered model on ``ml100k-5fold`` is timed
(target: < 120 s on 2 cores).

Usage::

    .venv/bin/python benchmarks/models.py [--data-dir ../shared/data/ml-100k] [--repeats 3]
        [--skip-5fold]

Writes ``benchmarks/results/models.json`` (figures only, no MovieLens data).

``--goals`` instead measures the goals of issue 14 and prints each as met / not met with
the margin (``--sections`` picks some of :data:`GOAL_SECTIONS`; ``--seeds N`` the number of
seeds of ``stratified-75-25``, default 10). Every figure is test data scored once with
shipped defaults (decisions inside models are made on carves of the training parts only);
means are over seeds × folds with the sample sd, paired tests are
``scipy.stats.ttest_rel`` over users (:mod:`movierec.evaluation.stats`). Each section
writes ``benchmarks/results/goals_<section>.json``; the goal table is printed from
whichever sections have results, and written to ``benchmarks/results/goals.json``.

``--tune a,b,c [--trials N]`` instead runs ``evaluate --tune`` for those models (rating models
on ``ml100k-u1``, minimising RMSE; ranking-only models on ``stratified-75-25``, maximising
NDCG@10; validation = a seeded 10 % per-user holdout of the training part) and writes the
chosen values with their test figures to ``benchmarks/results/tuned_params.json`` (merged
with the models already there): these are the values to ship as defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.evaluation import metrics as M
from movierec.evaluation.data import read_release
from movierec.evaluation.runner import evaluate
from movierec.evaluation.scoring import run_fold
from movierec.evaluation.splits import Fold, load_protocol
from movierec.models.registry import available_models, make_model

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "models.json"
OURS_RATING = ["baseline", "user-knn", "item-knn", "svd", "svdpp", "als", "autorec", "blend"]
OURS_RANKING = [
    "popularity",
    "item-knn",
    "svd",
    "ials",
    "bpr",
    "ease",
    "edlae",
    "local-ease",
    "hybrid",
    "rank-blend",
]
SAME_SETTINGS = {
    "svd": ({"factors": 100, "epochs": 20}, {"n_factors": 100, "n_epochs": 20}),
    "svdpp": ({"factors": 20, "epochs": 20}, {"n_factors": 20, "n_epochs": 20}),
}


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    fn()  # warm-up (JIT compilation, caches)
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def _default_data() -> Path:
    env = os.environ.get("MOVIEREC_SHARED_DATA")
    base = Path(env) if env else HERE.parents[1] / "shared" / "data"
    return base / "ml-100k"


# --------------------------------------------------------------------------- rating (u1)
def surprise_rating(fold: Fold, repeats: int) -> dict[str, dict[str, Any]]:
    from surprise import (
        SVD,
        BaselineOnly,
        Dataset,
        KNNBaseline,
        KNNWithMeans,
        Reader,
        SVDpp,
        accuracy,
    )

    train = fold.train.to_frame()[["userId", "movieId", "rating"]]
    trainset = Dataset.load_from_df(
        train, Reader(rating_scale=fold.train.rating_scale)
    ).build_full_trainset()
    testset = list(fold.test[["userId", "movieId", "rating"]].itertuples(index=False, name=None))
    algos: dict[str, Callable[[], Any]] = {
        "BaselineOnly": lambda: BaselineOnly(verbose=False),
        "SVD": lambda: SVD(random_state=0),
        "SVDpp": lambda: SVDpp(random_state=0),
        "KNNWithMeans user cosine": lambda: KNNWithMeans(
            sim_options={"name": "cosine", "user_based": True}, verbose=False
        ),
        "KNNBaseline item": lambda: KNNBaseline(
            sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
        ),
    }
    out = {}
    for name, make in algos.items():
        reps = repeats if name in ("SVD", "SVDpp") else 1
        fit_s, times, algo = _median_time(lambda make=make: make().fit(trainset), reps)
        preds = algo.test(testset)
        out[name] = {
            "RMSE": accuracy.rmse(preds, verbose=False),
            "MAE": accuracy.mae(preds, verbose=False),
            "fit_s": fit_s,
            "fit_times": times,
        }
    return out


def ours_rating(fold: Fold, catalog: Any, repeats: int) -> dict[str, dict[str, Any]]:
    out = {}
    for name in OURS_RATING:
        if name not in available_models():
            continue
        reps = repeats if name in SAME_SETTINGS else 1
        fit_s, times, _ = _median_time(lambda name=name: make_model(name).fit(fold.train), reps)
        res = run_fold(make_model(name), fold, catalog, 10, curves=False).result
        out[name] = {
            "RMSE": res.metrics.get("RMSE"),
            "MAE": res.metrics.get("MAE"),
            "fit_s": fit_s,
            "fit_times": times,
            "params": make_model(name).get_params(),
        }
    return out


def same_settings_ratios(fold: Fold, repeats: int) -> dict[str, dict[str, Any]]:
    from surprise import SVD, Dataset, Reader, SVDpp, accuracy

    train = fold.train.to_frame()[["userId", "movieId", "rating"]]
    trainset = Dataset.load_from_df(
        train, Reader(rating_scale=fold.train.rating_scale)
    ).build_full_trainset()
    testset = list(fold.test[["userId", "movieId", "rating"]].itertuples(index=False, name=None))
    cls = {"svd": SVD, "svdpp": SVDpp}
    out = {}
    for name, (ours_p, theirs_p) in SAME_SETTINGS.items():
        ours_s, ours_t, _ = _median_time(
            lambda n=name, p=ours_p: make_model(n, **p).fit(fold.train), repeats
        )
        ours_rmse = run_fold(make_model(name, **ours_p), fold, None, 10, curves=False)
        theirs_s, theirs_t, algo = _median_time(
            lambda c=cls[name], p=theirs_p: c(random_state=0, **p).fit(trainset), repeats
        )
        out[name] = {
            "settings": ours_p,
            "ours_fit_s": ours_s,
            "surprise_fit_s": theirs_s,
            "ratio": ours_s / theirs_s,
            "ours_RMSE": ours_rmse.result.metrics["RMSE"],
            "surprise_RMSE": accuracy.rmse(algo.test(testset), verbose=False),
            "ours_times": ours_t,
            "surprise_times": theirs_t,
        }
    return out


# --------------------------------------------------------------------------- ranking
def implicit_ranking(fold: Fold, repeats: int) -> dict[str, dict[str, Any]]:
    import implicit
    from threadpoolctl import threadpool_limits

    train = fold.train
    user_items = train.matrix.tocsr().astype(np.float32)
    user_items.data[:] = 1.0
    users = np.unique(fold.test["userId"].to_numpy())
    rows = train.users.index(users)
    algos = {
        "implicit ALS": lambda: implicit.cpu.als.AlternatingLeastSquares(
            factors=64, regularization=0.05, iterations=15, random_state=0
        ),
        "implicit BPR": lambda: implicit.cpu.bpr.BayesianPersonalizedRanking(
            factors=64, iterations=100, random_state=0
        ),
    }
    out = {}
    with threadpool_limits(1, "blas"):
        for name, make in algos.items():

            def fit(make: Callable[[], Any] = make) -> Any:
                model = make()
                model.fit(user_items, show_progress=False)
                return model

            fit_s, _, model = _median_time(fit, repeats)
            ids, _ = model.recommend(rows, user_items[rows], N=10, filter_already_liked_items=True)
            rec = np.where(ids >= 0, train.items.ids[np.clip(ids, 0, None)], -1)
            hits, nrel = M.hit_matrix(rec, users, fold.test["userId"], fold.test["movieId"])
            out[name] = {
                "NDCG@10": M.ndcg_at_k(hits, nrel, 10),
                "Precision@10": M.precision_at_k(hits, 10),
                "Recall@10": M.recall_at_k(hits, nrel, 10),
                "MAP@10": M.map_at_k(hits, nrel, 10),
                "fit_s": fit_s,
            }
    return out


def ours_ranking(fold: Fold, catalog: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for name in OURS_RANKING:
        if name not in available_models():
            continue
        res = run_fold(make_model(name), fold, catalog, 10, curves=False).result
        out[name] = {m: res.metrics[m] for m in ("NDCG@10", "Precision@10", "Recall@10", "MAP@10")}
        out[name]["fit_s"] = res.fit_s
    return out


# --------------------------------------------------------------------------- main
# --------------------------------------------------------------------------- goals (issue 14)
RANK_BLEND_PARTS = ["edlae", "ials", "rp3beta", "item-knn", "popularity", "local-ease"]
RATING_BLEND_BASES = ["svdpp", "svd", "item-knn", "user-knn", "baseline", "autorec", "als"]
RATING_MODELS = ["baseline", "user-knn", "item-knn", "svd", "svdpp", "als", "autorec", "blend"]
RANKING = ["rank-blend", *RANK_BLEND_PARTS, "ease", "slist"]

SYNTHETIC = "synthetic"
"""Pseudo-dataset of the goal sections: ``movierec synth`` data (:data:`SYNTH_COUNTS`, seed
0) generated into a temporary folder and read in the ml-latest-small layout."""
SYNTH_COUNTS = (100_000, 1_000, 2_000)  # ratings, users, movies
FILTERED = {"min_user_ratings": 5, "min_item_ratings": 20}  # the pipeline's defaults

# section -> (dataset, protocol, models, seeds ("N": the --seeds count), split options)
GOAL_SECTIONS: dict[str, tuple[str, str, list[str], Any, dict[str, Any]]] = {
    "strat100k": ("ml-100k", "stratified-75-25", RANKING, "N", {}),
    "temporal100k": ("ml-100k", "temporal", RANKING, None, {}),
    "last1_100k": ("ml-100k", "temporal-last1", RANKING, None, {}),
    "u1": ("ml-100k", "ml100k-u1", RATING_MODELS, None, {}),
    "fivefold": ("ml-100k", "ml100k-5fold", "all", None, {}),
    # the same with an empty numba cache: the first run after an install compiles the kernels
    "fivefold_cold": ("ml-100k", "ml100k-5fold", "all", None, {}),
    "kfold100k": (
        "ml-100k",
        "random-kfold",
        ["rank-blend", *RANK_BLEND_PARTS, *RATING_MODELS],
        [1],
        {},
    ),  # fmt: skip
    "kfold_small": ("ml-latest-small", "random-kfold", RATING_MODELS, [1], {}),
    "strat_small": ("ml-latest-small", "stratified-75-25", RANKING, [1], {}),
    "temporal_small": (
        "ml-latest-small",
        "temporal",
        ["rank-blend", *RANK_BLEND_PARTS, "slist", *RATING_MODELS],
        None,
        {},
    ),  # fmt: skip
    # nested --tune: every run (fold) tunes each model, and the blend's parts, on a carve of
    # its own training part (runner.choose_run)
    "strat100k_tuned": ("ml-100k", "stratified-75-25", ["rank-blend", *RANK_BLEND_PARTS], "N", {}),
    "u1_tuned": ("ml-100k", "ml100k-u1", RATING_MODELS, None, {}),
    "fivefold_tuned": ("ml-100k", "ml100k-5fold", RATING_MODELS, None, {}),
    # ml-latest-small filtered as the pipeline filters it (FILTERED), and synthetic data
    "strat_small_filtered": ("ml-latest-small", "stratified-75-25", RANKING, [1], {}),
    "kfold_small_filtered": ("ml-latest-small", "random-kfold", RATING_MODELS, [1], {}),
    "kfold_synth": (
        SYNTHETIC,
        "random-kfold",
        ["rank-blend", *RANK_BLEND_PARTS, *RATING_MODELS],
        [1],
        {},
    ),  # fmt: skip
}
TUNED_TRIALS = 20
"""Optuna trials per model and run in the ``*_tuned`` sections."""


def _section_path(name: str) -> Path:
    return HERE / "results" / f"goals_{name}.json"


def run_goal_section(name: str, data_root: Path, n_seeds: int) -> dict[str, Any]:
    """Evaluate one section and keep its summary, runs and the paired tests the goals need."""
    dataset, protocol, models, seeds, options = GOAL_SECTIONS[name]
    seed_list = list(range(1, n_seeds + 1)) if seeds == "N" else seeds
    tune = name.endswith("_tuned")
    filters = FILTERED if name.endswith("_filtered") else {}
    cold = name.endswith("_cold")
    saved_cache = os.environ.get("NUMBA_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="movierec-goals-") as tmp:
        if cold:  # the spawned workers start with an empty cache and compile every kernel
            os.environ["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba-cache")
        folder = data_root / dataset
        if dataset == SYNTHETIC:
            from movierec.data.synth import synthesize

            folder = Path(tmp) / "synthetic"
            synthesize(*SYNTH_COUNTS, seed=0, out_dir=folder)
        t0 = time.perf_counter()
        board = evaluate(
            protocol,
            models,
            data_dir=folder,
            dataset="ml-latest-small" if dataset == SYNTHETIC else dataset,
            write=False,
            jobs=0,
            seeds=seed_list,
            split_options=options or None,
            tune=tune,
            n_trials=TUNED_TRIALS if tune else None,
            **filters,
        )
        seconds = time.perf_counter() - t0
        if cold:
            if saved_cache is None:
                os.environ.pop("NUMBA_CACHE_DIR", None)
            else:
                os.environ["NUMBA_CACHE_DIR"] = saved_cache
    present = set(board.models)
    pairs = []
    if "rank-blend" in present:
        pairs += [("rank-blend", p, "NDCG@10") for p in RANK_BLEND_PARTS if p in present]
    if "blend" in present:
        pairs += [("blend", p, "MSE") for p in RATING_BLEND_BASES if p in present]
    if "baseline" in present:
        pairs += [(m, "baseline", "MSE") for m in RATING_MODELS if m in present and m != "baseline"]
    if "slist" in present and "edlae" in present:
        pairs.append(("slist", "edlae", "NDCG@10"))
    out = {
        "section": name,
        "dataset": dataset,
        "protocol": protocol,
        "seeds": board.seeds() or "not random (one split)",
        "runs": board.folds,
        "seconds": seconds,
        "load_avg": os.getloadavg(),
        "command": f"evaluate({protocol!r}, {models!r}, dataset={dataset!r}, seeds={seed_list}"
        + (f", tune=True, n_trials={TUNED_TRIALS}" if tune else "")
        + "".join(f", {k}={v}" for k, v in filters.items())
        + ")",
        "filtered": board.info.get("filtered"),
        "numba_cache": "empty (NUMBA_CACHE_DIR in a temporary folder)" if cold else "as found",
        "synthetic": (
            dict(zip(("ratings", "users", "movies"), SYNTH_COUNTS, strict=True), seed=0)
            if dataset == SYNTHETIC
            else None
        ),
        "tuning": board.tuning if tune else None,
        "params": json.loads(json.dumps(board.to_dict()["params"], default=_jsonable)),
        "summary": json.loads(json.dumps(board.to_dict()["summary"])),
        "paired": [board.paired(a, b, key) for a, b, key in pairs],
        "per_run": [
            {"model": r.model, "fold": r.fold, "seed": r.seed, "metrics": r.metrics}
            for r in board.results
        ],
    }
    path = _section_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    print(f"== {name}: {protocol} on {dataset}, {len(board.folds)} run(s), {seconds:.0f} s")
    return out


def _row(section: dict[str, Any], model: str) -> dict[str, Any] | None:
    return next((r for r in section["summary"] if r["model"] == model), None)


def goal_table(sections: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every goal of issue 14 that the measured sections allow, met or not, with margins."""
    goals: list[dict[str, Any]] = []

    def add(goal: str, met: bool, figure: str, where: str) -> None:
        goals.append({"goal": goal, "met": bool(met), "figure": figure, "where": where})

    for name in ("strat100k", "strat100k_tuned"):
        st = sections.get(name)
        if not st:
            continue
        best = st["summary"][0]
        n, p = best["NDCG@10_mean"], best["Precision@10_mean"]
        how = f", nested --tune ({TUNED_TRIALS} trials)" if name.endswith("_tuned") else ""
        where = f"stratified-75-25, ml-100k, seeds {st['seeds']}"
        add(
            f"NDCG@10 >= 0.50 (best model, mean over >= 10 seeds{how})",
            n >= 0.50,
            f"{best['model']} {n:.4f} ± {best['NDCG@10_std']:.4f} ({n - 0.50:+.4f})",
            where,
        )
        add(f"P@10 >= 0.43 (best model, mean over >= 10 seeds{how})", p >= 0.43,
            f"{best['model']} {p:.4f} ± {best['Precision@10_std']:.4f} ({p - 0.43:+.4f})",
            where)  # fmt: skip
    for name in ("u1", "fivefold", "u1_tuned", "fivefold_tuned"):
        sec = sections.get(name)
        if sec:
            rated = [r for r in sec["summary"] if r.get("RMSE_mean") is not None]
            best = min(rated, key=lambda r: r["RMSE_mean"])
            five = name.startswith("fivefold")
            target = " (target <= 0.885)" if five else ""
            how = (
                f"nested --tune, {TUNED_TRIALS} trials per model and run"
                if name.endswith("_tuned")
                else "shipped defaults (no --tune)"
            )
            sd = best.get("RMSE_std")
            add(f"{sec['protocol']} RMSE of the best model{target}, {how}",
                best["RMSE_mean"] <= 0.885 if five else True,
                f"{best['model']} {best['RMSE_mean']:.4f}" + (f" ± {sd:.4f}" if sd else ""),
                f"{sec['protocol']}, ml-100k")  # fmt: skip
    for name, sec in sections.items():
        if name.endswith("_cold"):  # the figures of `fivefold`, timed with an empty cache
            continue
        f = sec.get("filtered")
        kept = (
            f" (users >= {f['min_user_ratings']}, movies >= {f['min_item_ratings']})" if f else ""
        )
        where = f"{sec['protocol']}, {sec['dataset']}{kept}, seeds {sec['seeds']}"
        for t in sec["paired"]:
            a, b, key, d = t["model"], t["against"], t["metric"], t["mean_diff"]
            lo, hi = t["ci_low"], t["ci_high"]
            ci = f"95 % CI {lo:+.4f} .. {hi:+.4f}"
            fig = f"{a} − {b}: per-user {key} {d:+.4f} ({ci}, p {t['p']:.3g})"
            if a in ("rank-blend", "blend") and b != "baseline":
                worse = hi < 0 if key != "MSE" else lo > 0
                add(f"{a} not worse than its part {b} (paired, 95 %)", not worse, fig, where)
            elif b == "baseline":
                ra, rb = _row(sec, a), _row(sec, "baseline")
                if ra and rb and ra.get("RMSE_mean") is not None:
                    gap = ra["RMSE_mean"] - rb["RMSE_mean"]
                    add(f"{a} RMSE <= baseline RMSE", gap <= 0,
                        f"{ra['RMSE_mean']:.4f} vs {rb['RMSE_mean']:.4f} ({gap:+.4f}); {fig}",
                        where)  # fmt: skip
            elif a == "slist" and sec["protocol"] == "temporal":
                ra, rb = _row(sec, "slist"), _row(sec, "edlae")
                if ra and rb:
                    ratio = ra["NDCG@10_mean"] / rb["NDCG@10_mean"]
                    add("temporal NDCG@10 >= 1.10 × edlae's", ratio >= 1.10 and lo > 0,
                        f"slist {ra['NDCG@10_mean']:.4f} vs edlae {rb['NDCG@10_mean']:.4f} "
                        f"= {ratio:.3f}×; {fig}", where)  # fmt: skip
    for name, how in (("fivefold", ""), ("fivefold_cold", ", first run (empty numba cache)")):
        ff = sections.get(name)
        if ff:
            add(f"evaluate of all models on ml100k-5fold < 120 s{how}", ff["seconds"] < 120,
                f"{ff['seconds']:.0f} s (load average {ff['load_avg'][0]:.1f} at the end)",
                "ml100k-5fold, all models, --jobs 0 (2 cores shared)")  # fmt: skip
    return goals


def goal_markdown(goals: list[dict[str, Any]]) -> str:
    """The goal table as the Markdown of ``docs/benchmarks.md`` (one row per goal)."""
    lines = ["| goal | met | figure | protocol, data, seeds |", "|---|---|---|---|"]
    for g in goals:
        met = "yes" if g["met"] else "**no**"
        lines.append(f"| {g['goal']} | {met} | {g['figure']} | {g['where']} |")
    return "\n".join(lines) + "\n"


def goals_main(data_root: Path, names: list[str], n_seeds: int) -> dict[str, Any]:
    """Run the ``names`` sections, then print the goals from every stored section."""
    for name in names:
        run_goal_section(name, data_root, n_seeds)
    sections = {
        n: json.loads(_section_path(n).read_text())
        for n in GOAL_SECTIONS
        if _section_path(n).is_file()
    }
    table = goal_table(sections)
    print("== goals of issue 14")
    for g in table:
        print(f"  [{'met' if g['met'] else 'NOT MET'}] {g['goal']}: {g['figure']}  ({g['where']})")
    out = {"goals": table, "sections": sorted(sections)}
    (HERE / "results" / "goals.json").write_text(json.dumps(out, indent=2) + "\n")
    met = sum(g["met"] for g in table)
    print(f"== {met} of {len(table)} goals met; the table for docs/benchmarks.md:")
    print(goal_markdown(table))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=_default_data())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-5fold", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--tune", help="comma-separated models to tune instead of benchmarking")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--goals", action="store_true", help="measure the goals of issue 14")
    ap.add_argument("--sections", default=",".join(GOAL_SECTIONS))
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)
    if args.goals:
        names = [n for n in args.sections.split(",") if n]
        return goals_main(args.data_dir.parent, names, args.seeds)
    data = read_release("ml-100k", args.data_dir, splits=("u1",))
    if args.tune:
        return tune_defaults(args.data_dir, args.tune.split(","), args.trials)
    catalog = data.catalog
    u1 = load_protocol("ml100k-u1", data).folds[0]
    strat = load_protocol("stratified-75-25", data).folds[0]

    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg(),
        },
        "repeats": args.repeats,
    }
    print("== ml100k-u1 rating prediction (RMSE; fit seconds)")
    surprise = surprise_rating(u1, args.repeats)
    ours = ours_rating(u1, catalog, args.repeats)
    for name, r in {**{f"surprise {k}": v for k, v in surprise.items()}, **ours}.items():
        rmse = "" if r["RMSE"] is None else f"{r['RMSE']:.4f}"
        print(f"  {name:30s} RMSE {rmse:>7s}  fit {r['fit_s']:7.3f} s")
    result["u1_rating"] = {"surprise": surprise, "ours": ours}

    print("== same factors/epochs: our fit time / Surprise fit time (median)")
    ratios = same_settings_ratios(u1, args.repeats)
    for name, r in ratios.items():
        print(
            f"  {name:6s} {r['settings']}: ours {r['ours_fit_s']:.3f} s, Surprise "
            f"{r['surprise_fit_s']:.3f} s, ratio {r['ratio']:.3f}; RMSE ours "
            f"{r['ours_RMSE']:.4f} vs {r['surprise_RMSE']:.4f}"
        )
    result["fit_time_ratios"] = ratios

    print("== stratified-75-25 ranking (top-10)")
    imp = implicit_ranking(strat, args.repeats)
    mine = ours_ranking(strat, catalog)
    for name, r in {**imp, **mine}.items():
        print(
            f"  {name:16s} NDCG@10 {r['NDCG@10']:.4f}  P@10 {r['Precision@10']:.4f}  "
            f"MAP {r['MAP@10']:.4f}  fit {r['fit_s']:.2f} s"
        )
    result["stratified_ranking"] = {"implicit": imp, "ours": mine}

    if not args.skip_5fold:
        models = available_models()
        t0 = time.perf_counter()
        board = evaluate("ml100k-5fold", models, data_dir=data, write=False, jobs=0)
        seconds = time.perf_counter() - t0
        summary = board.sorted_summary()
        per_model = summary.set_index("model")["fit_s"].mul(5).round(2).to_dict()
        print(
            f"== evaluate ml100k-5fold, all {len(models)} models: {seconds:.1f} s "
            f"(target < 120 s); fit seconds over 5 folds: {per_model}"
        )
        result["evaluate_5fold"] = {
            "seconds": seconds,
            "models": models,
            "fit_s_total_per_model": per_model,
            "RMSE_mean": summary.set_index("model")["RMSE_mean"].dropna().round(4).to_dict(),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return result


def plain_params(name: str) -> dict[str, Any]:
    return make_model(name).get_params()


def tune_defaults(data: Path, models: list[str], trials: int) -> dict[str, Any]:
    """Tune ``models`` with ``evaluate(tune=True)``; merge into ``tuned_params.json``."""
    from movierec.models.registry import model_class

    path = HERE / "results" / "tuned_params.json"
    found = json.loads(path.read_text()) if path.is_file() else {}
    for name in models:
        protocol = "ml100k-u1" if model_class(name).predicts_ratings else "stratified-75-25"
        t0 = time.perf_counter()
        board = evaluate(protocol, [name], data_dir=data, tune=True, n_trials=trials, write=False)
        row = board.summary().iloc[0]
        metric = "RMSE" if protocol == "ml100k-u1" else "NDCG@10"
        plain = evaluate(protocol, [name], data_dir=data, write=False).summary().iloc[0]
        found[name] = {
            "protocol": protocol,
            "params": board.params[name],
            "tuning": board.tuning[name],
            f"test_{metric}": float(row[f"{metric}_mean"]),
            "test_Precision@10": float(row["Precision@10_mean"]),
            f"test_{metric}_with_shipped_defaults": float(plain[f"{metric}_mean"]),
            "shipped_defaults": plain_params(name),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(
            f"{name}: {protocol} test {metric} {row[f'{metric}_mean']:.4f} with "
            f"{board.params[name]}"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(found, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return found


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, pd.Timestamp):
        return x.isoformat()
    return str(x)


if __name__ == "__main__":
    main()
