"""The API over both store backends, store degradation, explanations written with a run."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from movierec.api.app import app_from_env, create_app
from movierec.explain import Explainer
from movierec.store import make_engine
from movierec.topn import recommend_all
from tests.api import reference
from tests.conftest import unavailable
from tests.store.toy import pg_reachable, pg_schema_url, write_model_run

pytestmark = pytest.mark.realdata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    reason = pg_reachable()
    if reason:
        unavailable(reason)
    with pg_schema_url() as url:
        yield url


def test_explainer_frame_fills_every_row_truthfully(cosine_model, bare_model) -> None:
    frame = recommend_all(cosine_model, n=3, user_ids=[1, 2], explain=False)
    out = Explainer(cosine_model).frame(frame)
    assert "explanation" not in frame.columns
    assert len(out) == 6 and all(out["explanation"].str.startswith("similar to movie "))
    # a model without explain(): co-rating reasons, each naming one of the user's 4-5★ movies
    bare = recommend_all(bare_model, n=5, user_ids=[1])
    liked = set(
        bare_model.data_.to_frame().query("userId == 1 and rating >= 4")["movieId"].tolist()
    )
    catalog = bare_model.items_catalog_
    for why in bare["explanation"]:
        assert why.startswith("because you rated ")
        assert any(catalog.display_title(m) in why for m in liked)


def test_api_serves_stored_runs_from_both_backends(backend_url: str, cosine_model, tmp_path):
    frame = recommend_all(cosine_model, n=10)
    run_id = write_model_run(backend_url, cosine_model, frame, {"protocol": "ml100k-u1"})
    app = create_app(home=tmp_path, model=cosine_model, db_url=backend_url)
    with TestClient(app) as client:
        body = client.get("/users/42/recommendations").json()
        assert (body["source"], body["run_id"]) == ("store", run_id)
        expected = frame[frame["userId"] == 42]
        assert [r["movie"]["id"] for r in body["recommendations"]] == expected["movieId"].tolist()
        assert [r["explanation"] for r in body["recommendations"]] == expected[
            "explanation"
        ].tolist()
        assert client.get("/health").json()["run"]["id"] == run_id
        assert [r["id"] for r in client.get("/runs").json()] == [run_id]


def test_broken_store_degrades_to_the_live_model(tmp_path, cosine_model) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    write_model_run(url, cosine_model, recommend_all(cosine_model, n=10))
    with TestClient(create_app(home=tmp_path, model=cosine_model, db_url=url)) as client:
        assert client.get("/users/3/recommendations").json()["source"] == "store"
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE recommendations"))
            conn.execute(text("DROP TABLE runs"))
        engine.dispose()
        r = client.get("/users/3/recommendations")
        assert r.status_code == 200 and r.json()["source"] == "live"
        assert client.get("/health").status_code == 200
        runs = client.get("/runs")
        assert runs.status_code == 503 and runs.json()["error"] == "StoreError"
        ids = [x["movie"]["id"] for x in r.json()["recommendations"]]
        assert ids == reference.top_n(3, 10)


def test_store_appearing_after_start_is_picked_up(tmp_path, cosine_model, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'later.db'}"
    app = create_app(home=tmp_path, model=cosine_model, db_url=url, warm_up=False)
    app.state.serving.store.recheck = 0.0
    with TestClient(app) as client:
        assert client.get("/users/3/recommendations").json()["source"] == "live"
        assert not (tmp_path / "later.db").exists()  # reading never creates the store
        write_model_run(url, cosine_model, recommend_all(cosine_model, n=10))
        assert client.get("/users/3/recommendations").json()["source"] == "store"


def test_app_factory_for_uvicorn_workers_reads_the_environment(
    tmp_path, cosine_model, monkeypatch
) -> None:
    from movierec.models.registry import make_model

    data = cosine_model.data_
    model = make_model("popularity").fit(data, cosine_model.items_catalog_)
    model.save(tmp_path / "models" / "recommender.npz")
    monkeypatch.setenv("MOVIEREC_HOME", str(tmp_path))
    monkeypatch.delenv("MOVIEREC_DB_URL", raising=False)
    monkeypatch.delenv("MOVIEREC_MODEL_PATH", raising=False)
    with TestClient(app_from_env()) as client:
        health = client.get("/health").json()
        assert health["model"]["name"] == "popularity"
        store = health["store"]
        assert (store["kind"], store["name"], store["available"]) == (
            "sqlite",
            "movierec.db",
            False,
        )
        assert str(tmp_path) not in json.dumps(health)  # no path
        ids = [
            r["movie"]["id"]
            for r in client.get("/users/1/recommendations").json()["recommendations"]
        ]
        assert np.all(np.isin(ids, data.items.ids))


def test_store_step_writes_an_explained_current_run(tmp_path, cosine_model, monkeypatch) -> None:
    from movierec import steps
    from movierec.pipeline_config import PipelineConfig
    from movierec.store import runs_table

    monkeypatch.delenv("MOVIEREC_DB_URL", raising=False)
    cfg = PipelineConfig.from_settings(home=tmp_path, store_n=5)
    result = steps.store(cfg, model=cosine_model)
    url = f"sqlite:///{tmp_path / 'db' / 'movierec.db'}"
    (run,) = runs_table(url)
    assert (run.id, run.is_current, run.n_recommendations) == (result.run_id, True, 943 * 5)
    assert run.params == {"shrink": 0.0, "n": 5} and run.metrics == {}
    with TestClient(create_app(home=tmp_path, model=cosine_model)) as client:
        body = client.get("/users/1/recommendations", params={"n": 5}).json()
        assert body["source"] == "store"
        assert all(
            r["explanation"].startswith("similar to movie ") for r in body["recommendations"]
        )
