"""ingest(): typed loading, validation with counts/examples, the merged frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.config import Layout
from movierec.data.convert import convert
from movierec.data.datasets import get_dataset
from movierec.data.ingest import ingest, load_movies, load_ratings
from movierec.data.synthetic import LATIN1_TITLE
from movierec.errors import DataError


@pytest.fixture
def converted(layout: Layout, synth_dir: Path) -> Layout:
    shutil.copytree(synth_dir, layout.dataset_dir)
    convert(layout)
    return layout


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_ingest_types_and_merge(converted: Layout):
    result = ingest(converted)
    r = result.ratings
    assert r.dtypes.astype(str).to_dict() == {
        "userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"
    }  # fmt: skip
    raw = pd.read_csv(converted.dataset_dir / "u.data", sep="\t", header=None).to_numpy()
    np.testing.assert_array_equal(r.to_numpy(dtype=np.int64), raw)
    assert result.rating_scale == (1.0, 5.0)
    m = result.merged
    assert len(m) == len(r) and list(m.columns[:4]) == list(r.columns)
    titles = result.movies.set_index("movieId")["title"]
    np.testing.assert_array_equal(m["title"].to_numpy(), titles.loc[r["movieId"]].to_numpy())
    assert LATIN1_TITLE in set(m["title"])
    assert f"{len(r):,} ratings from" in str(result)


def test_load_movies_from_convert(converted: Layout):
    movies = load_movies(converted.movies_csv).set_index("movieId")
    assert movies.at[2, "title"] == LATIN1_TITLE
    assert pd.isna(movies.at[3, "year"]) and movies.at[3, "genres"] == ""
    assert str(movies["year"].dtype) == "Int64"


def test_load_movies_csv_release_style(tmp_path: Path):
    path = _write(
        tmp_path / "movies.csv",
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
        '2,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Drama\n'
        "3,No Year,(no genres listed)\n",
    )
    movies = load_movies(path).set_index("movieId")
    assert movies["year"].tolist()[:2] == [1995, 1995] and pd.isna(movies.at[3, "year"])
    assert movies.at[2, "title"].startswith("City of Lost Children, The (Cité")
    assert movies.at[3, "genres"] == ""


def test_duplicate_pairs(tmp_path: Path):
    path = _write(
        tmp_path / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,5,10\n1,2,3,11\n2,1,4,12\n1,2,4,13\n2,1,1,14\n",
    )
    with pytest.raises(DataError) as err:
        load_ratings(path)
    msg = str(err.value)
    assert msg.startswith("ratings.csv line 5: 2 duplicate (userId, movieId) pair(s)")
    assert "(1, 2)" in msg and "(2, 1)" in msg


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,1,5,10\n1,2,7,11\n", "line 3: rating 7 outside the 1-5 scale"),
        ("1,1,5,10\n1,2,0.5,11\n", "line 3: rating 0.5 outside the 1-5 scale"),
        ("1,1,5,10\n1,x,3,11\n", "line 3: movieId 'x' is not a number"),
        ("1,1,5,10\n1,2,,11\n", "line 3: empty rating"),
        ("1,1,5,10\n1,2,3\n", "line 3: timestamp '' is not a number"),
        ("1,1,5,10\n1,2,3,4,5\n", "line 3: expected 4 fields"),
        ("1,1,5,10,9\n1,2,3,4\n", "line 2: expected 4 fields"),
        ("1,1,5,10\n-1,2,3,4\n", "line 3: ids must be positive"),
        ("1,1,5,10\n1,1.5,3,4\n", "line 3: movieId '1.5' is not a number"),
        ("1,1,5,10\n1,2,2.5,11\n", "line 3: rating 2.5 is not in whole stars on the 1-5 scale"),
    ],
)
def test_bad_ratings_csv(tmp_path: Path, body: str, message: str):
    path = _write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n" + body)
    with pytest.raises(DataError, match=message):
        load_ratings(path, get_dataset("ml-100k").scale)


def test_half_stars_accepted_on_the_default_scale(tmp_path: Path):
    path = _write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,1,0.5,10\n1,2,4.5,11\n")
    assert load_ratings(path)["rating"].tolist() == [0.5, 4.5]


@pytest.mark.parametrize("rating", ["3.7", "4.25", "0.75"])
def test_half_star_grid_of_the_csv_releases(tmp_path: Path, rating: str):
    scale = get_dataset("ml-latest-small").scale
    body = f"userId,movieId,rating,timestamp\n1,1,0.5,10\n1,2,4.5,11\n2,1,{rating},12\n"
    path = _write(tmp_path / "ratings.csv", body)
    msg = f"ratings.csv line 4: rating {rating} is not in half stars on the 0.5-5 scale"
    with pytest.raises(DataError, match=msg):
        load_ratings(path, scale)


def test_ingest_refuses_a_rating_off_the_datasets_grid(converted: Layout):
    """ml-100k is whole stars: a 2.5 edited into the converted ratings.csv is refused."""
    lines = converted.ratings_csv.read_text().splitlines()
    user, movie, _, stamp = lines[41].split(",")
    lines[41] = f"{user},{movie},2.5,{stamp}"
    converted.ratings_csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="ratings.csv line 42: rating 2.5 is not in whole stars"):
        ingest(converted)


def test_missing_columns_and_files(tmp_path: Path):
    path = _write(tmp_path / "ratings.csv", "user,movieId,rating\n1,1,5\n")
    with pytest.raises(DataError, match="ratings.csv is missing column"):
        load_ratings(path)
    with pytest.raises(DataError, match="movies.csv is missing column"):
        load_movies(_write(tmp_path / "movies.csv", "movieId,name\n1,x\n"))
    with pytest.raises(DataError, match="not found; run 'movierec convert' first"):
        load_ratings(tmp_path / "nope.csv")


def test_duplicate_movie_ids(tmp_path: Path):
    path = _write(tmp_path / "movies.csv", "movieId,title,genres\n1,A,\n2,B,\n1,C,\n")
    with pytest.raises(DataError, match="1 duplicate movieId"):
        load_movies(path)


def test_rated_movie_missing_from_catalogue(converted: Layout):
    movies = pd.read_csv(converted.movies_csv, dtype=str, keep_default_na=False)
    rated = pd.read_csv(converted.ratings_csv)["movieId"]
    drop = {2, 5}
    movies[~movies["movieId"].astype(int).isin(drop)].to_csv(converted.movies_csv, index=False)
    n = int(rated.isin(drop).sum())
    with pytest.raises(DataError, match=f"{n} rating\\(s\\) of 2 movie\\(s\\) missing.*2, 5"):
        ingest(converted)


def test_ingest_without_convert(layout: Layout):
    with pytest.raises(DataError, match="ratings.csv not found"):
        ingest(layout)
