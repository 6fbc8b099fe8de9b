"""The Prefect flow end to end on the real ml-100k, under ``prefect_test_harness``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_flow_runs_caches_and_publishes(
    prefect_harness: None, shared_data: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    from movierec.flows import PipelineParams, run_pipeline

    params = PipelineParams(home=str(tmp_path), source=str(shared_data / "ml-100k.zip"), n=7)
    first = run_pipeline(params)
    assert first.cached_steps == []
    assert "94,968" in first.summary
    assert len(first.recommendations) == 7
    seen = pd.read_csv(tmp_path / "data" / "processed" / "ratings_clean.csv")
    seen_by_1 = set(seen.loc[seen["userId"] == 1, "movieId"])
    assert not seen_by_1 & {r.movie_id for r in first.recommendations}
    assert (tmp_path / "models" / "recommender.npz").is_file()
    from movierec.store import runs_table

    runs = runs_table(f"sqlite:///{tmp_path / 'db' / 'movierec.db'}")
    assert [(r.status, r.is_current, r.n_users, r.n_recommendations) for r in runs] == [
        ("complete", True, 943, 9430)
    ]

    # unchanged rerun: convert and transform are skipped (cached on their input fingerprint)
    second = run_pipeline(params)
    assert second.cached_steps == ["convert", "transform", "train"]
    assert [r.movie_id for r in second.recommendations] == [
        r.movie_id for r in first.recommendations
    ]

    # a missing output forces the cached step to run again
    (tmp_path / "data" / "processed" / "ratings_clean.csv").unlink()
    third = run_pipeline(params)
    assert third.cached_steps == ["convert", "train"]  # same clean data, same model
    assert (tmp_path / "data" / "processed" / "ratings_clean.csv").is_file()

    # different thresholds are a different cache key
    other = PipelineParams(**{**params.__dict__, "min_item_ratings": 50})
    fourth = run_pipeline(other)
    assert "transform" not in fourth.cached_steps
    assert "train" not in fourth.cached_steps  # other data: the model is retrained
    # back to the first thresholds: the cache entry of the first run is stale (the file now
    # holds the min_item_ratings=50 result), so transform must run again, not be skipped
    fifth = run_pipeline(params)
    assert "transform" not in fifth.cached_steps
    assert "train" not in fifth.cached_steps
    # other hyperparameters: retrained, and the saved model says so
    sixth = run_pipeline(PipelineParams(**{**params.__dict__, "model_params": {"k": 7}}))
    assert sixth.cached_steps == ["convert", "transform"]
    from movierec.models import read_metadata

    assert read_metadata(tmp_path / "models" / "recommender.npz")["params"]["k"] == 7
    clean = pd.read_csv(tmp_path / "data" / "processed" / "ratings_clean.csv")
    assert len(clean) == 94_968

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    keys = {a.key for a in artifacts}
    assert "recommendations-user-1" in keys
    table = next(a for a in artifacts if a.key == "recommendations-user-1")
    assert table.type == "table"


def test_flow_exposes_every_step_option() -> None:
    import inspect

    from movierec.flows import PipelineParams, movierec_pipeline

    flow_params = set(inspect.signature(movierec_pipeline.fn).parameters)
    assert set(PipelineParams.__dataclass_fields__) == flow_params
    for option in (
        "source",
        "model",
        "model_params",
        "min_user_ratings",
        "min_item_ratings",
        "download_timeout",
        "download_retries",
        "user",
        "n",
        "dataset",
    ):
        assert option in flow_params


def test_flow_download_failure_is_reported_without_traceback(
    prefect_harness: None, tmp_path: Path
) -> None:
    from movierec.errors import MovieRecError
    from movierec.flows import PipelineParams, run_pipeline

    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(MovieRecError):
        run_pipeline(PipelineParams(home=str(tmp_path / "w"), source=str(bad), download_retries=0))
    assert not (tmp_path / "w" / "data" / "raw" / "ml-100k").exists()


def test_cron_serve_is_validated_and_delegated(monkeypatch: pytest.MonkeyPatch) -> None:
    from movierec import flows
    from movierec.errors import ConfigError

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(
        flows.movierec_pipeline, "serve", lambda **kw: calls.append(kw), raising=False
    )
    flows.serve_pipeline(flows.PipelineParams(home="/x"), "0 3 * * *")
    assert calls and calls[0]["cron"] == "0 3 * * *"
    assert calls[0]["parameters"]["home"] == "/x"  # type: ignore[index]
    with pytest.raises(ConfigError, match="cron"):
        flows.serve_pipeline(flows.PipelineParams(), "not a cron")


def test_module_entry_point_runs_the_pipeline_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "movierec.flows", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--cron" in done.stdout and "--min-item-ratings" in done.stdout
