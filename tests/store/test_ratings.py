"""Feedback in the store (SQLite and PostgreSQL): users, rating writes, reads, the import."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from movierec.data.datasets import HALF_STARS, WHOLE_STARS
from movierec.errors import DataError, StoreError, UnknownIdError
from movierec.interactions import ItemCatalog
from movierec.store import (
    create_user,
    delete_rating,
    ensure_schema,
    import_ratings,
    make_engine,
    put_rating,
    ratings_frame,
    ratings_since,
    user_ratings,
    users_changed_since,
    verify_token,
)
from movierec.store.ratings import CHANGE_MARGIN_S, count_ratings, store_ratings


def catalog(ids: list[int]) -> ItemCatalog:
    return ItemCatalog.from_frame(
        pd.DataFrame(
            {
                "movieId": ids,
                "title": [f"Movie {i} (1990)" for i in ids],
                "year": [1990] * len(ids),
                "genres": ["Drama"] * len(ids),
            }
        )
    )


def small_ratings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "userId": [1, 1, 2, 3],
            "movieId": [10, 20, 10, 30],
            "rating": np.array([5, 3, 4, 1], dtype=np.float32),
            "timestamp": [100, 200, 300, 400],
        }
    )


@pytest.fixture
def store(db_url: str):
    engine = make_engine(db_url)
    ensure_schema(engine)
    import_ratings(engine, small_ratings(), catalog([10, 20, 30, 40]))
    yield engine
    engine.dispose()


def test_import_is_bulk_exact_and_idempotent(store) -> None:
    frame, _ = ratings_frame(store)
    assert frame.to_dict("list") == {
        "userId": [1, 1, 2, 3],
        "movieId": [10, 20, 10, 30],
        "rating": [5.0, 3.0, 4.0, 1.0],
        "timestamp": [100, 200, 300, 400],
    }
    put_rating(store, 1, 10, 2, scale=WHOLE_STARS)  # a service write...
    delete_rating(store, 3, 30)
    again = import_ratings(store, small_ratings(), catalog([10, 20, 30, 40]))
    # ...is never overwritten by a second import; the deleted pair is added back (documented)
    assert (again.n_ratings, again.n_new) == (4, 1)
    rows = {(r.movie_id, r.rating) for r in user_ratings(store, 1)}
    assert rows == {(10, 2.0), (20, 3.0)}
    assert count_ratings(store) == 4


def test_import_refuses_movies_missing_from_the_catalogue(db_url: str) -> None:
    engine = make_engine(db_url)
    ensure_schema(engine)
    with pytest.raises(DataError, match="missing from the catalogue"):
        import_ratings(engine, small_ratings(), catalog([10, 20]))
    assert count_ratings(engine) == 0
    engine.dispose()


def test_put_and_delete_are_idempotent_and_change_the_user(store) -> None:
    before = time.time()
    first = put_rating(store, 2, 40, 3, scale=WHOLE_STARS)
    second = put_rating(store, 2, 40, 3, scale=WHOLE_STARS)
    assert first.updated >= before and second.updated >= first.updated
    assert [(r.movie_id, r.rating) for r in user_ratings(store, 2)] == [(10, 4.0), (40, 3.0)]
    put_rating(store, 2, 40, 5, scale=WHOLE_STARS)  # replace
    assert [(r.movie_id, r.rating) for r in user_ratings(store, 2)] == [(10, 4.0), (40, 5.0)]
    assert users_changed_since(store, before) == {2}
    assert set(ratings_since(store, before)["movieId"]) == {40}
    assert delete_rating(store, 2, 40) is True
    assert delete_rating(store, 2, 40) is False
    assert [r.movie_id for r in user_ratings(store, 2)] == [10]
    # a delete leaves no row but still marks the user as changed
    mark = time.time()
    delete_rating(store, 2, 10)
    assert users_changed_since(store, mark) == {2}
    assert ratings_since(store, mark).empty
    assert users_changed_since(store, None) == {2}


@pytest.mark.parametrize(
    ("user", "movie", "rating", "error", "match"),
    [
        (99, 10, 4, UnknownIdError, "unknown user id: 99"),
        (1, 99, 4, UnknownIdError, "unknown movie id: 99"),
        (1, 10, 6, DataError, "not on the 1-5 in whole stars scale"),
        (1, 10, 0, DataError, "not on the 1-5"),
        (1, 10, 3.5, DataError, "not on the 1-5"),
        (1, 10, float("nan"), DataError, "not on the"),
        (1, 10, "five", DataError, "must be a number"),
        (0, 10, 4, DataError, "user id must be a positive integer"),
        (True, 10, 4, DataError, "user id must be a positive integer"),
        (1, -3, 4, DataError, "movie id must be a positive integer"),
    ],
)
def test_bad_writes_change_nothing(store, user, movie, rating, error, match) -> None:
    before = ratings_frame(store)[0]
    with pytest.raises(error, match=match):
        put_rating(store, user, movie, rating, scale=WHOLE_STARS)
    pd.testing.assert_frame_equal(ratings_frame(store)[0], before)
    assert users_changed_since(store, None) == set()


def test_half_star_scale_accepts_half_stars(store) -> None:
    assert put_rating(store, 1, 30, 3.5, scale=HALF_STARS).rating == 3.5
    with pytest.raises(DataError, match="0.5-5 in half stars"):
        put_rating(store, 1, 30, 3.25, scale=HALF_STARS)


def test_unknown_user_reads_and_deletes_are_404s(store) -> None:
    with pytest.raises(UnknownIdError):
        user_ratings(store, 404)
    with pytest.raises(UnknownIdError):
        delete_rating(store, 404, 10)


def test_created_users_get_fresh_ids_and_tokens(store) -> None:
    made = [create_user(store) for _ in range(3)]
    assert [uid for uid, _ in made] == [4, 5, 6]  # after the imported users 1..3
    assert len({tok for _, tok in made}) == 3
    uid, tok = made[0]
    assert verify_token(store, uid, tok)
    assert not verify_token(store, uid, made[1][1])
    assert not verify_token(store, 1, tok)  # MovieLens users have no token
    assert not verify_token(store, 404, tok)
    with store.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM users WHERE id = :u"), {"u": uid})
        assert stored.scalar() != tok  # only the hash is kept
    put_rating(store, uid, 10, 5, scale=WHOLE_STARS)
    assert [(r.movie_id, r.rating) for r in user_ratings(store, uid)] == [(10, 5.0)]
    # a service whose model knows users up to 100 (not imported here): ids start above them
    assert create_user(store, after=100)[0] == 101
    assert create_user(store, after=100)[0] == 102  # the largest id wins once it is higher


def test_concurrent_user_creation_never_shares_an_id(store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda _: create_user(store)[0], range(40)))
    assert sorted(ids) == list(range(4, 44))


def test_ratings_frame_marks_its_snapshot_time(store) -> None:
    t0 = time.time()
    _, as_of = ratings_frame(store)
    assert t0 - CHANGE_MARGIN_S - 1 <= as_of <= time.time() - CHANGE_MARGIN_S


def test_reading_a_store_without_ratings_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at .*movierec import"):
        store_ratings(f"sqlite:///{tmp_path / 'none.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    ensure_schema(engine)
    with pytest.raises(DataError, match="holds no ratings; run 'movierec import'"):
        ratings_frame(engine)
    engine.dispose()


@pytest.mark.realdata
def test_real_ml100k_import_counts(db_url: str, ml100k_dir: Path) -> None:
    """The whole u.data through the import: exact counts, values and timestamps."""
    raw = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["userId", "movieId", "rating", "t"])
    engine = make_engine(db_url)
    ensure_schema(engine)
    result = import_ratings(
        engine, raw.rename(columns={"t": "timestamp"}), catalog(list(range(1, 1683)))
    )
    assert (result.n_ratings, result.n_new, result.n_users, result.n_movies) == (
        100_000,
        100_000,
        943,
        1_682,
    )
    frame, _ = ratings_frame(engine)
    expected = raw.sort_values(["userId", "movieId"]).reset_index(drop=True)
    assert frame["movieId"].tolist() == expected["movieId"].tolist()
    assert frame["rating"].tolist() == expected["rating"].astype(float).tolist()
    assert frame["timestamp"].tolist() == expected["t"].tolist()
    assert frame["userId"].nunique() == 943
    engine.dispose()
