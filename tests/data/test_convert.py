"""convert(): exact u.data / u.item parsing, line-numbered errors, atomic writes."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.atomic import DiskFullError
from movierec.config import Layout
from movierec.data import textfiles
from movierec.data.convert import convert
from movierec.data.ml100k import read_u_data, read_u_genre, read_u_item
from movierec.data.synthetic import LATIN1_TITLE, ML100K_GENRES, UNDATED_TITLE
from movierec.errors import DataError
from tests.data.helpers import leftovers


@pytest.fixture
def installed(layout: Layout, synth_dir: Path) -> Layout:
    """``layout`` with the synthetic release copied into data/raw/ml-100k/ (editable)."""
    shutil.copytree(synth_dir, layout.dataset_dir)
    return layout


def _raw_u_data(path: Path) -> np.ndarray:
    """Reference parse of u.data with plain Python (no pandas)."""
    rows = [list(map(int, line.split("\t"))) for line in path.read_text().splitlines()]
    return np.array(rows, dtype=np.int64)


def _edit_line(path: Path, number: int, text: str) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = text.encode("latin-1")
    path.write_bytes(b"\n".join(lines))


# ---------------------------------------------------------------------------- happy path
def test_convert_roundtrip(installed: Layout):
    ratings_csv, movies_csv = convert(installed)
    assert (ratings_csv, movies_csv) == (installed.ratings_csv, installed.movies_csv)
    ratings = pd.read_csv(ratings_csv)
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    np.testing.assert_array_equal(ratings.to_numpy(), _raw_u_data(installed.dataset_dir / "u.data"))
    text = movies_csv.read_text(encoding="utf-8")  # valid UTF-8, Latin-1 title intact
    assert text.splitlines()[0] == "movieId,title,year,release_date,genres,imdb_url"
    movies = pd.read_csv(movies_csv, keep_default_na=False, dtype=str).set_index("movieId")
    assert movies.at["2", "title"] == LATIN1_TITLE
    assert movies.at["4", "title"] == UNDATED_TITLE
    assert leftovers(installed.raw_dir) == []


def test_read_u_item_quirks(synth_dir: Path):
    movies = read_u_item(synth_dir / "u.item").set_index("movieId")
    assert movies.at[2, "title"] == "Á köldum klaka (Cold Fever) (1994)"
    unknown = movies.loc[3]  # like the real movie 267: no date, no URL, only 'unknown' genre
    assert unknown["title"] == "unknown"
    assert pd.isna(unknown["year"]) and unknown["release_date"] == ""
    assert unknown["genres"] == "" and unknown["imdb_url"] == ""
    assert movies.at[4, "year"] == 1993 and movies.at[4, "release_date"] == ""  # title year
    assert str(movies["year"].dtype) == "Int64"


def test_genres_and_dates_against_a_reference(synth_dir: Path):
    movies = read_u_item(synth_dir / "u.item")
    lines = (synth_dir / "u.item").read_bytes().decode("latin-1").splitlines()
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    for line, (_, row) in zip(lines, movies.iterrows(), strict=True):
        f = line.split("|")
        names = [g for g, flag in zip(ML100K_GENRES, f[5:], strict=True) if flag == "1"]
        assert row["genres"] == "|".join(n for n in names if n != "unknown")
        if f[2]:
            d, m, y = f[2].split("-")
            assert row["release_date"] == f"{y}-{months.index(m) + 1:02d}-{int(d):02d}"
        assert row["title"] == f[1] and row["imdb_url"] == f[4]


def test_read_u_data_dtypes_and_splits(synth_dir: Path):
    frame = read_u_data(synth_dir / "u.data")
    assert frame.dtypes.astype(str).to_dict() == {
        "userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"
    }  # fmt: skip
    base, test = read_u_data(synth_dir / "u1.base"), read_u_data(synth_dir / "u1.test")
    assert len(base) + len(test) == len(frame)


def test_u_genre(synth_dir: Path, tmp_path: Path):
    assert read_u_genre(synth_dir / "u.genre") == ML100K_GENRES
    bad = tmp_path / "u.genre"
    bad.write_text("Action|1\nDrama\n")
    with pytest.raises(DataError, match="u.genre line 2"):
        read_u_genre(bad)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "line",
    ["1\t2\t3", "1\t2\t3\t4\t5", "1\tx\t3\t881250949", "", "1 2 3 881250949", "1\t2\t3.5\t8"],
    ids=["too-few", "too-many", "not-int", "blank", "spaces", "float"],
)
def test_malformed_u_data_line_is_named(installed: Layout, line: str):
    path = installed.dataset_dir / "u.data"
    _edit_line(path, 42, line)
    with pytest.raises(DataError) as err:
        read_u_data(path)
    assert str(err.value).startswith("u.data line 42: expected 4 tab-separated integer fields")


def test_malformed_first_line(installed: Layout):
    path = installed.dataset_dir / "u.data"
    _edit_line(path, 1, "1\t2\t3\t4\t5")
    with pytest.raises(DataError, match="u.data line 1: expected 4"):
        read_u_data(path)


@pytest.mark.parametrize("rating", [0, 6])
def test_rating_out_of_range(installed: Layout, rating: int):
    path = installed.dataset_dir / "u.data"
    _edit_line(path, 7, f"1\t2\t{rating}\t881250949")
    with pytest.raises(DataError, match=f"u.data line 7: rating {rating} outside the 1-5 scale"):
        convert(installed)


def test_non_positive_id(installed: Layout):
    path = installed.dataset_dir / "u.data"
    _edit_line(path, 3, "0\t2\t3\t881250949")
    with pytest.raises(DataError, match="u.data line 3: user and movie ids must be positive"):
        read_u_data(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("9|Broken (1990)|01-Jan-1990||url|0|1", "u.item line 9: expected 24"),
        ("9|Broken (1990)|01-Jan-1990||url" + "|0" * 18 + "|0|1", "u.item line 9: expected 24"),
        ("x|Broken (1990)|01-Jan-1990||url" + "|0" * 19, "u.item line 9: movie id 'x'"),
        ("9|Broken (1990)|31-Foo-1990||url" + "|0" * 19, "u.item line 9: bad release date"),
        ("9|Broken (1990)|01-Jan-1990||url" + "|0" * 18 + "|2", "u.item line 9: genre flags"),
        ("1|Duplicate (1990)|01-Jan-1990||url" + "|0" * 19, "u.item line 9: duplicate movie id"),
    ],
    ids=["too-few", "too-many", "bad-id", "bad-date", "bad-flag", "duplicate"],
)
def test_malformed_u_item(installed: Layout, line: str, message: str):
    path = installed.dataset_dir / "u.item"
    _edit_line(path, 9, line)
    with pytest.raises(DataError, match=message):
        read_u_item(path)


@pytest.mark.parametrize("name", ["u.data", "u.item", "u.genre"])
def test_missing_file(installed: Layout, name: str):
    (installed.dataset_dir / name).unlink()
    with pytest.raises(DataError, match=f"{name} not found; run 'movierec download' first"):
        convert(installed)


def test_bad_u_item_writes_nothing(installed: Layout):
    convert(installed)
    before = installed.ratings_csv.read_bytes(), installed.movies_csv.read_bytes()
    _edit_line(installed.dataset_dir / "u.data", 5, "1\t1\t5\t1")  # would change ratings.csv
    _edit_line(installed.dataset_dir / "u.item", 2, "broken")
    with pytest.raises(DataError):
        convert(installed)
    assert (installed.ratings_csv.read_bytes(), installed.movies_csv.read_bytes()) == before


# ---------------------------------------------------------------------------- interruptions
@pytest.mark.parametrize(
    ("exc", "expected"),
    [(KeyboardInterrupt(), KeyboardInterrupt), (OSError(errno.ENOSPC, "full"), DiskFullError)],
)
def test_interrupted_write_keeps_previous_csvs(installed: Layout, monkeypatch, exc, expected):
    convert(installed)
    before = installed.ratings_csv.read_bytes(), installed.movies_csv.read_bytes()
    _edit_line(installed.dataset_dir / "u.data", 5, "1\t1\t5\t1")

    def broken(table, out, options=None):
        out.write(b"1,2,")
        raise exc

    monkeypatch.setattr(textfiles.pacsv, "write_csv", broken)
    with pytest.raises(expected):
        convert(installed)
    assert (installed.ratings_csv.read_bytes(), installed.movies_csv.read_bytes()) == before
    assert leftovers(installed.raw_dir) == []


def test_disk_full_on_movies_csv(installed: Layout, monkeypatch):
    convert(installed)
    before = installed.movies_csv.read_bytes()

    def full(self, path, *args, **kwargs):
        Path(path).write_text("movieId,ti")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(DiskFullError, match="movies.csv"):
        convert(installed)
    assert installed.movies_csv.read_bytes() == before
    assert leftovers(installed.raw_dir) == []
