"""Ratings written over HTTP: users, tokens, validation, and their immediate effect.

The store holds the real ml-100k (imported with :func:`movierec.store.import_ratings`, as
``movierec import`` does) and the cosine model's top-10 of every user as the current run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from movierec.api.app import create_app
from movierec.config import Settings
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.store import ensure_schema, import_ratings, make_engine
from movierec.store.schema import USERS
from tests.api.conftest import store_top10

pytestmark = pytest.mark.realdata

ADMIN = "admin-secret-for-tests"


@pytest.fixture(scope="module")
def feedback_home(
    ml100k: tuple[Interactions, ItemCatalog],
    cosine_model: Recommender,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    home = tmp_path_factory.mktemp("feedback")
    url = f"sqlite:///{home / 'db' / 'movierec.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    data, catalog = ml100k
    result = import_ratings(engine, data.to_frame(), catalog)
    assert result.n_new == 100_000 and result.n_users == 943
    engine.dispose()
    store_top10(url, cosine_model)
    return home


@pytest.fixture(scope="module")
def api(feedback_home: Path, cosine_model: Recommender) -> Iterator[TestClient]:
    settings = Settings(admin_token=ADMIN, swap_poll=0)
    with TestClient(create_app(settings, home=feedback_home, model=cosine_model)) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_user(api: TestClient) -> tuple[int, str]:
    made = api.post("/users")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["token_type"] == "bearer" and len(body["token"]) == 43
    return int(body["id"]), body["token"]


def rec_ids(body: dict) -> list[int]:
    return [r["movie"]["id"] for r in body["recommendations"]]


def test_a_new_user_gets_an_id_after_movielens_and_only_a_hash_is_stored(
    api: TestClient, feedback_home: Path
) -> None:
    first, token = new_user(api)
    second, other = new_user(api)
    assert first >= 944 and second == first + 1 and token != other  # ml-100k has 943 users
    engine = make_engine(f"sqlite:///{feedback_home / 'db' / 'movierec.db'}")
    with engine.connect() as db:
        stored = db.execute(select(USERS.c.token_hash).where(USERS.c.id == first)).scalar()
    engine.dispose()
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored


def test_writes_need_the_users_own_token(api: TestClient) -> None:
    user, token = new_user(api)
    _, other = new_user(api)
    path = f"/users/{user}/ratings/50"
    missing = api.put(path, json={"rating": 4})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"] == "AuthError"
    assert (
        api.put(path, json={"rating": 4}, headers={"Authorization": "Basic x"}).status_code == 401
    )
    assert api.put(path, json={"rating": 4}, headers=auth(other)).status_code == 403
    assert api.put(path, json={"rating": 4}, headers=auth("x" * 43)).status_code == 403
    assert api.delete(path, headers=auth(other)).status_code == 403
    # MovieLens users were imported without a token: no user token writes to them
    refused = api.put("/users/1/ratings/50", json={"rating": 4}, headers=auth(token))
    assert refused.status_code == 403 and "MovieLens" in refused.json()["detail"]
    assert api.get(f"/users/{user}/ratings").json()["n_ratings"] == 0  # nothing was written


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"rating": "4"}, ["body", "rating"]),
        ({"rating": True}, ["body", "rating"]),
        ({"rating": 7}, ["body", "rating"]),
        ({"rating": 0}, ["body", "rating"]),
        ({"rating": 3.5}, ["body", "rating"]),  # ml-100k: whole stars
        ({}, ["body", "rating"]),
        ({"rating": 4, "extra": 1}, ["body", "extra"]),
    ],
)
def test_a_bad_rating_is_a_422_naming_the_field(api: TestClient, body: dict, loc: list) -> None:
    user, token = new_user(api)
    answer = api.put(f"/users/{user}/ratings/50", json=body, headers=auth(token))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == loc


def test_unknown_movie_or_user_is_404(api: TestClient) -> None:
    user, token = new_user(api)
    assert (
        api.put(f"/users/{user}/ratings/99999", json={"rating": 4}, headers=auth(token)).status_code
        == 404
    )
    assert api.delete(f"/users/{user}/ratings/99999", headers=auth(token)).status_code == 404
    assert (
        api.put("/users/99999/ratings/50", json={"rating": 4}, headers=auth(token)).status_code
        == 404
    )
    assert api.get("/users/99999/ratings").status_code == 404


def test_put_and_delete_are_idempotent_and_read_back_from_the_store(api: TestClient) -> None:
    user, token = new_user(api)
    path = f"/users/{user}/ratings/50"
    first = api.put(path, json={"rating": 4}, headers=auth(token))
    assert first.status_code == 200
    assert {k: first.json()[k] for k in ("user_id", "movie_id", "rating")} == {
        "user_id": user,
        "movie_id": 50,
        "rating": 4.0,
    }
    assert api.put(path, json={"rating": 4}, headers=auth(token)).status_code == 200
    assert api.put(path, json={"rating": 2}, headers=auth(token)).json()["rating"] == 2.0
    assert (
        api.put(f"/users/{user}/ratings/1", json={"rating": 5}, headers=auth(token)).status_code
        == 200
    )
    history = api.get(f"/users/{user}/ratings").json()
    assert history["source"] == "store" and history["n_ratings"] == 2
    assert [(r["movie"]["id"], r["rating"]) for r in history["ratings"]] == [(1, 5.0), (50, 2.0)]
    assert api.delete(path, headers=auth(token)).status_code == 204
    assert api.delete(path, headers=auth(token)).status_code == 204  # again: same state
    after = api.get(f"/users/{user}/ratings").json()
    assert [r["movie"]["id"] for r in after["ratings"]] == [1]


def test_movielens_history_comes_from_the_store(api: TestClient, ml100k) -> None:
    data, _ = ml100k
    frame = data.to_frame()
    mine = frame[frame["userId"] == 7]
    history = api.get("/users/7/ratings", params={"limit": 1000}).json()
    assert history["source"] == "store" and history["n_ratings"] == len(mine)
    assert {r["movie"]["id"] for r in history["ratings"]} == set(mine["movieId"])


def test_a_rating_changes_the_next_recommendations_at_once(api: TestClient) -> None:
    user, token = new_user(api)
    empty = api.get(f"/users/{user}/recommendations", params={"n": 5}).json()
    # no rating yet: the most rated movies of u.data (Star Wars (50) has 583 ratings)
    assert empty["source"] == "fold-in" and empty["method"] == "popularity"
    assert rec_ids(empty)[0] == 50
    api.put(f"/users/{user}/ratings/50", json={"rating": 5}, headers=auth(token))
    answer = api.get(f"/users/{user}/recommendations", params={"n": 10})
    assert answer.headers["server-timing"].startswith("app;dur=")
    one = answer.json()
    assert one["source"] == "fold-in" and one["method"] == "fold-in"
    assert 50 not in rec_ids(one) and rec_ids(one) != rec_ids(empty)[:10]
    # the same answer as POST /recommendations with the same ratings (one fold-in path)
    same = api.post("/recommendations", json={"ratings": [{"movieId": 50, "rating": 5}], "n": 10})
    assert rec_ids(same.json()) == rec_ids(one)
    top = rec_ids(one)[0]
    api.put(f"/users/{user}/ratings/{top}", json={"rating": 1}, headers=auth(token))
    two = api.get(f"/users/{user}/recommendations", params={"n": 10}).json()
    assert top not in rec_ids(two) and 50 not in rec_ids(two) and rec_ids(two) != rec_ids(one)


def test_a_movielens_user_changed_by_the_admin_is_folded_in_others_keep_the_store(
    api: TestClient, ml100k
) -> None:
    data, _ = ml100k
    frame = data.to_frame()
    before = api.get("/users/3/recommendations").json()
    assert before["source"] == "store"
    movie = rec_ids(before)[0]
    put = api.put(f"/users/3/ratings/{movie}", json={"rating": 2}, headers=auth(ADMIN))
    assert put.status_code == 200
    after = api.get("/users/3/recommendations").json()
    assert after["source"] == "fold-in" and movie not in rec_ids(after)
    seen = set(frame.loc[frame["userId"] == 3, "movieId"])
    assert not seen & set(rec_ids(after))  # everything user 3 rated in u.data stays out
    assert api.get("/users/4/recommendations").json()["source"] == "store"  # untouched
