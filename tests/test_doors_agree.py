"""Every door gives the same answer: the CLI, the HTTP API (stored run and live model) and
the stored run rank and explain one (model, user) alike, on the real ml-100k."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from movierec import steps
from movierec.api.app import create_app
from movierec.pipeline_config import PipelineConfig

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def prepared(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with ml-100k downloaded, converted and transformed (models trained per test)."""
    home = tmp_path_factory.mktemp("doors")
    cfg = PipelineConfig.from_settings(home=home, source=str(shared_data / "ml-100k.zip"))
    steps.download(cfg)
    steps.convert(cfg)
    steps.transform(cfg)
    return home


@pytest.mark.parametrize("model", ["user-knn", "rp3beta", "svd", "ease"])
def test_cli_api_and_store_give_one_reason(
    prepared: Path, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOVIEREC_DB_URL", raising=False)
    db = prepared / f"{model}.db"
    cfg = PipelineConfig.from_settings(
        home=prepared, model=model, db_url=f"sqlite:///{db}", store_n=10
    )
    steps.train(cfg)
    run = steps.store(cfg)
    user = 1

    cli = subprocess.run(
        [sys.executable, "-m", "movierec", "recommend", "--user", str(user), "-n", "10",
         "--json", "--home", str(prepared)],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    from_cli = {r["movieId"]: r["explanation"] for r in json.loads(cli.stdout)["recommendations"]}

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT movie_id, explanation FROM recommendations "
                "WHERE run_id = :r AND user_id = :u ORDER BY rank"
            ),
            {"r": run.run_id, "u": user},
        ).all()
    engine.dispose()
    from_store = {int(m): str(e) for m, e in rows}

    app = create_app(home=prepared, db_url=f"sqlite:///{db}", warm_up=False)
    with TestClient(app) as client:
        stored = client.get(f"/users/{user}/recommendations", params={"n": 10}).json()
        live = client.get(f"/users/{user}/recommendations", params={"n": 15}).json()
    assert (stored["source"], live["source"]) == ("store", "live")
    from_api = {r["movie"]["id"]: r["explanation"] for r in stored["recommendations"]}
    from_live = {r["movie"]["id"]: r["explanation"] for r in live["recommendations"]}

    assert list(from_cli) == list(from_store) == list(from_api)  # same movies, same order
    assert list(from_live)[:10] == list(from_cli)
    for movie, reason in from_cli.items():
        assert reason, movie
        assert from_store[movie] == from_api[movie] == from_live[movie] == reason
