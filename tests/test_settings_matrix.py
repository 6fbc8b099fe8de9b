"""Every ``MOVIEREC_*`` setting reaches every command that uses it.

Each check sets the environment variable only (no command-line option) and observes its
effect through the real command on real data: counts computed independently with pandas,
the model file's metadata, the database the rows land in, the requests a local HTTP
server receives. A command that ignored a setting fails here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from movierec.config import Settings
from movierec.models import read_metadata
from tests.clirun import run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

USES = {
    "home": ["download", "convert", "ingest", "transform", "train", "store", "recommend",
             "pipeline", "db runs", "import", "retrain", "models versions"],
    "dataset": ["download", "convert", "ingest", "transform", "pipeline"],
    "source": ["download", "pipeline"],
    "db_url": ["store", "pipeline", "db runs", "db export", "db prune", "import", "retrain",
               "models versions"],
    "min_user_ratings": ["transform", "pipeline", "retrain"],
    "min_item_ratings": ["transform", "pipeline", "retrain"],
    "model": ["train", "pipeline", "retrain"],
    "download_timeout": ["download", "pipeline"],
    "download_retries": ["download", "pipeline"],
    "promote_margin": ["retrain"],
    "tracking": ["train", "evaluate", "retrain"],
    "threads": ["train", "store", "pipeline"],
    "swap_poll": ["serve"],  # tests/api/test_swap.py
    "admin_token": ["serve"],  # tests/api/test_writes.py, test_durability.py
}  # fmt: skip
"""Which commands use which setting (each pair is checked below)."""


def test_every_setting_is_in_the_matrix() -> None:
    assert set(USES) == set(Settings.model_fields)


def expected_counts(ratings: pd.DataFrame, min_user: int, min_item: int) -> tuple[int, int, int]:
    """The transform's filters, written independently: users first, then movies, one pass."""
    users = ratings.groupby("userId")["movieId"].transform("size") >= min_user
    kept = ratings[users]
    movies = kept.groupby("movieId")["userId"].transform("size") >= min_item
    kept = kept[movies]
    return len(kept), kept["userId"].nunique(), kept["movieId"].nunique()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"MOVIEREC_{name.upper()}", raising=False)
    monkeypatch.setenv("MOVIEREC_TRACKING", "0")  # MLflow costs seconds; its check sets it
    return monkeypatch


def test_data_and_model_commands_read_their_settings(
    env: pytest.MonkeyPatch,
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    db = tmp_path / "elsewhere.db"
    env.setenv("MOVIEREC_HOME", str(home))
    env.setenv("MOVIEREC_SOURCE", str(shared_data / "ml-100k.zip"))
    env.setenv("MOVIEREC_MIN_USER_RATINGS", "60")
    env.setenv("MOVIEREC_MIN_ITEM_RATINGS", "45")
    env.setenv("MOVIEREC_MODEL", "popularity")
    env.setenv("MOVIEREC_DB_URL", f"sqlite:///{db}")
    env.setenv("MOVIEREC_THREADS", "1")

    assert run(["download"], capsys)[0] == 0  # source + home
    assert (home / "data/raw/ml-100k/u.data").is_file()
    assert run(["convert"], capsys)[0] == 0
    assert (home / "data/raw/ratings.csv").is_file()
    code, out, _ = run(["ingest"], capsys)
    assert code == 0 and "100,000 ratings" in out
    code, out, _ = run(["transform"], capsys)
    assert code == 0
    raw = pd.read_csv(
        shared_data / "ml-100k/u.data", sep="\t", names=["userId", "movieId", "r", "t"]
    )
    n, users, movies = expected_counts(raw, 60, 45)
    clean = pd.read_csv(home / "data/processed/ratings_clean.csv")
    assert (len(clean), clean["userId"].nunique(), clean["movieId"].nunique()) == (n, users, movies)
    assert f"{n:,}" in out
    code, out, _ = run(["train"], capsys)
    assert code == 0 and " on 1 thread " in out  # MOVIEREC_THREADS=1 (the machine has more)
    assert read_metadata(home / "models/recommender.npz")["model"] == "popularity"
    code, out, _ = run(["store", "-n", "2"], capsys)
    assert code == 0 and db.is_file() and not (home / "db").exists()
    assert " on 1 thread" in out
    code, out, _ = run(["db", "runs"], capsys)
    assert code == 0 and "popularity" in out
    code, out, _ = run(["db", "export", "--run", "1", "--out", str(tmp_path / "run1.csv")], capsys)
    assert code == 0 and len(pd.read_csv(tmp_path / "run1.csv")) == users * 2
    code, out, err = run(["recommend", "--user", str(clean["userId"].iloc[0]), "--json"], capsys)
    assert code == 0 and len(json.loads(out)["recommendations"]) == 5
    with sqlite3.connect(db) as conn:  # a failed run for 'db prune' to find in that store
        conn.execute("UPDATE runs SET status = 'failed', is_current = 0 WHERE id = 1")
    code, out, _ = run(["db", "prune"], capsys)
    assert code == 0 and out.strip() == (
        f"removed 1 failed run(s) (1) and {users * 2} recommendation row(s)"
    )


def test_pipeline_reads_every_setting(
    env: pytest.MonkeyPatch,
    prefect_harness: None,
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    db = tmp_path / "elsewhere.db"
    env.setenv("MOVIEREC_HOME", str(home))
    env.setenv("MOVIEREC_SOURCE", str(shared_data / "ml-100k.zip"))
    env.setenv("MOVIEREC_MIN_USER_RATINGS", "60")
    env.setenv("MOVIEREC_MIN_ITEM_RATINGS", "45")
    env.setenv("MOVIEREC_MODEL", "popularity")
    env.setenv("MOVIEREC_DB_URL", f"sqlite:///{db}")
    env.setenv("MOVIEREC_THREADS", "1")
    raw = pd.read_csv(
        shared_data / "ml-100k/u.data", sep="\t", names=["userId", "movieId", "r", "t"]
    )
    n, users, _ = expected_counts(raw, 60, 45)
    busiest = int(raw["userId"].value_counts().idxmax())  # kept by any threshold used here
    code, out, err = run(["pipeline", "--user", str(busiest), "--json"], capsys)
    assert code == 0, err
    assert f"{n:,}" in out
    assert read_metadata(home / "models/recommender.npz")["model"] == "popularity"
    assert db.is_file() and not (home / "db").exists()
    assert f"({users * 10:,} rows)" in out
    assert out.count(" on 1 thread") == 2  # train and store


def test_dataset_setting_reaches_data_commands_and_pipeline(
    env: pytest.MonkeyPatch,
    prefect_harness: None,
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    small = shared_data / "ml-latest-small"
    home = tmp_path / "home"
    env.setenv("MOVIEREC_DATASET", "ml-latest-small")
    args = ["--home", str(home)]
    assert run(["download", "--source", str(small), *args], capsys)[0] == 0
    assert (home / "data/raw/ml-latest-small/ratings.csv").is_file()
    assert run(["convert", *args], capsys)[0] == 0
    code, out, _ = run(["ingest", *args], capsys)
    assert code == 0 and "100,836 ratings" in out and "0.5-5" in out
    ratings = pd.read_csv(small / "ratings.csv")
    n, users, movies = expected_counts(ratings, 5, 20)
    code, out, _ = run(["transform", *args], capsys)
    assert code == 0 and f"{n:,}" in out
    code, out, _ = run(["pipeline", "--source", str(small), "--model", "popularity", *args], capsys)
    assert code == 0 and f"{n:,}" in out and f"{movies:,}" in out


class _SlowServer:
    """A loopback HTTP server that answers every GET with 503 after ``delay`` seconds and
    counts the requests."""

    def __init__(self, delay: float) -> None:
        outer = self
        self.count = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.count += 1
                time.sleep(delay)
                try:
                    self.send_response(503)
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ml-100k.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _SlowServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slow_server() -> Iterator[_SlowServer]:
    with _SlowServer(delay=2.0) as server:
        yield server


@pytest.mark.parametrize("command", ["download", "pipeline"])
def test_download_timeout_and_retries_reach_the_command(
    command: str,
    env: pytest.MonkeyPatch,
    prefect_harness: None,
    slow_server: _SlowServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.setenv("MOVIEREC_DOWNLOAD_TIMEOUT", "0.4")
    env.setenv("MOVIEREC_DOWNLOAD_RETRIES", "1")
    t0 = time.monotonic()
    code, _, err = run([command, "--home", str(tmp_path), "--source", slow_server.url], capsys)
    took = time.monotonic() - t0
    assert code != 0
    assert slow_server.count == 2, err  # one try + MOVIEREC_DOWNLOAD_RETRIES=1
    # each try gave up after MOVIEREC_DOWNLOAD_TIMEOUT=0.4 s, not the server's 2 s (the
    # retry waits its backoff: 1 s for download, 2 s for the flow's task retry)
    assert took < 4.5, took
    assert "timed out" in err.lower() or "timeout" in err.lower(), err


def tracked_kinds(home: Path) -> list[str]:
    """The ``kind`` of every run in the home's local MLflow store (``[]``: no store)."""
    if not (home / "mlflow" / "mlflow.db").is_file():
        return []
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("movierec")
    return sorted(r.data.tags["kind"] for r in client.search_runs([exp.experiment_id]))


def test_living_commands_read_their_settings(
    env: pytest.MonkeyPatch,
    prefect_harness: None,
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """import / retrain / models versions: home, db_url, model, the filters, the promotion
    margin and tracking, each from its variable alone."""
    home = tmp_path / "home"
    db = tmp_path / "elsewhere.db"
    env.setenv("MOVIEREC_HOME", str(home))
    env.setenv("MOVIEREC_DB_URL", f"sqlite:///{db}")
    env.setenv("MOVIEREC_MIN_USER_RATINGS", "60")
    env.setenv("MOVIEREC_MIN_ITEM_RATINGS", "45")
    env.setenv("MOVIEREC_MODEL", "ease")
    assert run(["download", "--source", str(shared_data / "ml-100k.zip")], capsys)[0] == 0
    assert run(["convert"], capsys)[0] == 0
    code, out, _ = run(["import"], capsys)
    assert code == 0 and "imported 100,000 of 100,000" in out
    assert db.is_file() and not (home / "db").exists()

    env.setenv("MOVIEREC_TRACKING", "1")
    code, out, err = run(["retrain"], capsys)
    assert code == 0, err
    raw = pd.read_csv(
        shared_data / "ml-100k/u.data", sep="\t", names=["userId", "movieId", "r", "t"]
    )
    n, _, _ = expected_counts(raw, 60, 45)
    assert f"{n:,} after the filters" in out
    assert "model version 1: ease -> models/versions/ease-" in out
    assert len(list((home / "models" / "versions").glob("ease-*.npz"))) == 1
    assert tracked_kinds(home) == ["retrain"]

    # a worse model: refused with the default margin, promoted with a wide one
    env.setenv("MOVIEREC_TRACKING", "0")
    env.setenv("MOVIEREC_MODEL", "popularity")
    code, out, _ = run(["retrain"], capsys)
    assert code == 0 and "kept production:" in out and "margin 0.01" in out
    env.setenv("MOVIEREC_PROMOTE_MARGIN", "0.5")
    code, out, _ = run(["retrain"], capsys)
    assert code == 0 and "promoted:" in out and "(margin 0.5)" in out
    assert tracked_kinds(home) == ["retrain"]  # tracking off: nothing more recorded
    code, out, _ = run(["models", "versions", "--json"], capsys)
    listed = json.loads(out)
    assert [(v["id"], v["model"], v["is_production"]) for v in listed] == [
        (3, "popularity", True),
        (2, "popularity", False),
        (1, "ease", False),
    ]


def test_tracking_setting_reaches_train_and_evaluate(
    env: pytest.MonkeyPatch,
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    env.setenv("MOVIEREC_HOME", str(home))
    assert run(["download", "--source", str(shared_data / "ml-100k.zip")], capsys)[0] == 0
    assert run(["convert"], capsys)[0] == 0
    assert run(["transform"], capsys)[0] == 0
    assert run(["train", "--model", "popularity"], capsys)[0] == 0
    assert run(["evaluate", "--models", "popularity"], capsys)[0] == 0
    assert tracked_kinds(home) == []  # MOVIEREC_TRACKING=0
    env.setenv("MOVIEREC_TRACKING", "1")
    assert run(["train", "--model", "popularity"], capsys)[0] == 0
    assert run(["evaluate", "--models", "popularity"], capsys)[0] == 0
    assert tracked_kinds(home) == ["evaluate", "train"]
