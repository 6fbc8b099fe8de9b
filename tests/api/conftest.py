"""API fixtures: models fitted once per session on the real ml-100k, apps around them."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from movierec.api.app import create_app
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.store import recommendations_frame
from movierec.testing import taste_clusters
from tests.store.toy import ItemCosine, ScoreOnly, load_ml100k, write_model_run

LEADERBOARD = {
    "protocol": "ml100k-u1",
    "k": 10,
    "models": ["svd", "popularity"],
    "summary": [
        {"model": "svd", "NDCG@10_mean": 0.31, "RMSE_mean": 0.93},
        {"model": "popularity", "NDCG@10_mean": 0.21, "RMSE_mean": None},
    ],
}
# the smallest valid PNG (1x1 transparent pixel)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)


@pytest.fixture(scope="session")
def ml100k(ml100k_dir: Path) -> tuple[Interactions, ItemCatalog]:
    return load_ml100k(ml100k_dir)


@pytest.fixture(scope="session")
def cosine_model(ml100k: tuple[Interactions, ItemCatalog]) -> Recommender:
    """A model with every optional ability (fold-in, explain, similar items)."""
    return ItemCosine().fit(*ml100k)


@pytest.fixture(scope="session")
def filtered_model(ml100k: tuple[Interactions, ItemCatalog]) -> Recommender:
    """The cosine model trained only on movies with >= 20 ratings (as transform does), with
    the whole catalogue: 743 movies people can find and rate that it was never trained on."""
    data, catalog = ml100k
    frame = data.to_frame()
    counts = frame.groupby("movieId")["userId"].transform("size")
    model = ItemCosine().fit(Interactions.from_frame(frame[counts >= 20]), catalog)
    assert (model.data_.n_items, len(catalog)) == (939, 1682)
    return model


@pytest.fixture(scope="session")
def bare_model(ml100k: tuple[Interactions, ItemCatalog]) -> Recommender:
    """A model with no optional ability: the API must fall back for all of them."""
    return ScoreOnly().fit(*ml100k)


@pytest.fixture(scope="session")
def toy_model() -> Recommender:
    data, catalog = taste_clusters()
    return ItemCosine().fit(data, catalog)


def write_reports(home: Path) -> None:
    folder = home / "reports" / "ml100k-u1"
    folder.mkdir(parents=True)
    (folder / "leaderboard.json").write_text(json.dumps(LEADERBOARD), encoding="utf-8")
    (folder / "metrics.png").write_bytes(PNG)


def store_top10(url: str, model: Recommender, metrics: dict | None = None) -> int:
    """Store every user's top-10 (with the model's own explanations) as a run."""
    users = model.data_.users.ids
    ids, scores = model.recommend(users, n=10)
    frame = recommendations_frame(users, ids, scores)
    return write_model_run(url, model, frame, metrics or {"protocol": "ml100k-u1"})


@pytest.fixture(scope="module")
def home(cosine_model: Recommender, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with reports/ml100k-u1 and the cosine model's top-10 as run 1."""
    path = tmp_path_factory.mktemp("home")
    write_reports(path)
    store_top10(f"sqlite:///{path / 'db' / 'movierec.db'}", cosine_model)
    return path


@pytest.fixture(scope="module")
def live_app(cosine_model: Recommender, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The cosine model with an empty store and no reports: everything is computed live."""
    return create_app(home=tmp_path_factory.mktemp("empty"), model=cosine_model)


@pytest.fixture(scope="module")
def live(live_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(live_app) as client:
        yield client


@pytest.fixture(scope="module")
def stored(cosine_model: Recommender, home: Path) -> Iterator[TestClient]:
    """The cosine model with its top-10 for all users stored as run 1, and reports."""
    with TestClient(create_app(home=home, model=cosine_model)) as client:
        yield client


@pytest.fixture(scope="module")
def bare(bare_model: Recommender, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(home=tmp_path_factory.mktemp("bare"), model=bare_model)
    with TestClient(app) as client:
        yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def uvicorn_thread(app: FastAPI, **options: Any) -> Iterator[str]:
    """A real uvicorn serving ``app`` on a free loopback port, in a thread, with the
    server's own HTTP protocol (header deadline, JSON parse errors) unless ``options``
    name another; yields the base URL."""
    import uvicorn

    from movierec.api.protocol import GuardedHttpProtocol

    port = free_port()
    options = {"http": GuardedHttpProtocol, "log_level": "warning", **options}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server_url(cosine_model: Recommender, home: Path) -> Iterator[str]:
    """A real uvicorn serving the cosine model on a free loopback port (in a thread)."""
    with uvicorn_thread(create_app(home=home, model=cosine_model)) as url:
        yield url
