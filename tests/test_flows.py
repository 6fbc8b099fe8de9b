"""The Prefect flow end to end on the real ml-100k, under ``prefect_test_harness``, and the
real ``movierec pipeline`` command's terminal output on bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from movierec.pipeline_config import PipelineConfig

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _cfg(home: Path, **options: object) -> PipelineConfig:
    return PipelineConfig.from_settings(home=home, **options)


def test_flow_runs_caches_and_publishes(
    prefect_harness: None, shared_data: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    from movierec.flows import run_pipeline

    cfg = _cfg(tmp_path, source=str(shared_data / "ml-100k.zip"), n=7)
    first = run_pipeline(cfg)
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
    second = run_pipeline(cfg)
    assert second.cached_steps == ["convert", "transform", "train"]
    assert [r.movie_id for r in second.recommendations] == [
        r.movie_id for r in first.recommendations
    ]

    # a missing output forces the cached step to run again
    (tmp_path / "data" / "processed" / "ratings_clean.csv").unlink()
    third = run_pipeline(cfg)
    assert third.cached_steps == ["convert", "train"]  # same clean data, same model
    assert (tmp_path / "data" / "processed" / "ratings_clean.csv").is_file()

    # different thresholds are a different cache key
    fourth = run_pipeline(cfg.model_copy(update={"min_item_ratings": 50}))
    assert "transform" not in fourth.cached_steps
    assert "train" not in fourth.cached_steps  # other data: the model is retrained
    # back to the first thresholds: the cache entry of the first run is stale (the file now
    # holds the min_item_ratings=50 result), so transform must run again, not be skipped
    fifth = run_pipeline(cfg)
    assert "transform" not in fifth.cached_steps
    assert "train" not in fifth.cached_steps
    # other hyperparameters: retrained, and the saved model says so
    sixth = run_pipeline(cfg.model_copy(update={"model_params": {"k": 7}}))
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


@pytest.mark.postgres
def test_flow_run_record_masks_the_database_password(
    prefect_harness: None, shared_data: Path, tmp_path: Path
) -> None:
    """The config is the flow's parameter; Prefect stores it with the URL masked."""
    from prefect.client.orchestration import get_client
    from sqlalchemy import create_engine, text

    from movierec.flows import movierec_pipeline, run_pipeline
    from tests.store.toy import PG_URL, pg_schema_url

    with pg_schema_url() as plain:
        # the test server trusts local connections, so any password connects
        url = plain.replace("postgres@", "postgres:hunter2PASSWORD@", 1)
        assert url != plain and PG_URL in plain
        cfg = _cfg(tmp_path, source=str(shared_data / "ml-100k.zip"), db_url=url, store_n=3)
        result = run_pipeline(cfg)
        assert "stored run 1" in result.summary
        engine = create_engine(plain.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:  # the real URL reached the store step
            assert conn.execute(text("SELECT count(*) FROM recommendations")).scalar() == 943 * 3
        engine.dispose()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
    mine = [r for r in runs if r.parameters.get("cfg", {}).get("home") == str(tmp_path)]
    assert len(mine) == 1
    stored = repr(mine[0].parameters)
    assert "hunter2" not in stored and "PASSWORD" not in stored
    assert mine[0].parameters["cfg"]["db_url"] == "**********"
    assert movierec_pipeline.name == "movierec-pipeline"


def test_flow_takes_one_config_with_every_step_option() -> None:
    import inspect

    from movierec.flows import movierec_pipeline

    assert list(inspect.signature(movierec_pipeline.fn).parameters) == ["cfg"]
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
        "db_url",
        "store_n",
        "engine",
    ):
        assert option in PipelineConfig.model_fields


def test_flow_download_failure_raises_the_step_error(prefect_harness: None, tmp_path: Path) -> None:
    """The step's own error comes out of the flow (the terminal is checked below, through
    the real command)."""
    from movierec.errors import DownloadError
    from movierec.flows import run_pipeline

    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DownloadError, match="not a valid zip"):
        run_pipeline(_cfg(tmp_path / "w", source=str(bad), download_retries=0))
    assert not (tmp_path / "w" / "data" / "raw" / "ml-100k").exists()


def test_cron_serve_is_validated_and_delegated(monkeypatch: pytest.MonkeyPatch) -> None:
    from movierec import flows
    from movierec.errors import ConfigError

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(
        flows.movierec_pipeline, "serve", lambda **kw: calls.append(kw), raising=False
    )
    cfg = _cfg(Path("/x"))
    flows.serve_pipeline(cfg, "0 3 * * *")
    assert calls and calls[0]["cron"] == "0 3 * * *"
    # stored as JSON without the database URL, and valid for the flow (a deployment run
    # validates them: the config comes back whole)
    stored = calls[0]["parameters"]
    assert stored == flows.deployment_parameters(cfg) and stored["cfg"]["db_url"] is None
    assert flows.movierec_pipeline.validate_parameters(stored)["cfg"] == cfg
    with pytest.raises(ConfigError, match="cron"):
        flows.serve_pipeline(cfg, "not a cron")


def test_module_entry_point_runs_the_pipeline_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "movierec", "pipeline", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--cron" in done.stdout and "--min-item-ratings" in done.stdout


# ---------------------------------------------------------------------- the real command
def _pipeline(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "movierec", "pipeline", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one ``error:`` line and no traceback anywhere."""
    text = done.stdout + done.stderr
    assert done.returncode != 0, text
    assert "Traceback" not in text, text
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text
    return errors[0]


def test_pipeline_truncated_zip_prints_one_line(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "ml-100k.zip").read_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(data[: len(data) // 2])
    done = _pipeline(tmp_path / "home", "--source", str(broken))
    line = _one_error_line(done)
    assert "zip" in line
    assert done.returncode == 4  # DownloadError


def test_pipeline_missing_source_prints_one_line(tmp_path: Path) -> None:
    done = _pipeline(tmp_path / "home", "--source", str(tmp_path / "nowhere.zip"))
    line = _one_error_line(done)
    assert "nowhere.zip" in line


def test_pipeline_without_network_prints_one_line(tmp_path: Path) -> None:
    # an unroutable local port: connection refused at once, as when offline
    done = _pipeline(tmp_path / "home", "--source", "http://127.0.0.1:9/ml-100k.zip")
    line = _one_error_line(done)
    assert "--source" in line  # the hint to use a local copy


def test_pipeline_ctrl_c_stops_with_one_line(shared_data: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "movierec", "pipeline", "--home", str(tmp_path),
         "--source", str(shared_data / "ml-100k.zip")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    time.sleep(4.0)  # inside the flow (Prefect's temporary server is starting or running)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=60)
    stopped_in = time.monotonic() - t0
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        "error: interrupted; the previous artifacts were kept"
    ]
    assert stopped_in < 5.0


def test_pipeline_disk_full_prints_one_line(shared_data: Path, tmp_path: Path) -> None:
    """The real command with its --home on a full disk (a 3 MB tmpfs, mounted in a private
    user+mount namespace so no privilege is needed): one line, exit 28, no traceback."""
    import shutil

    if (
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "-r", "-m", "true"], capture_output=True).returncode
    ):
        pytest.skip("no unprivileged user namespaces (unshare -r -m) to mount a small tmpfs")
    home = tmp_path / "full"
    home.mkdir()
    script = (
        'mount -t tmpfs -o size=3m tmpfs "$1" && '
        'exec "$2" -m movierec pipeline --home "$1" --source "$3"'
    )
    done = subprocess.run(
        ["unshare", "-r", "-m", "sh", "-c", script, "sh", str(home), sys.executable,
         str(shared_data / "ml-100k.zip")],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    line = _one_error_line(done)
    assert done.returncode == 28, done.stderr
    assert line.startswith("error: disk full while writing ") and line.endswith(
        "the previous version was kept"
    )
    assert len(done.stderr.splitlines()) <= 8, done.stderr  # Prefect's INFO lines at most
    assert not any((tmp_path / "full").iterdir())  # the tmpfs is gone with the namespace


def test_pipeline_with_a_dead_prefect_api_prints_one_line(tmp_path: Path) -> None:
    """A configured Prefect API that does not answer is one line, not Prefect's traceback."""
    done = _pipeline(
        tmp_path / "home",
        "--source",
        str(tmp_path / "unused.zip"),
        env={"PREFECT_API_URL": "http://127.0.0.1:9/api"},
    )
    line = _one_error_line(done)
    assert "PREFECT_API_URL" in line and "does not answer" in line
    assert done.returncode == 2


def test_pipeline_when_the_temporary_server_is_late_prints_one_line(
    shared_data: Path, tmp_path: Path
) -> None:
    """Prefect's temporary server that does not start in time (a busy machine; here a
    0-second allowance) is one line naming the setting, not Prefect's traceback."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"))
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "0"
    done = subprocess.run(
        [sys.executable, "-m", "movierec", "pipeline", "--home", str(tmp_path / "home")]
        + ["--source", str(shared_data / "ml-100k.zip")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    line = _one_error_line(done)
    assert "temporary server did not start" in line
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in line
    assert done.returncode == 2
