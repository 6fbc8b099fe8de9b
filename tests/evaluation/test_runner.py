"""evaluate(): report files, CSV exports, bad input, atomicity, tuning, CLI and flow glue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.config import Layout
from movierec.errors import ConfigError, DataError
from movierec.evaluation import metrics as M
from movierec.evaluation import tuning
from movierec.evaluation.runner import evaluate, parse_models, split_model_params
from movierec.evaluation.splits import load_protocol
from movierec.models import registry
from tests.conftest import REPO
from tests.evaluation.helpers import synthetic_ratings, write_ml100k


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ml100k(tmp_path_factory.mktemp("data") / "ml-100k", synthetic_ratings())


def test_five_fold_report_and_exports(test_models: None, folder: Path, tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    board = evaluate(
        "ml100k-5fold",
        "test-mean,test-rank,test-claims",
        data_dir=folder,
        layout=layout,
        k=5,
        predictions_out=tmp_path / "pred.csv",
        recommendations_out=tmp_path / "recs.csv",
    )
    out = tmp_path / "reports" / "ml100k-5fold"
    expected = {
        "leaderboard.md",
        "leaderboard.csv",
        "leaderboard.json",
        "metrics.png",
        "accuracy_vs_time.png",
        "precision_recall_at_k.png",
    }
    assert {p.name for p in out.iterdir()} == expected
    assert not [p for p in tmp_path.rglob(".*tmp*")]
    summary = pd.read_csv(out / "leaderboard.csv").set_index("model")
    assert summary.loc["test-mean", "n_folds"] == 5
    assert np.isfinite(summary.loc["test-mean", "RMSE_std"])
    assert np.isnan(summary.loc["test-rank", "RMSE_mean"])  # ranking-only: left blank
    assert np.isnan(summary.loc["test-claims", "RMSE_mean"])  # NotSupportedError handled
    data = json.loads((out / "leaderboard.json").read_text())
    assert data["protocol"] == "ml100k-5fold" and data["folds"] == ["u1", "u2", "u3", "u4", "u5"]
    assert data["params"]["test-mean"] == {"shift": 0.0, "k": 5}
    assert len(data["results"][0]["curves"]["precision"]) == 20
    md = (out / "leaderboard.md").read_text()
    assert "`ml100k-5fold`" in md and "±" in md and "shipped defaults" in md

    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["model", "userId", "movieId", "rating", "prediction", "fold"]
    assert set(pred.model) == {"test-mean"} and len(pred) == len(synthetic_ratings())
    for fold, rows in pred.groupby("fold"):
        r = [x for x in board.results if x.model == "test-mean" and x.fold == fold][0]
        assert M.rmse(rows.rating, rows.prediction) == pytest.approx(r.metrics["RMSE"], rel=1e-5)

    recs = pd.read_csv(tmp_path / "recs.csv")
    assert list(recs.columns) == ["model", "userId", "rank", "movieId", "score", "fold"]
    # anyone can recompute the ranking figures from the exported lists
    proto = load_protocol("ml100k-5fold", folder)
    for fold in proto.folds:
        rows = recs[(recs.model == "test-rank") & (recs.fold == fold.name)]
        wide = rows.pivot(index="userId", columns="rank", values="movieId")
        hits, nrel = M.hit_matrix(
            wide.to_numpy(), wide.index.to_numpy(), fold.test.userId, fold.test.movieId
        )
        r = [x for x in board.results if x.model == "test-rank" and x.fold == fold.name][0]
        assert M.ndcg_at_k(hits, nrel, 5) == pytest.approx(r.metrics["NDCG@5"])
        assert r.n_users == fold.test.userId.nunique()


def test_single_fold_exports_have_no_fold_column(
    test_models: None, folder: Path, tmp_path: Path
) -> None:
    evaluate(
        "stratified-75-25",
        ["test-mean"],
        data_dir=folder,
        report_dir=tmp_path / "r",
        predictions_out=tmp_path / "p.csv",
        recommendations_out=tmp_path / "q.csv",
    )
    assert pd.read_csv(tmp_path / "p.csv").columns[-1] == "prediction"
    q = pd.read_csv(tmp_path / "q.csv")
    assert list(q.columns) == ["model", "userId", "rank", "movieId", "score"]
    assert q.groupby("userId")["rank"].max().max() == 10


def test_bad_input_leaves_nothing(test_models: None, folder: Path, tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    with pytest.raises(ConfigError, match="unknown model 'nope'; choose one of: .*svd"):
        evaluate("ml100k-u1", "test-mean,nope", data_dir=folder, layout=layout)
    with pytest.raises(ConfigError, match="k must be >= 1"):
        evaluate(
            "ml100k-u1",
            "test-mean",
            data_dir=folder,
            layout=layout,
            params={"test-mean": {"k": -1}},
        )
    with pytest.raises(ConfigError, match="no parameter factors"):
        evaluate(
            "ml100k-u1",
            "test-mean",
            data_dir=folder,
            layout=layout,
            params={"test-mean": {"factors": 3}},
        )
    with pytest.raises(ConfigError, match="no model given"):
        evaluate("ml100k-u1", " , ", data_dir=folder, layout=layout)
    with pytest.raises(ConfigError, match="unknown protocol"):
        evaluate("u1", "test-mean", data_dir=folder, layout=layout)
    with pytest.raises(DataError, match="no ml-100k data"):
        evaluate("ml100k-u1", "test-mean", layout=layout)
    assert not (tmp_path / "reports").exists()


def test_failure_keeps_previous_report(test_models: None, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    evaluate("ml100k-u2", "test-rank", data_dir=folder, report_dir=out)
    before = (out / "leaderboard.json").read_text()
    with pytest.raises(RuntimeError, match="boom"):
        evaluate(
            "ml100k-u2",
            "test-rank,test-broken",
            data_dir=folder,
            report_dir=out,
            predictions_out=tmp_path / "p.csv",
        )
    assert (out / "leaderboard.json").read_text() == before
    assert not (tmp_path / "p.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_tune_on_validation_carved_from_training(
    test_models: None, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        tuning.SEARCH_SPACES,
        "test-mean",
        {"shift": ("float", -1.5, 1.5, False), "missing": ("int", 1, 3)},
    )
    seen: list[set[tuple[int, int]]] = []
    real = tuning.validation_fold

    def spy(fold, *args, **kwargs):  # type: ignore[no-untyped-def]
        val, how = real(fold, *args, **kwargs)
        train_pairs = set(
            zip(fold.train.to_frame().userId, fold.train.to_frame().movieId, strict=True)
        )
        seen.append(set(zip(val.test.userId, val.test.movieId, strict=True)) - train_pairs)
        return val, how

    monkeypatch.setattr(tuning, "validation_fold", spy)
    board = evaluate(
        "ml100k-u1",
        "test-mean,test-rank",
        data_dir=folder,
        report_dir=tmp_path / "r",
        tune=True,
        n_trials=6,
        params={"test-mean": {"k": 3}},
    )
    assert seen == [set(), set()]  # validation rows all come from the training part
    rec = board.tuning["test-mean"]
    assert rec["tuned"] and rec["objective"] == "RMSE" and rec["n_trials"] == 6
    assert "training part of fold u1" in rec["validation"]
    assert board.params["test-mean"]["k"] == 3  # user override held fixed
    assert -1.5 <= board.params["test-mean"]["shift"] <= 1.5
    assert abs(board.params["test-mean"]["shift"]) < 1.0  # the unbiased region wins
    assert board.tuning["test-rank"]["tuned"] is False or board.tuning["test-rank"]["n_trials"] == 0
    md = (tmp_path / "r" / "leaderboard.md").read_text()
    assert "tuned (optuna TPE (seeded), 6 trials, objective RMSE" in md
    again = evaluate(
        "ml100k-u1",
        "test-mean",
        data_dir=folder,
        write=False,
        tune=True,
        n_trials=6,
        params={"test-mean": {"k": 3}},
    )
    assert again.params["test-mean"] == board.params["test-mean"]  # seeded
    one = evaluate(
        "ml100k-u1",
        "test-mean",
        data_dir=folder,
        write=False,
        tune=True,
        n_trials=1,
        params={"test-mean": {"shift": 0.7}},
    )
    assert one.params["test-mean"]["shift"] == 0.7  # overrides are never searched
    first = evaluate("ml100k-u1", "test-mean", data_dir=folder, write=False, tune=True, n_trials=1)
    assert first.params["test-mean"]["shift"] == 0.0  # trial 0 = the shipped defaults
    monkeypatch.setitem(tuning.SEARCH_SPACES, "test-mean", {"shift": ("float", 0.5, 1.5, False)})
    outside = evaluate(
        "ml100k-u1", "test-mean", data_dir=folder, write=False, tune=True, n_trials=1
    )
    assert outside.params["test-mean"]["shift"] == 0.0  # defaults outside the space still tried


def test_split_model_params() -> None:
    assert split_model_params({"svd.factors": 5, "svd.lr": 0.1, "ease.reg": 3}) == {
        "svd": {"factors": 5, "lr": 0.1},
        "ease": {"reg": 3},
    }
    with pytest.raises(ConfigError, match="MODEL.NAME"):
        split_model_params({"factors": 5})
    assert parse_models(" svd, ease ,svd") == ["svd", "ease"]
    assert parse_models("all") == registry.available_models()


def test_cli_evaluate(
    test_models: None, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from movierec.cli import main

    args = [
        "evaluate",
        "--protocol",
        "ml100k-u1",
        "--models",
        "test-mean,test-rank",
        "--k",
        "5",
        "--home",
        str(tmp_path),
        "--data-dir",
        str(folder),
        "-p",
        "test-mean.shift=0.25",
        "--recommendations-out",
        str(tmp_path / "r.csv"),
    ]
    main(args)
    text = capsys.readouterr().out
    assert "test-mean" in text and "NDCG@5" in text
    board = json.loads((tmp_path / "reports" / "ml100k-u1" / "leaderboard.json").read_text())
    assert board["params"]["test-mean"]["shift"] == 0.25
    assert (tmp_path / "r.csv").is_file()
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--models", "nope", "--home", str(tmp_path), "--data-dir", str(folder)])
    assert exc.value.code == 2
    assert "error: unknown model 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "evaluate",
                "--protocol",
                "ml100k-u1",
                "--models",
                "test-mean",
                "--home",
                str(tmp_path / "empty"),
            ]
        )
    assert exc.value.code == 3


@pytest.mark.realdata
def test_real_stratified_figures_match_microsoft(ml100k_dir: Path) -> None:
    """Popularity on the real stratified-75-25 split scores what Microsoft Recommenders'
    own code gives on the same lists: ``benchmarks/recommenders_parity.py`` ran
    recommenders 1.2.1 (python_stratified_split, precision_at_k, recall_at_k, ndcg_at_k,
    map) on the lists ``movierec evaluate --recommendations-out`` wrote, and recorded its
    figures in ``benchmarks/results/recommenders_parity.json``."""
    parity = json.loads((REPO / "benchmarks/results/recommenders_parity.json").read_text())
    assert parity["same_test_rows"] and parity["n_test"] == 24_934
    board = evaluate("stratified-75-25", "popularity", data_dir=ml100k_dir, write=False)
    r = board.results[0]
    assert r.n_users == 943 and r.n_test == 24_934 and r.n_cold == 0
    for name, row in parity["metrics"].items():
        assert r.metrics[name] == pytest.approx(row["recommenders"], rel=1e-9), name


def test_parallel_folds_give_the_serial_figures(folder: Path) -> None:
    """``jobs=2`` runs the folds in two spawned processes; same metrics, same order."""
    models = "baseline,popularity"
    serial = evaluate("ml100k-5fold", models, data_dir=folder, write=False, jobs=1)
    parallel = evaluate("ml100k-5fold", models, data_dir=folder, write=False, jobs=2)
    key = [(r.model, r.fold) for r in serial.results]
    assert key == [(r.model, r.fold) for r in parallel.results] and len(key) == 10
    for a, b in zip(serial.results, parallel.results, strict=True):
        assert a.metrics.keys() == b.metrics.keys()
        for name, value in a.metrics.items():
            assert b.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_tuning_is_nested_in_every_fold_and_seed(
    test_models: None, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run of a multi-fold (and multi-seed) protocol tunes on a carve of its own
    training part: the validation rows are training rows of that run, never its test rows,
    and every run keeps its own chosen values."""
    monkeypatch.setitem(tuning.SEARCH_SPACES, "test-mean", {"shift": ("float", -1.0, 1.0, False)})
    calls: list[tuple[str, bool]] = []
    real = tuning.validation_fold

    def spy(fold, *args, **kwargs):  # type: ignore[no-untyped-def]
        val, how = real(fold, *args, **kwargs)
        train = set(zip(fold.train.to_frame().userId, fold.train.to_frame().movieId, strict=True))
        rows = set(zip(val.test.userId, val.test.movieId, strict=True))
        test = set(zip(fold.test.userId, fold.test.movieId, strict=True))
        calls.append((fold.name, rows <= train and not rows & test))
        return val, how

    monkeypatch.setattr(tuning, "validation_fold", spy)
    board = evaluate(
        "random-kfold",
        "test-mean",
        data_dir=folder,
        write=False,
        tune=True,
        n_trials=3,
        seeds=[1, 2],
        split_options={"n_folds": 3},
    )
    names = [f"fold{f}@seed{s}" for s in (1, 2) for f in (1, 2, 3)]
    assert [name for name, _ in calls] == names and all(ok for _, ok in calls)
    rec = board.tuning["test-mean"]
    assert rec["nested"] and [p["fold"] for p in rec["per_fold"]] == names
    assert len({p["best_value"] for p in rec["per_fold"]}) > 1  # each run its own search
    assert board.folds == names and {r.seed for r in board.results} == {1, 2}


def test_tune_nests_the_blend_parts_in_every_run(
    test_models: None, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``--tune`` a blend's part that is a model at its defaults takes the values tuned
    for that model on the same run — the values the model's own row gets when it is
    evaluated too, and tuned all the same when it is not; a part with hyperparameters of its
    own keeps them."""
    monkeypatch.setitem(tuning.SEARCH_SPACES, "test-mean", {"shift": ("float", -1.0, 1.0, False)})
    bases = {"test-mean": {}, "fixed": {"model": "baseline", "reg_u": 3.0}}
    common = {
        "data_dir": folder,
        "write": False,
        "tune": True,
        "n_trials": 4,
        "seeds": [1],
        "split_options": {"n_folds": 2},
        "params": {"blend": {"bases": bases, "signals": {}}},
    }
    both = evaluate("random-kfold", "test-mean,blend", **common)  # type: ignore[arg-type]
    alone = evaluate("random-kfold", "blend", **common)  # type: ignore[arg-type]
    own = [p["params"] for p in both.tuning["test-mean"]["per_fold"]]
    assert len({p["shift"] for p in own}) == 2  # each run its own value
    for board in (both, alone):
        rec = board.tuning["blend"]
        assert set(rec["parts"]) == {"test-mean"} and rec["parts"]["test-mean"]["best_value"]
        assert rec["tuned"]  # through its parts
        runs = [p["params"]["bases"] for p in rec["per_fold"]]
        assert [r["test-mean"] for r in runs] == [{"model": "test-mean", **p} for p in own]
        assert all(r["fixed"] == {"model": "baseline", "reg_u": 3.0} for r in runs)


def test_tuning_in_parallel_processes_chooses_what_a_serial_run_does(folder: Path) -> None:
    """``jobs=2`` tunes the runs in two spawned processes: the same seeded choices."""
    kw = {"data_dir": folder, "write": False, "tune": True, "n_trials": 3}
    serial = evaluate("ml100k-5fold", "baseline", jobs=1, **kw)  # type: ignore[arg-type]
    parallel = evaluate("ml100k-5fold", "baseline", jobs=2, **kw)  # type: ignore[arg-type]
    assert serial.tuning["baseline"]["per_fold"] == parallel.tuning["baseline"]["per_fold"]
    assert len({str(p["params"]) for p in serial.tuning["baseline"]["per_fold"]}) > 1


@pytest.mark.parametrize("name", sorted(tuning.SEARCH_SPACES))
def test_every_search_space_holds_its_models_shipped_defaults(name: str) -> None:
    """Each declared space names parameters the model accepts, and the shipped defaults lie
    inside it, so ``--tune`` enqueues them as trial 0 and never does worse on validation."""
    from movierec.models.registry import make_model

    space = tuning.SEARCH_SPACES[name]
    assert tuning.search_space(name) == space  # no parameter the class does not accept
    defaults = make_model(name).get_params()
    outside = [
        p
        for p, spec in space.items()
        if not tuning._in_space(defaults[p], spec)
        or (spec[0] != "cat" and not spec[1] <= defaults[p] <= spec[2])
    ]
    assert outside == []


def test_python_api_evaluate_takes_the_cli_options(folder: Path, tmp_path: Path) -> None:
    """``mr.evaluate`` reaches the same core with seeds, tuning, parameters and filters:
    its leaderboard equals ``runner.evaluate``'s for the same request."""
    import movierec as mr

    options = {"seeds": [1, 2], "tune": True, "trials": 2, "min_item_ratings": 3}
    got = mr.evaluate(
        "random-kfold", "baseline,popularity", source=folder, home=tmp_path, **options
    )  # type: ignore[arg-type]
    board = evaluate(
        "random-kfold", "baseline,popularity", data_dir=folder, write=False, seeds=[1, 2],
        tune=True, n_trials=2, min_item_ratings=3,
    )  # fmt: skip
    want = board.sorted_summary()
    assert list(got["model"]) == list(want["model"]) == ["baseline", "popularity"]
    for col in ("NDCG@10_mean", "NDCG@10_std", "RMSE_mean"):
        np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), equal_nan=True)
    assert set(got["n_seeds"]) == {2}
