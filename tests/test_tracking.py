"""Tracked experiments (MLflow, local SQLite store under the home): train, evaluate and
retrain are recorded with parameters, metrics, data fingerprint, code version and
artifacts; ``runs compare`` prints the deltas; tracking never breaks a command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from movierec.cli import main
from movierec.codeversion import code_version
from movierec.models import read_metadata
from tests.clirun import run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture
def tracked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path) -> Path:
    monkeypatch.setenv("MOVIEREC_TRACKING", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("MOVIEREC_HOME", str(home))
    main(["download", "--source", str(shared_data / "ml-100k.zip")])
    main(["convert"])
    return home


def client(home: Path):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("movierec")
    return c, exp.experiment_id


def test_train_evaluate_retrain_are_tracked_and_compared(
    tracked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tracked
    assert run(["transform"], capsys)[0] == 0
    code, _, err = run(["train", "--model", "popularity"], capsys)
    assert (code, err) == (0, "")
    code, _, err = run(["evaluate", "--protocol", "ml100k-u1", "--models", "popularity"], capsys)
    assert (code, err) == (0, "")
    u1 = json.loads((home / "reports" / "ml100k-u1" / "leaderboard.json").read_text())
    code, _, err = run(["evaluate", "--protocol", "ml100k-u2", "--models", "popularity"], capsys)
    assert (code, err) == (0, "")
    u2 = json.loads((home / "reports" / "ml100k-u2" / "leaderboard.json").read_text())
    assert run(["import"], capsys)[0] == 0
    from movierec.pipeline_config import PipelineConfig
    from movierec.retrain import retrain

    retrain(PipelineConfig.from_settings(model="popularity", store_n=0))

    c, exp = client(home)
    runs = {r.data.tags["kind"]: r for r in c.search_runs([exp])}
    assert sorted(r.data.tags["kind"] for r in c.search_runs([exp])) == [
        "evaluate",
        "evaluate",
        "retrain",
        "train",
    ]
    train = runs["train"]
    meta = read_metadata(home / "models" / "recommender.npz")
    assert train.data.params["model"] == "popularity"
    assert train.data.tags["data_fingerprint"] == meta["data_fingerprint"]
    assert train.data.tags["code_version"] == code_version()
    assert train.data.metrics["n_ratings"] == 94_968
    assert [a.path for a in c.list_artifacts(train.info.run_id, "model")] == [
        "model/recommender.npz"
    ]
    retrained = runs["retrain"]
    assert retrained.data.metrics["promoted"] == 1.0 and retrained.data.tags["model_version"] == "1"
    assert "candidate.NDCG_at_10" in retrained.data.metrics

    evals = sorted(
        (r for r in c.search_runs([exp]) if r.data.tags["kind"] == "evaluate"),
        key=lambda r: r.data.params["protocol"],
    )
    reports = {a.path for a in c.list_artifacts(evals[0].info.run_id, "report")}
    assert {"report/leaderboard.md", "report/leaderboard.json", "report/metrics.png"} <= reports
    ndcg = [board["summary"][0]["NDCG@10_mean"] for board in (u1, u2)]
    assert evals[0].data.metrics["popularity.NDCG_at_10"] == pytest.approx(ndcg[0])

    a, b = evals[0].info.run_id, evals[1].info.run_id
    code, out, err = run(["runs", "compare", a[:8], b, "--json"], capsys)
    assert code == 0, err
    rows = {m["metric"]: m for m in json.loads(out)["metrics"]}
    assert rows["popularity.NDCG_at_10"]["delta"] == pytest.approx(ndcg[1] - ndcg[0])
    code, out, _ = run(["runs", "compare", a, b], capsys)
    assert code == 0 and "popularity.NDCG_at_10" in out and "B - A" in out
    code, out, _ = run(["runs", "list"], capsys)
    assert code == 0 and a in out and "retrain" in out
    code, _, err = run(["runs", "compare", "zzzzzzzz", b], capsys)
    assert code == 2 and err == "error: no tracked run(s) match 'zzzzzzzz'\n"
    code, _, err = run(["runs", "compare", "ab", b], capsys)
    assert code == 2 and err.startswith("error: run id 'ab': give at least 6 characters")


def test_a_tracking_failure_is_a_warning(
    tracked: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "bogus-scheme://nowhere")
    assert run(["transform"], capsys)[0] == 0
    code, out, err = run(["train", "--model", "popularity"], capsys)
    assert code == 0 and "trained popularity" in out
    assert len(err.splitlines()) == 1 and err.startswith("warning: not tracked: ")
    assert (tracked / "models" / "recommender.npz").is_file()


def test_tracking_off_records_nothing(
    tracked: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOVIEREC_TRACKING", "0")
    assert run(["transform"], capsys)[0] == 0
    assert run(["train", "--model", "popularity"], capsys)[:3:2] == (0, "")
    assert not (tracked / "mlflow").exists()
    code, _, err = run(["runs", "list"], capsys)
    assert code == 2 and err.startswith("error: no tracked runs yet under")


def test_a_large_model_file_is_named_not_copied(
    tracked: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model above the artifact limit (0.5 GB at 25M ratings) is not copied into the
    tracking store on every train: the run names the file and its size in a tag."""
    from movierec import tracking

    assert run(["transform"], capsys)[0] == 0
    monkeypatch.setattr(tracking, "MAX_ARTIFACT_BYTES", 1_000)
    code, _, err = run(["train", "--model", "popularity"], capsys)
    assert (code, err) == (0, "")
    c, exp = client(tracked)
    (train,) = c.search_runs([exp])
    assert c.list_artifacts(train.info.run_id, "model") == []
    tag = train.data.tags["artifact_not_copied.model"]
    assert re.fullmatch(r"/.*/models/recommender\.npz \(\d+ MB\)", tag), tag
