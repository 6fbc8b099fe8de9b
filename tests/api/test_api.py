"""The HTTP API on the real ml-100k (FastAPI TestClient): behaviour, fallbacks, input rules."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from movierec.api.app import create_app
from movierec.api.service import Serving
from movierec.errors import StoreError
from movierec.store import make_engine, recommendations_frame
from movierec.testing import taste_clusters
from tests.api import reference
from tests.store.toy import ItemCosine, write_model_run

pytestmark = pytest.mark.realdata

STAR_WARS = 50
JSON = {"content-type": "application/json"}


# ---------------------------------------------------------------------- health, docs, page
def test_health_reports_model_data_and_run(live: TestClient, stored: TestClient) -> None:
    body = live.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"]["name"] == "test-item-cosine"
    assert (body["model"]["n_users"], body["model"]["n_items"]) == (943, 1682)
    assert body["model"]["abilities"] == ["similar_items", "fold_in", "explain"]
    assert body["run"] is None and body["store"]["available"] is False
    run = stored.get("/health").json()["run"]
    assert run["id"] == 1 and run["status"] == "complete" and run["is_current"]
    assert run["data_fingerprint"] == body["model"]["data_fingerprint"]
    assert run["n_recommendations"] == 9430


def test_docs_openapi_and_page(live: TestClient) -> None:
    assert live.get("/docs").status_code == 200
    paths = live.get("/openapi.json").json()["paths"]
    for path in ["/health", "/movies", "/movies/{movie_id}", "/movies/{movie_id}/similar",
                 "/users/{user_id}/recommendations", "/recommendations", "/runs",
                 "/runs/{run_id}/leaderboard"]:  # fmt: skip
        assert path in paths
    page = live.get("/")
    assert page.status_code == 200 and "Search movies by title" in page.text
    assert 'data-scale-max="5.0"' in page.text and "<option>Sci-Fi</option>" in page.text
    assert live.get("/static/app.js").status_code == 200


def test_api_is_read_only(stored: TestClient) -> None:
    assert stored.delete("/runs/1").status_code == 405
    assert stored.put("/movies/50", json={}).status_code == 405
    assert stored.post("/users/1/recommendations").status_code == 405


# ---------------------------------------------------------------------- movies
def test_search_movies(live: TestClient) -> None:
    body = live.get("/movies", params={"query": "star wars"}).json()
    assert body["total"] == 1 and body["movies"][0]["id"] == STAR_WARS
    star = body["movies"][0]
    assert star["title"] == "Star Wars (1977)" and star["year"] == 1977
    assert star["genres"] == ["Action", "Adventure", "Romance", "Sci-Fi", "War"]
    assert star["n_ratings"] == 583
    body = live.get("/movies", params={"query": "STAR", "limit": 5}).json()
    assert body["total"] == 20 and len(body["movies"]) == 5
    counts = [m["n_ratings"] for m in body["movies"]]
    assert counts == sorted(counts, reverse=True) and body["movies"][0]["id"] == STAR_WARS
    trek = live.get("/movies", params={"query": "star trek", "limit": 100}).json()
    assert sorted(m["id"] for m in trek["movies"]) == [222, 227, 228, 229, 230, 380, 449, 450]
    accent = live.get("/movies", params={"query": "koldum"}).json()
    assert [m["id"] for m in accent["movies"]] == [1633]
    scifi = live.get("/movies", params={"genre": "sci-fi", "limit": 100}).json()
    assert scifi["total"] == 101 and all("Sci-Fi" in m["genres"] for m in scifi["movies"])
    both = live.get("/movies", params={"query": "star", "genre": "War"}).json()
    assert STAR_WARS in [m["id"] for m in both["movies"]]


def test_search_movies_bad_input(live: TestClient) -> None:
    r = live.get("/movies", params={"genre": "Space Opera"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "genre"]
    for limit in (0, 101):
        r = live.get("/movies", params={"limit": limit})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]


def test_get_movie(live: TestClient) -> None:
    assert live.get("/movies/267").json()["title"] == "unknown"
    r = live.get("/movies/99999")
    assert r.status_code == 404
    assert r.json() == {"detail": "unknown movie id: 99999", "error": "UnknownIdError"}
    assert live.get("/movies/-1").status_code == 422
    assert live.get("/movies/abc").status_code == 422


def test_similar_movies_model_and_fallback(live: TestClient, bare: TestClient) -> None:
    expected = reference.similar(STAR_WARS, 5)
    for client, method in ((live, "model"), (bare, "co-rating cosine")):
        body = client.get(f"/movies/{STAR_WARS}/similar", params={"n": 5}).json()
        assert body["method"] == method
        assert [s["movie"]["id"] for s in body["similar"]] == expected
        assert body["similar"][0]["explanation"] == "480 people rated both movies"
    assert live.get("/movies/99999/similar").status_code == 404
    assert live.get("/movies/50/similar", params={"n": 0}).status_code == 422


# ---------------------------------------------------------------------- known users
def test_user_recommendations_live(live: TestClient) -> None:
    body = live.get("/users/1/recommendations", params={"n": 10}).json()
    assert body["source"] == "live" and body["run_id"] is None
    recs = body["recommendations"]
    ids = [r["movie"]["id"] for r in recs]
    assert len(ids) == 10 and not set(ids) & reference.seen(1)
    assert ids == reference.top_n(1, 10)
    assert [r["rank"] for r in recs] == list(range(1, 11))
    assert recs[0]["explanation"].startswith("similar to movie ")


def test_unknown_user_is_404(live: TestClient, stored: TestClient) -> None:
    for client in (live, stored):
        r = client.get("/users/9999/recommendations")
        assert r.status_code == 404
        assert r.json() == {"detail": "unknown user id: 9999", "error": "UnknownIdError"}
    assert live.get("/users/9999/ratings").status_code == 404


@pytest.mark.parametrize("n", [0, 101, -3])
def test_n_out_of_range_is_422_naming_n(live: TestClient, n: int) -> None:
    r = live.get("/users/1/recommendations", params={"n": n})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "n"]


def test_user_recommendations_from_store(stored: TestClient) -> None:
    body = stored.get("/users/1/recommendations").json()
    assert (body["source"], body["run_id"], body["model"]) == ("store", 1, "test-item-cosine")
    ids = [r["movie"]["id"] for r in body["recommendations"]]
    assert ids == reference.top_n(1, 10)
    assert not set(ids) & reference.seen(1)
    # stored rows had no explanation: the API adds a true one from user 1's ratings
    assert all(r["explanation"] for r in body["recommendations"])
    assert body["recommendations"][0]["movie"]["title"]
    three = stored.get("/users/1/recommendations", params={"n": 3}).json()
    assert (
        three["source"] == "store"
        and [r["movie"]["id"] for r in three["recommendations"]] == ids[:3]
    )
    more = stored.get("/users/1/recommendations", params={"n": 20}).json()
    assert more["source"] == "live" and len(more["recommendations"]) == 20
    named = stored.get("/users/1/recommendations", params={"model": "test-item-cosine"}).json()
    assert named["source"] == "store"
    r = stored.get("/users/1/recommendations", params={"model": "svd"})
    assert r.status_code == 404 and "no stored recommendations of model 'svd'" in r.json()["detail"]
    assert stored.get("/users/1/recommendations", params={"model": "x y"}).status_code == 422


def test_stored_user_unknown_to_the_live_model(tmp_path, cosine_model) -> None:
    """A stored run may hold users the loaded model never saw: served from the store."""
    data, catalog = taste_clusters(n_users=5, n_items=8)
    other = ItemCosine().fit(data, catalog)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    frame = recommendations_frame(
        [5000], np.array([[50, 181]]), np.array([[2.0, 1.0]]), [["a", ""]]
    )
    write_model_run(url, other, frame)
    with TestClient(create_app(home=tmp_path, model=cosine_model, db_url=url)) as client:
        body = client.get("/users/5000/recommendations").json()
        assert body["source"] == "store" and body["model"] == "test-item-cosine"
        assert [r["movie"]["title"] for r in body["recommendations"]] == [
            "Star Wars (1977)",
            "Return of the Jedi (1983)",
        ]
        assert [r["explanation"] for r in body["recommendations"]] == [
            "a",
            "recommended by the test-item-cosine model",
        ]


def test_user_history(live: TestClient) -> None:
    body = live.get("/users/1/ratings", params={"limit": 1000}).json()
    assert body["n_ratings"] == 272 and len(body["ratings"]) == 272
    ratings = [r["rating"] for r in body["ratings"]]
    assert ratings == sorted(ratings, reverse=True) and ratings[0] == 5.0
    assert len(live.get("/users/1/ratings").json()["ratings"]) == 50


# ---------------------------------------------------------------------- new users
def test_new_user_star_wars_fan(live: TestClient) -> None:
    r = live.post("/recommendations", json={"ratings": [{"movieId": 50, "rating": 5}]})
    assert r.status_code == 200
    body = r.json()
    assert body["method"] == "fold-in"
    ids = [x["movie"]["id"] for x in body["recommendations"]]
    assert len(ids) == 10 and STAR_WARS not in ids
    assert ids[:3] == reference.similar(STAR_WARS, 3)  # Jedi, Raiders, Empire
    first = body["recommendations"][0]
    assert first["movie"]["title"] == "Return of the Jedi (1983)"
    assert first["explanation"] == (
        "because you rated Star Wars (1977) 5★ (349 who liked it also liked this)"
    )


def test_new_user_fallback_without_fold_in(bare: TestClient) -> None:
    payload = {"ratings": [{"movieId": 50, "rating": 5}, {"movieId": 1, "rating": 2}], "n": 5}
    body = bare.post("/recommendations", json=payload).json()
    assert body["method"] == "item-neighbourhood"
    ids = [x["movie"]["id"] for x in body["recommendations"]]
    assert len(ids) == 5 and not {50, 1} & set(ids)
    assert all("Star Wars (1977) 5★" in x["explanation"] for x in body["recommendations"][:3])


def test_new_user_explanations_are_true(live: TestClient) -> None:
    """Every "N who liked it also liked this" count matches a brute-force count."""
    payload = {"ratings": [{"movieId": 50, "rating": 5}, {"movieId": 98, "rating": 4}], "n": 10}
    body = live.post("/recommendations", json=payload).json()
    frame = reference.ratings()
    likers = frame[frame["rating"] >= 4].groupby("movieId")["userId"].apply(set)
    titles = {50: "Star Wars (1977)", 98: "The Silence of the Lambs (1991)"}  # natural order
    for rec in body["recommendations"]:
        why = rec["explanation"]
        src = next(m for m, t in titles.items() if t in why)
        count = int(why.split("(")[-1].split(" ")[0])
        assert count == len(likers[src] & likers.get(rec["movie"]["id"], set()))


def test_new_user_is_fast(live_app, cosine_model) -> None:
    from movierec.api.schemas import RatingIn

    serving: Serving = live_app.state.serving
    ratings = [RatingIn(movieId=m, rating=r) for m, r in [(50, 5), (1, 4), (98, 5), (313, 2)]]
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        serving.new_user_recommendations(ratings, 10)
        times.append(time.perf_counter() - t0)
    assert float(np.median(times)) < 0.050, times


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"ratings": [{"movieId": 50, "rating": 6}]}, ["body", "ratings", 0, "rating"]),
        ({"ratings": [{"movieId": 1, "rating": 4}, {"movieId": 50, "rating": 0.5}]},
         ["body", "ratings", 1, "rating"]),
        ({"ratings": [{"movieId": 99999, "rating": 4}]}, ["body", "ratings", 0, "movieId"]),
        ({"ratings": [{"movieId": 2**63, "rating": 4}]}, ["body", "ratings", 0, "movieId"]),
        ({"ratings": [{"movieId": -1, "rating": 4}]}, ["body", "ratings", 0, "movieId"]),
        ({"ratings": [{"movieId": 50, "rating": 4}, {"movieId": 50, "rating": 5}]},
         ["body", "ratings", 1, "movieId"]),
        ({"ratings": []}, ["body", "ratings"]),
        ({"ratings": [{"movieId": 50, "rating": 5}] * 1001}, ["body", "ratings"]),
        ({"ratings": [{"movieId": 50, "rating": 5}], "n": 0}, ["body", "n"]),
        ({"ratings": [{"movieId": 50, "rating": 5}], "n": 101}, ["body", "n"]),
        ({"ratings": [{"movieId": 50}]}, ["body", "ratings", 0, "rating"]),
        ({"ratings": [{"movieId": 50, "rating": 5, "user": 1}]}, ["body", "ratings", 0, "user"]),
        ({}, ["body", "ratings"]),
    ],
)  # fmt: skip
def test_new_user_bad_input_is_422_naming_the_field(live: TestClient, payload, loc) -> None:
    r = live.post("/recommendations", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


def test_new_user_non_json_and_nan(live: TestClient) -> None:
    r = live.post("/recommendations", content=b"{not json", headers=JSON)
    assert r.status_code == 422
    nan = b'{"ratings": [{"movieId": 50, "rating": NaN}]}'
    r = live.post("/recommendations", content=nan, headers=JSON)
    assert r.status_code == 422


def test_body_over_1mb_is_413(live: TestClient) -> None:
    big = b'{"ratings": [' + b" " * 1_100_000 + b"]}"
    r = live.post("/recommendations", content=big, headers=JSON)
    assert r.status_code == 413 and "larger than 1048576 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: streamed (chunked) body
        yield b'{"ratings": ['
        for _ in range(20):
            yield b" " * 60_000
        yield b"]}"

    r = live.post("/recommendations", content=chunks(), headers=JSON)
    assert r.status_code == 413
    small = b'{"ratings": [{"movieId": 50, "rating": 5}]}'
    ok = live.post("/recommendations", content=small, headers=JSON)
    assert ok.status_code == 200  # a small body still passes the middleware intact


# ---------------------------------------------------------------------- runs, leaderboards
def test_runs_and_leaderboard(stored: TestClient, live: TestClient) -> None:
    runs = stored.get("/runs").json()
    assert [r["id"] for r in runs] == [1] and runs[0]["metrics"] == {"protocol": "ml100k-u1"}
    assert stored.get("/runs/1").json()["n_users"] == 943
    assert stored.get("/runs/2").status_code == 404
    assert stored.get("/runs/0").status_code == 422
    board = stored.get("/runs/1/leaderboard").json()
    assert board["protocol"] == "ml100k-u1" and board["run_id"] == 1
    assert board["leaderboard"]["summary"][0]["model"] == "svd"
    assert board["plots"] == ["/reports/ml100k-u1/metrics.png"]
    png = stored.get(board["plots"][0])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert stored.get("/leaderboards").json() == {"protocols": ["ml100k-u1"]}
    assert stored.get("/leaderboards/ml100k-u1").json()["plots"] == board["plots"]
    assert stored.get("/leaderboards/temporal").status_code == 404
    assert stored.get("/reports/ml100k-u1/leaderboard.json").status_code == 404
    assert stored.get("/reports/ml100k-u1/..%2F..%2Fetc%2Fpasswd").status_code in (404, 422)
    assert stored.get("/reports/temporal/metrics.png").status_code == 404
    # no store, no reports
    assert live.get("/runs").json() == []
    assert live.get("/runs/1/leaderboard").status_code == 404
    assert live.get("/leaderboards").json() == {"protocols": []}


# ---------------------------------------------------------------------- start-up errors
def test_incompatible_store_fails_fast(tmp_path, toy_model) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    write_model_run(url, toy_model, recommendations_frame([1], np.array([[2]]), np.array([[1.0]])))
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 99"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema version 99, newer"):
        create_app(home=tmp_path, model=toy_model, db_url=url)


def test_missing_model_file_is_a_model_error(tmp_path) -> None:
    from movierec.errors import ModelError

    with pytest.raises(ModelError, match="run 'movierec train' first"):
        create_app(home=tmp_path)


# ---------------------------------------------------------------------- catalogue-only movies
@pytest.fixture(scope="module")
def filtered(filtered_model, tmp_path_factory) -> TestClient:  # type: ignore[no-untyped-def]
    app = create_app(home=tmp_path_factory.mktemp("filtered"), model=filtered_model)
    with TestClient(app) as client:
        yield client


def test_movies_the_model_never_saw_are_ignored_and_listed(filtered: TestClient) -> None:
    koldum = filtered.get("/movies/1633").json()
    assert koldum["n_ratings"] == 0  # searchable, rateable, unknown to the model
    body = filtered.post(
        "/recommendations",
        json={"ratings": [{"movieId": 50, "rating": 5}, {"movieId": 1633, "rating": 4}]},
    ).json()
    assert body["method"] == "fold-in" and body["ignored"] == [1633]
    alone = filtered.post(
        "/recommendations", json={"ratings": [{"movieId": 50, "rating": 5}]}
    ).json()
    assert [r["movie"]["id"] for r in body["recommendations"]] == [
        r["movie"]["id"] for r in alone["recommendations"]
    ]
    only = filtered.post(
        "/recommendations", json={"ratings": [{"movieId": 1633, "rating": 4}], "n": 5}
    ).json()
    assert only["method"] == "popularity" and only["ignored"] == [1633]
    assert [r["movie"]["id"] for r in only["recommendations"]] == [50, 258, 100, 181, 294]
    r = filtered.post("/recommendations", json={"ratings": [{"movieId": 99999, "rating": 4}]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == [
        "body", "ratings", 0, "movieId",
    ]  # fmt: skip


def test_titles_in_natural_order_found_in_either_order(live: TestClient) -> None:
    assert live.get("/movies/127").json()["title"] == "The Godfather (1972)"
    for query in ("the godfather", "godfather, the"):
        found = live.get("/movies", params={"query": query}).json()["movies"]
        assert 127 in [m["id"] for m in found], query
    page1 = live.get("/movies", params={"query": "star", "limit": 15}).json()
    page2 = live.get("/movies", params={"query": "star", "limit": 15, "offset": 15}).json()
    assert (page1["total"], page2["total"], page2["offset"]) == (20, 20, 15)
    ids = [m["id"] for m in page1["movies"] + page2["movies"]]
    assert len(ids) == len(set(ids)) == 20
    everything = live.get("/movies", params={"query": "star", "limit": 20}).json()["movies"]
    assert ids == [m["id"] for m in everything]


@pytest.mark.parametrize(
    "path",
    ["/movies/%201", "/movies/+1", "/movies/1.0", "/movies/1e3", "/movies/0x1",
     "/users/%201/recommendations", "/users/1/recommendations?n=%2010",
     "/users/1/recommendations?n=1_0", "/movies?limit=5.0", "/runs/%201"],
)  # fmt: skip
def test_integers_in_paths_and_queries_are_plain_digits(live: TestClient, path: str) -> None:
    r = live.get(path)
    assert r.status_code == 422, r.text
    assert "digits only" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [({"ratings": [{"movieId": "50", "rating": 5}]}, ["body", "ratings", 0, "movieId"]),
     ({"ratings": [{"movieId": 50, "rating": "5"}]}, ["body", "ratings", 0, "rating"]),
     ({"ratings": [{"movieId": 50, "rating": True}]}, ["body", "ratings", 0, "rating"]),
     ({"ratings": [{"movieId": True, "rating": 5}]}, ["body", "ratings", 0, "movieId"]),
     ({"ratings": [{"movieId": 50.0, "rating": 5}]}, ["body", "ratings", 0, "movieId"]),
     ({"ratings": [{"movieId": 50, "rating": 5}], "n": "10"}, ["body", "n"]),
     ({"ratings": [{"movieId": 50, "rating": 5}], "n": True}, ["body", "n"])],
)  # fmt: skip
def test_request_types_are_strict(live: TestClient, payload, loc) -> None:  # type: ignore[no-untyped-def]
    r = live.post("/recommendations", json=payload)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc, r.text


def test_422_bodies_quote_a_short_excerpt_only(live: TestClient) -> None:
    huge = "9" * 500_000
    r = live.post("/recommendations", json={"ratings": [{"movieId": huge, "rating": 5}]})
    assert r.status_code == 422 and len(r.content) < 500, len(r.content)
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "ratings", 0, "movieId"] and len(err["input"]) <= 41
    many = {"ratings": [{"movieId": "x" * 400, "rating": "y" * 400}] * 1000}  # 0.8 MB
    r = live.post("/recommendations", json=many)
    body = r.json()
    assert r.status_code == 422 and len(r.content) < 10_000, len(r.content)
    assert len(body["detail"]) == 20 and body["more_errors"] == 1980
    key = live.post(
        "/recommendations", json={"ratings": [{"movieId": 50, "rating": 5, "k" * 9999: 1}]}
    )
    assert key.status_code == 422 and len(key.content) < 500
