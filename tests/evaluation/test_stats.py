"""Seeds and uncertainty: t-intervals, paired tests over users, ``--seeds`` / ``--repeats``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from movierec.errors import ConfigError
from movierec.evaluation.report import FoldResult, Leaderboard, write_report
from movierec.evaluation.runner import evaluate, resolve_seeds
from movierec.evaluation.splits import load_protocol
from movierec.evaluation.stats import paired_test, t_interval
from tests.conftest import REPO
from tests.evaluation.helpers import synthetic_ratings, write_ml100k


def _board() -> tuple[Leaderboard, dict[str, dict[int, list[float]]]]:
    """Three models ("blend" an ensemble) on 2 seeds × 2 folds; 30 users, each in 2 runs."""
    rng = np.random.default_rng(5)
    users = np.arange(1, 31)
    results, per_user = [], {}
    level = {"blend": 0.50, "a": 0.47, "b": 0.45}
    for model, mu in level.items():
        per_user[model] = {int(u): [] for u in users}
        for seed in (1, 2):
            for fold in ("fold1", "fold2"):
                part = users[(users % 2 == 0) == (fold == "fold1")]
                vals = np.clip(mu + rng.normal(0, 0.1, part.size) + part * 0.001, 0, 1)
                for u, v in zip(part, vals, strict=True):
                    per_user[model][int(u)].append(float(v))
                results.append(
                    FoldResult(
                        model=model,
                        fold=f"{fold}@seed{seed}",
                        metrics={"NDCG@10": float(vals.mean())},
                        fit_s=0.1,
                        predict_s=None,
                        recommend_s=0.1,
                        seed=seed,
                        per_user={"NDCG@10": (part, vals)},
                    )
                )
    board = Leaderboard(
        protocol="stratified-75-25",
        dataset="ml-100k",
        kind="ranking",
        k=10,
        models=list(level),
        folds=sorted({r.fold for r in results}),
        results=results,
        params={m: {} for m in level},
        tuning={m: {"tuned": False} for m in level},
        ensembles=frozenset({"blend"}),
    )
    return board, per_user


def test_interval_and_paired_tests_match_an_independent_computation(tmp_path: Path) -> None:
    board, per_user = _board()
    s = board.sorted_summary().set_index("model")
    for model in ("blend", "a", "b"):
        vals = np.array([r.metrics["NDCG@10"] for r in board.results if r.model == model])
        n, mean, sd = vals.size, vals.mean(), vals.std(ddof=1)
        lo, hi = sps.t.interval(0.95, n - 1, loc=mean, scale=sps.sem(vals))
        assert s.loc[model, "NDCG@10_mean"] == pytest.approx(mean)
        assert s.loc[model, "NDCG@10_std"] == pytest.approx(sd)
        assert s.loc[model, "NDCG@10_ci_low"] == pytest.approx(lo)
        assert s.loc[model, "NDCG@10_ci_high"] == pytest.approx(hi)
        assert s.loc[model, "n_folds"] == 4 and s.loc[model, "n_seeds"] == 2
    tests = board.paired_tests()
    assert tests["vs_runner_up"]["against"] == "a"
    assert tests["vs_best_single"]["against"] == "a"  # runner-up is the best single here
    for label, other in (("vs_runner_up", "a"),):
        # by hand: each user's mean over their runs, then a one-sample t on the differences
        d = np.array([np.mean(per_user["blend"][u]) - np.mean(per_user[other][u]) for u in
                      range(1, 31)])  # fmt: skip
        t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
        p = 2 * sps.t.sf(abs(t), d.size - 1)
        got = tests[label]
        assert got["n_users"] == 30
        assert got["mean_diff"] == pytest.approx(d.mean())
        assert got["t"] == pytest.approx(t) and got["p"] == pytest.approx(p)
        assert got["p"] == pytest.approx(sps.ttest_1samp(d, 0.0).pvalue)
    # the reports show them
    write_report(board, tmp_path / "r")
    md = (tmp_path / "r" / "leaderboard.md").read_text()
    assert "95 % CI NDCG@10" in md and "paired t-test" in md and "`blend` vs `a`" in md
    csv = pd.read_csv(tmp_path / "r" / "leaderboard.csv")
    assert csv.loc[0, "model"] == "blend" and csv.loc[0, "vs_runner_up_model"] == "a"
    assert csv.loc[0, "vs_runner_up_p"] == pytest.approx(tests["vs_runner_up"]["p"])
    data = json.loads((tmp_path / "r" / "leaderboard.json").read_text())
    assert data["seeds"] == [1, 2] and "Student-t" in data["interval"]
    assert data["paired_tests"]["vs_runner_up"]["against"] == "a"
    assert "per_user" not in data["results"][0]


def test_best_single_is_tested_when_the_runner_up_is_an_ensemble() -> None:
    board, _ = _board()
    board.ensembles = frozenset({"blend", "a"})
    tests = board.paired_tests()
    assert tests["vs_runner_up"]["against"] == "a"
    assert tests["vs_best_single"]["against"] == "b"
    assert tests["vs_best_single"]["mean_diff"] > tests["vs_runner_up"]["mean_diff"]


def test_small_helpers() -> None:
    assert all(math.isnan(x) for x in t_interval(np.array([1.0])))
    lo, hi = t_interval(np.array([1.0, 2.0, 3.0, np.nan]))
    assert (lo + hi) / 2 == pytest.approx(2.0)
    assert hi - lo == pytest.approx(2 * sps.t.ppf(0.975, 2) * 1.0 / math.sqrt(3))
    same = paired_test({1: 0.5, 2: 0.5}, {1: 0.5, 2: 0.5, 3: 0.1})
    assert same["n_users"] == 2 and same["mean_diff"] == 0 and math.isnan(same["p"])
    assert resolve_seeds(7) == [7]
    assert resolve_seeds(7, repeats=3) == [7, 8, 9]
    assert resolve_seeds(7, seeds="3, 1,3") == [3, 1]
    with pytest.raises(ConfigError, match="either --seeds or --repeats"):
        resolve_seeds(1, seeds="1", repeats=2)
    with pytest.raises(ConfigError, match="integers"):
        resolve_seeds(1, seeds="1,x")
    with pytest.raises(ConfigError, match="repeats must be >= 1"):
        resolve_seeds(1, repeats=0)


def test_the_seed_changes_every_random_split(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k", synthetic_ratings())

    def test_rows(name: str, seed: int) -> set[tuple[int, int]]:
        proto = load_protocol(name, folder, seed=seed)
        test = proto.folds[0].test
        return set(zip(test.userId, test.movieId, strict=True))

    for name in ("stratified-75-25", "random-kfold"):
        assert test_rows(name, 1) != test_rows(name, 2), name
        assert test_rows(name, 1) == test_rows(name, 1), name
    assert test_rows("temporal", 1) == test_rows("temporal", 2)  # not random
    board = evaluate("temporal", "popularity", data_dir=folder, write=False, seeds=[1, 2])
    assert len(board.results) == 1 and board.results[0].seed is None  # one run


@pytest.mark.realdata
def test_cli_seeds_on_ml100k(ml100k_dir: Path, tmp_path: Path) -> None:
    """``movierec evaluate --seeds`` through the real entry point: one run per seed, each
    the same as a single-seed evaluation with that seed; mean, sd, interval, paired test."""
    env = {**os.environ, "MOVIEREC_TRACKING": "0"}
    cmd = [sys.executable, "-m", "movierec", "evaluate", "--protocol", "stratified-75-25",
           "--models", "popularity,baseline", "--seeds", "1,2,3", "--data-dir",
           str(ml100k_dir), "--home", str(tmp_path), "--jobs", "1"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "reports" / "stratified-75-25" / "leaderboard.json").read_text())
    assert data["seeds"] == [1, 2, 3]
    pop = [r for r in data["results"] if r["model"] == "popularity"]
    assert [r["seed"] for r in pop] == [1, 2, 3]
    ndcg = [r["metrics"]["NDCG@10"] for r in pop]
    assert len(set(ndcg)) == 3  # three different splits
    single = evaluate("stratified-75-25", "popularity", data_dir=ml100k_dir, seed=2, write=False)
    assert single.results[0].metrics["NDCG@10"] == pytest.approx(ndcg[1], rel=1e-12)
    row = next(r for r in data["summary"] if r["model"] == "popularity")
    assert row["NDCG@10_mean"] == pytest.approx(np.mean(ndcg))
    assert row["NDCG@10_std"] == pytest.approx(np.std(ndcg, ddof=1))
    assert row["NDCG@10_ci_low"] < row["NDCG@10_mean"] < row["NDCG@10_ci_high"]
    test = data["paired_tests"]["vs_runner_up"]
    assert {test["model"], test["against"]} == {"popularity", "baseline"}
    assert test["n_users"] == 943 and 0 <= test["p"] <= 1
    # --seed alone changes the split too
    one = [sys.executable, "-m", "movierec", "evaluate", "--protocol", "stratified-75-25",
           "--models", "popularity", "--seed", "2", "--data-dir", str(ml100k_dir), "--home",
           str(tmp_path / "b"), "--jobs", "1"]  # fmt: skip
    done = subprocess.run(one, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    got = json.loads((tmp_path / "b/reports/stratified-75-25/leaderboard.json").read_text())
    assert got["results"][0]["metrics"]["NDCG@10"] == pytest.approx(ndcg[1], rel=1e-12)
    bad = subprocess.run(
        [*cmd[:-2], "--repeats", "2"], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert bad.returncode != 0 and "either --seeds or --repeats" in bad.stderr
    assert "Traceback" not in bad.stderr
