"""Tune the factor models (svd, svdpp, als, ials, bpr, ease) on validation splits; report test.

Protocols (names as in DESIGN.md):

* ``ml100k-u1`` (rating models ``svd``, ``svdpp``, ``als``): a random 20 % validation part
  is carved out of ``u1.base`` (seed 0); hyperparameters minimise validation RMSE; the
  tuned model is refitted on all of ``u1.base`` and scored on ``u1.test``.
* ``stratified-75-25`` (ranking models ``ials``, ``bpr``, ``ease``): Microsoft
  Recommenders' ``python_stratified_split(ratio=0.75, filter_by="item", seed=42)`` of
  ``u.data``; the same split (seed 1) of the training part gives a validation part;
  hyperparameters maximise validation NDCG@10 (every held-out movie relevant, seen movies
  excluded, averages over users present in both truth and recommendations); the tuned model
  is refitted on the whole training part and scored on the test part.

The search is Optuna TPE (seeded). The test parts are never looked at while tuning. Every
model is fitted on an :class:`Interactions` whose user and movie vocabularies come from its
own training frame only (issue 14: they used to be built from all of ``u.data``, test rows
included, which gave every test movie an index and a zero-rating column in training);
validation and test pairs are scored by :func:`movierec.evaluation.scoring.run_fold`, so a
pair unknown to training gets the known biases, as in ``movierec evaluate``.
Usage::

    .venv/bin/python benchmarks/tune_factor_models.py [--trials 30] [--models svd,ease]

Writes ``benchmarks/results/tune_factor_models.json`` (figures and parameters only).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from movierec.data.datasets import get_dataset
from movierec.evaluation.scoring import run_fold
from movierec.evaluation.splits import Fold, make_fold
from movierec.models.registry import make_model

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MOVIEREC_SHARED_DATA", REPO.parent / "shared" / "data"))
OUT = Path(__file__).resolve().parent / "results" / "tune_factor_models.json"
COLS = ["userId", "movieId", "rating", "timestamp"]
K = 10

RATING_MODELS = ("svd", "svdpp", "als")
RANKING_MODELS = ("ease", "ials", "bpr")


def read_ratings(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / "ml-100k" / name, sep="\t", names=COLS)


def stratified_split(
    frame: pd.DataFrame, ratio: float = 0.75, filter_by: str = "item", seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Microsoft Recommenders' ``python_stratified_split`` (random, two parts), re-implemented.

    Within each group (movie when ``filter_by="item"``) rows are ordered by a seeded uniform
    draw and the first ``round(ratio * count)`` go to training.
    """
    col = "movieId" if filter_by == "item" else "userId"
    np.random.seed(seed)
    data = frame.copy()
    data["random"] = np.random.rand(data.shape[0])
    data = data.sort_values([col, "random"])
    groups = data.groupby(col)
    data["count"] = groups[col].transform("count")
    data["rank"] = groups.cumcount() + 1
    train_mask = data["rank"] <= np.round(ratio * data["count"])
    drop = ["random", "count", "rank"]
    return data[train_mask].drop(columns=drop), data[~train_mask].drop(columns=drop)


def fold_of(name: str, train: pd.DataFrame, test: pd.DataFrame) -> Fold:
    """A fold whose vocabularies are those of ``train`` only."""
    return make_fold(name, train, test, get_dataset("ml-100k").scale.bounds)


def ranking_metrics(model: Any, fold: Fold, k: int = K) -> dict[str, float]:
    """NDCG@k and Precision@k (binary relevance, Microsoft Recommenders style) of ``model``
    fitted on ``fold.train``."""
    got = run_fold(model, fold, None, k, curves=False).result.metrics
    return {"ndcg@10": got[f"NDCG@{k}"], "precision@10": got[f"Precision@{k}"]}


def rmse(model: Any, fold: Fold) -> float:
    """RMSE of ``model`` on every test pair of ``fold`` (fitted on ``fold.train``)."""
    return float(run_fold(model, fold, None, K, curves=False).result.metrics["RMSE"])


def space(trial: optuna.Trial, name: str) -> dict[str, Any]:
    """Search space per model."""
    if name == "svd":
        return {
            "factors": trial.suggest_int("factors", 10, 300, log=True),
            "epochs": trial.suggest_int("epochs", 20, 120),
            "lr": trial.suggest_float("lr", 0.001, 0.02, log=True),
            "reg": trial.suggest_float("reg", 0.01, 0.2, log=True),
            "reg_bias": trial.suggest_float("reg_bias", 0.001, 0.2, log=True),
        }
    if name == "svdpp":
        return {
            "factors": trial.suggest_int("factors", 5, 200, log=True),
            "epochs": trial.suggest_int("epochs", 20, 100),
            "lr": trial.suggest_float("lr", 0.001, 0.02, log=True),
            "reg": trial.suggest_float("reg", 0.01, 0.2, log=True),
            "reg_bias": trial.suggest_float("reg_bias", 0.001, 0.2, log=True),
            "reg_implicit": trial.suggest_float("reg_implicit", 0.001, 0.5, log=True),
        }
    if name == "als":
        return {
            "factors": trial.suggest_int("factors", 2, 100, log=True),
            "iterations": trial.suggest_int("iterations", 5, 25),
            "reg": trial.suggest_float("reg", 0.01, 0.5, log=True),
        }
    if name == "ease":
        return {
            "reg": trial.suggest_float("reg", 5.0, 5000.0, log=True),
            "binarize": trial.suggest_categorical("binarize", [True, False]),
        }
    if name == "ials":
        return {
            "factors": trial.suggest_categorical("factors", [16, 32, 64, 128, 256]),
            "reg": trial.suggest_float("reg", 0.01, 300.0, log=True),
            "alpha": trial.suggest_float("alpha", 0.05, 50.0, log=True),
            "iterations": trial.suggest_int("iterations", 5, 30),
            "binarize": trial.suggest_categorical("binarize", [True, False]),
        }
    if name == "bpr":
        return {
            "factors": trial.suggest_categorical("factors", [16, 32, 64, 128, 256]),
            "lr": trial.suggest_float("lr", 0.002, 0.2, log=True),
            "reg": trial.suggest_float("reg", 1e-4, 0.1, log=True),
            "iterations": trial.suggest_int("iterations", 20, 300, log=True),
        }
    raise ValueError(name)


def tune(name: str, valid: Fold, trials: int, seed: int = 0) -> dict[str, Any]:
    """Optuna TPE on the validation fold; returns best params and the trial log."""
    rating = name in RATING_MODELS

    def objective(trial: optuna.Trial) -> float:
        model = make_model(name, **space(trial, name))
        return rmse(model, valid) if rating else ranking_metrics(model, valid)["ndcg@10"]

    study = optuna.create_study(
        direction="minimize" if rating else "maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    study.optimize(objective, n_trials=trials)
    return {
        "best_params": study.best_params,
        "best_validation": study.best_value,
        "validation_metric": "rmse" if rating else "ndcg@10",
        "trials": [
            {"params": t.params, "value": t.value} for t in study.trials if t.value is not None
        ],
    }


def timed_fit(name: str, params: dict[str, Any], fold: Fold) -> tuple[Any, float]:
    start = time.perf_counter()
    model = make_model(name, **params).fit(fold.train)
    return model, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--models", default=",".join(RATING_MODELS + RANKING_MODELS))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    models = [m for m in args.models.split(",") if m]

    full = read_ratings("u.data")

    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results.setdefault("models", {})
    results["k"] = K

    if any(m in RATING_MODELS for m in models):
        base, test = read_ratings("u1.base"), read_ratings("u1.test")
        rng = np.random.default_rng(0)
        is_valid = rng.random(len(base)) < 0.2
        valid = fold_of("validation", base[~is_valid], base[is_valid])
        u1 = fold_of("u1", base, test)
        for name in (m for m in models if m in RATING_MODELS):
            t0 = time.perf_counter()
            found = tune(name, valid, args.trials)
            _, fit_s = timed_fit(name, found["best_params"], u1)
            default_model = make_model(name)
            entry = {
                "protocol": "ml100k-u1",
                "validation": "random 20% of u1.base (seed 0)",
                "vocabularies": "training part only",
                **found,
                "test_rmse": rmse(make_model(name, **found["best_params"]), u1),
                "fit_seconds": fit_s,
                "test_rmse_with_class_defaults": rmse(default_model, u1),
                "class_default_params": default_model.get_params(),
                "tuning_seconds": time.perf_counter() - t0,
            }
            results["models"][name] = entry
            logging.info("%s: %s", name, {k: v for k, v in entry.items() if k != "trials"})

    if any(m in RANKING_MODELS for m in models):
        train_df, test_df = stratified_split(full, 0.75, "item", 42)
        sub_df, valid_df = stratified_split(train_df, 0.75, "item", 1)
        valid = fold_of("validation", sub_df, valid_df)
        strat = fold_of("all", train_df, test_df)
        for name in (m for m in models if m in RANKING_MODELS):
            t0 = time.perf_counter()
            found = tune(name, valid, args.trials)
            _, fit_s = timed_fit(name, found["best_params"], strat)
            default_model = make_model(name)
            entry = {
                "protocol": "stratified-75-25",
                "validation": "stratified 75/25 by item of the training part (seed 1)",
                "vocabularies": "training part only",
                **found,
                "test": ranking_metrics(make_model(name, **found["best_params"]), strat),
                "fit_seconds": fit_s,
                "test_with_class_defaults": ranking_metrics(default_model, strat),
                "class_default_params": default_model.get_params(),
                "tuning_seconds": time.perf_counter() - t0,
            }
            results["models"][name] = entry
            logging.info("%s: %s", name, {k: v for k, v in entry.items() if k != "trials"})

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
