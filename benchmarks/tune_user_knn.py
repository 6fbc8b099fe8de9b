"""Choose user-knn's rating-formula defaults (``center``, ``rating_damping``) on validation.

Issue 14 asks every rating model to be at least as accurate as ``baseline``. For each
validation set below, a validation part is carved out of the *training* part of one fold
(:func:`movierec.evaluation.tuning.validation_fold`: a seeded 10 % per-user holdout, or each
user's newest 10 % for the time-split protocol); models are fitted on the rest and scored
on the carved part by :func:`movierec.evaluation.scoring.run_fold` (cold pairs get the known
biases, as in ``movierec evaluate``). Test parts are never read.

Grid: :data:`CENTERS` (``center`` with the baselines' ``reg_u``, ``reg_i``) ×
``rating_damping`` λ ∈ :data:`DAMPINGS`, everything else at the shipped defaults (cosine,
k = 30, shrinkage 5: the ranking score and neighbour lists stay the seed's). Among the grid
points whose validation margin ``RMSE(user-knn) − RMSE(baseline)`` is ≤ 0 on every set (the
goal: no worse than baseline on any data set), the chosen one has the best mean margin;
``min_worst`` also records the point with the smallest worst margin. NDCG@10 of the ranking
score is recorded too (it does not depend on ``center`` or λ).

Ranking (``ranking`` in the results): the shipped score keeps the seed's user-mean centring;
the alternative — the rating formula's centring with ``β = rank_damping + λ`` (so that zero
rank damping would give the predicted-rating order) — is scored on the ranking protocols'
own validation carves (``validation_fold(kind="ranking")``) and on u1's, NDCG@10 and P@10.

Usage::

    .venv/bin/python benchmarks/tune_user_knn.py [--data /work/shared/data]

Writes ``benchmarks/results/tune_user_knn.json`` (figures and parameters only).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from movierec.evaluation.scoring import run_fold
from movierec.evaluation.splits import load_protocol
from movierec.evaluation.tuning import validation_fold
from movierec.models.baseline import REG_I, REG_U
from movierec.models.knn.user import UserKNN
from movierec.models.registry import make_model

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MOVIEREC_SHARED_DATA", REPO.parent / "shared" / "data"))
OUT = Path(__file__).resolve().parent / "results" / "tune_user_knn.json"
DAMPINGS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
# (center, reg_u, reg_i): user means; baselines with Surprise's / item-knn's regularisation;
# baselines with the ``baseline`` model's defaults
CENTERS = (("mean", 15.0, 10.0), ("baseline", 15.0, 10.0), ("baseline", REG_U, REG_I))
# (label, dataset, protocol, protocol seed, carve of the validation part)
SETS = (
    ("ml100k-u1", "ml-100k", "ml100k-u1", 42, "random"),
    ("ml-latest-small random-kfold fold1", "ml-latest-small", "random-kfold", 1, "random"),
    ("ml-latest-small temporal", "ml-latest-small", "temporal", 42, "newest"),
)


def run(data_root: Path) -> dict[str, Any]:
    """Validation RMSE of baseline and of every grid point on every set."""
    sets = []
    for label, dataset, protocol, seed, carve in SETS:
        fold = load_protocol(protocol, data_root / dataset, seed=seed, dataset=dataset).folds[0]
        val, where = validation_fold(fold, 42, "rating", carve)
        t0 = time.perf_counter()
        base = run_fold(make_model("baseline"), val, None, 10, curves=False).result.metrics
        grid = []
        for center, reg_u, reg_i in CENTERS:
            for lam in DAMPINGS:
                params = {"center": center, "rating_damping": lam, "reg_u": reg_u, "reg_i": reg_i}
                model = make_model("user-knn", **params)
                metrics = run_fold(model, val, None, 10, curves=False).result.metrics
                grid.append(
                    {
                        **params,
                        "RMSE": metrics["RMSE"],
                        "margin": metrics["RMSE"] - base["RMSE"],
                        "NDCG@10": metrics.get("NDCG@10"),
                    }
                )
                print(f"{label}: {params}: RMSE {metrics['RMSE']:.4f}", flush=True)
        sets.append(
            {
                "set": label,
                "validation": where,
                "baseline_RMSE": base["RMSE"],
                "grid": grid,
                "seconds": time.perf_counter() - t0,
            }
        )
    return {"sets": sets, "choice": choose(sets)}


RANKING_SETS = (
    ("ml-100k stratified-75-25 seed 1", "ml-100k", "stratified-75-25", 1, "ranking"),
    ("ml100k-u1", "ml-100k", "ml100k-u1", 42, "rating"),
    (
        "ml-latest-small stratified-75-25 seed 1",
        "ml-latest-small",
        "stratified-75-25",
        1,
        "ranking",
    ),
)


class BaselineRanked(UserKNN):
    """The alternative ranking score: the rating formula's centring (``dev_``, ``b_ui``) with
    ``β = rank_damping + rating_damping`` and ``γ = rank_offset``."""

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(user_rows, dtype=np.int64)
        beta = float(self.rank_damping) + float(self.rating_damping)
        off = self._offsets(rows)
        return self._run(rows, self._nb(), off, beta, float(self.rank_offset), rating=True)


def ranking(data_root: Path) -> list[dict[str, Any]]:
    """Validation NDCG@10 / P@10 of the shipped ranking score and of the alternative."""
    out = []
    for label, dataset, protocol, seed, kind in RANKING_SETS:
        fold = load_protocol(protocol, data_root / dataset, seed=seed, dataset=dataset).folds[0]
        val, where = validation_fold(fold, 42, kind)
        row: dict[str, Any] = {"set": label, "validation": where}
        for name, cls in (
            ("user-mean score (shipped)", UserKNN),
            ("baseline score", BaselineRanked),
        ):
            metrics = run_fold(cls(), val, None, 10, curves=False).result.metrics
            row[name] = {key: metrics.get(key) for key in ("NDCG@10", "Precision@10")}
        print(row, flush=True)
        out.append(row)
    return out


def choose(sets: list[dict[str, Any]]) -> dict[str, Any]:
    """Among grid points no worse than baseline on any set, the best mean margin."""
    keys = ("center", "reg_u", "reg_i", "rating_damping")
    scored = []
    for point in sets[0]["grid"]:
        at = tuple(point[k] for k in keys)
        margins = [
            next(g["margin"] for g in s["grid"] if tuple(g[k] for k in keys) == at) for s in sets
        ]
        scored.append((sum(margins) / len(margins), max(margins), at))
    eligible = [t for t in scored if t[1] <= 0] or scored
    mean, worst, at = min(eligible)
    _, worst2, at2 = min(scored, key=lambda t: (t[1], t[0]))
    return {
        **dict(zip(keys, at, strict=True)),
        "worst_margin": worst,
        "mean_margin": mean,
        "rule": "best mean margin among points with margin <= 0 on every set",
        "min_worst": {**dict(zip(keys, at2, strict=True)), "worst_margin": worst2},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    out = run(args.data)
    out["ranking"] = ranking(args.data)
    out["command"] = "benchmarks/tune_user_knn.py"
    out["load_avg"] = os.getloadavg()
    OUT.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out["choice"], indent=2))


if __name__ == "__main__":
    main()
