"""Release parsers: the real ml-latest-small and synthetic files in each release's format."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.data.releases import (
    MOVIES_SCHEMA,
    RATINGS_SCHEMA,
    convert_release,
    load_release,
    read_parquet,
    read_ratings,
    write_parquet,
    write_ratings_csv,
)
from movierec.errors import ConfigError, DataError
from movierec.interactions import Interactions, ItemCatalog

# --------------------------------------------------------------------------- fixtures
ML1M_MOVIES = [
    "1::Toy Story (1995)::Animation|Children's|Comedy",
    "2::Misérables, Les (1995)::Drama|Musical",
    "3::Star Wars: Episode IV - A New Hope (1977)::Action|Adventure|Fantasy|Sci-Fi",
    "4::City of Lost Children, The (1995)::Adventure|Sci-Fi",
]
ML1M_RATINGS = [
    "1::1::5::978300760",
    "1::3::3::978302109",
    "2::2::4::978301968",
    "2::3::1::978300275",
    "3::4::2::978824291",
]


def _write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.fixture
def ml1m(tmp_path: Path) -> Path:
    d = tmp_path / "ml-1m"
    _write_lines(d / "movies.dat", ML1M_MOVIES, "latin-1")
    _write_lines(d / "ratings.dat", ML1M_RATINGS)
    _write_lines(d / "users.dat", ["1::F::1::10::48067"])
    return d


@pytest.fixture
def ml10m(tmp_path: Path) -> Path:
    d = tmp_path / "download" / "ml-10M100K"  # the zip's folder name differs from the release's
    _write_lines(
        d / "movies.dat",
        [
            "1::Toy Story (1995)::Adventure|Animation|Children|Comedy|Fantasy",
            "5::Father of the Bride Part II (1995)::Comedy",
            "8219::Turn of the Screw (1974)::(no genres listed)",
        ],
    )
    _write_lines(
        d / "ratings.dat",
        ["1::1::5::838985046", "1::5::3.5::838983525", "7::8219::0.5::1049764500"],
    )
    return tmp_path / "download"


ML25M_MOVIES = '''movieId,title,genres
1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
11,"American President, The (1995)",Comedy|Drama|Romance
3,"""Great Performances"" Cats (1998)",Musical
171749,Death Note: Desu nôto (2006–2007),(no genres listed)
140956,Ready Player One,Action|Sci-Fi|Thriller
6,Heat (1995) ,Action|Crime|Thriller
'''
ML25M_RATINGS = """userId,movieId,rating,timestamp
1,1,3.5,1112486027
1,11,4.0,1112484676
2,3,0.5,1112484819
2,171749,5.0,1112484727
3,140956,2.5,1112484580
3,6,1.0,1094785740
"""


@pytest.fixture
def ml25m(tmp_path: Path) -> Path:
    d = tmp_path / "ml-25m"
    d.mkdir()
    (d / "movies.csv").write_text(ML25M_MOVIES, encoding="utf-8")
    (d / "ratings.csv").write_text(ML25M_RATINGS, encoding="utf-8")
    return d


# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_ml_latest_small(shared_data: Path) -> None:
    ratings, movies = load_release("ml-latest-small", shared_data / "ml-latest-small")
    assert len(ratings) == 100_836
    assert ratings["userId"].nunique() == 610
    assert len(movies) == 9_742
    assert ratings["movieId"].nunique() == 9_724
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert [str(t) for t in ratings.dtypes] == ["int32", "int32", "float32", "int64"]
    assert (ratings["rating"].min(), ratings["rating"].max()) == (0.5, 5.0)
    assert sorted(ratings["rating"].unique()) == [x / 2 for x in range(1, 11)]
    assert list(movies.columns) == ["movieId", "title", "year", "genres"]
    toy = movies.set_index("movieId").loc[1]
    assert (toy["title"], toy["year"]) == ("Toy Story (1995)", 1995)
    assert toy["genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert (movies["genres"] == "").sum() == 34  # "(no genres listed)"
    assert movies["year"].isna().sum() == 12
    # the frames feed the core types directly, with the half-star scale inferred
    data = Interactions.from_frame(ratings)
    assert data.shape == (610, 9_724) and data.rating_scale == (0.5, 5.0)
    assert len(ItemCatalog.from_frame(movies)) == 9_742


@pytest.mark.realdata
def test_real_ml_latest_small_through_the_pipeline_steps(shared_data: Path, tmp_path: Path) -> None:
    """The ``--dataset ml-latest-small`` path: convert (here) → ingest → transform (5/20)."""
    import shutil

    from movierec.config import Layout
    from movierec.data.convert import convert
    from movierec.data.ingest import ingest
    from movierec.data.transform import transform

    layout = Layout(tmp_path, "ml-latest-small")
    shutil.copytree(shared_data / "ml-latest-small", layout.dataset_dir)
    convert(layout)
    result = ingest(layout)
    assert result.rating_scale == (0.5, 5.0) and len(result.ratings) == 100_836
    summary = transform(result.merged, 5, 20).summary
    assert (summary.ratings_after, summary.users_after, summary.movies_after) == (
        67_898,
        610,
        1_297,
    )


@pytest.mark.realdata
def test_real_parquet_round_trip(shared_data: Path, tmp_path: Path) -> None:
    paths = convert_release("ml-latest-small", shared_data / "ml-latest-small", tmp_path)
    ratings, movies = load_release("ml-latest-small", shared_data / "ml-latest-small")
    back = read_parquet(paths["ratings"], RATINGS_SCHEMA)
    pd.testing.assert_frame_equal(back, ratings)
    back_movies = read_parquet(paths["movies"], MOVIES_SCHEMA)
    assert back_movies["year"].dtype == "Int64"
    assert back_movies["title"].tolist() == movies["title"].tolist()
    assert back_movies["year"].isna().sum() == 12


# --------------------------------------------------------------------------- formats
def test_ml1m_dat_latin1(ml1m: Path) -> None:
    ratings, movies = load_release("ml-1m", ml1m)
    assert ratings.to_numpy().tolist() == [
        [int(x) for x in line.split("::")] for line in ML1M_RATINGS
    ]
    by_id = movies.set_index("movieId")
    assert by_id.loc[2, "title"] == "Misérables, Les (1995)"
    assert by_id.loc[3, "title"] == "Star Wars: Episode IV - A New Hope (1977)"
    assert by_id.loc[3, "year"] == 1977
    assert by_id.loc[1, "genres"] == "Animation|Children's|Comedy"


def test_ml10m_nested_folder_half_stars_no_genres(ml10m: Path) -> None:
    ratings, movies = load_release("ml-10m", ml10m)
    assert ratings["rating"].tolist() == [5.0, 3.5, 0.5]
    assert ratings["timestamp"].tolist() == [838985046, 838983525, 1049764500]
    assert movies.set_index("movieId").loc[8219, "genres"] == ""


def test_ml10m_movies_are_strict_utf8(ml10m: Path) -> None:
    """ml-10m's movies.dat is UTF-8 (accented titles decode); a Latin-1 byte is refused with
    its line instead of being decoded into another title."""
    folder = ml10m / "ml-10M100K"
    title = "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    _write_lines(folder / "movies.dat", ["1::Heat (1995)::Action", f"29::{title}::Drama"])
    _write_lines(folder / "ratings.dat", ["1::29::4.5::838985046"])
    _, movies = load_release("ml-10m", ml10m)
    assert movies["title"].tolist() == ["Heat (1995)", title]
    lines = ["1::Heat (1995)::Action", f"29::{title}::Drama"]
    _write_lines(folder / "movies.dat", lines, "latin-1")
    with pytest.raises(DataError, match=r"movies\.dat:2: not valid utf-8 text"):
        load_release("ml-10m", ml10m)


def test_ml25m_csv_quoting_years_and_genres(ml25m: Path) -> None:
    ratings, movies = load_release("ml-25m", ml25m)
    assert ratings["rating"].tolist() == [3.5, 4.0, 0.5, 5.0, 2.5, 1.0]
    by_id = movies.set_index("movieId")
    assert by_id.loc[11, "title"] == "American President, The (1995)"
    assert by_id.loc[3, "title"] == '"Great Performances" Cats (1998)'
    assert by_id.loc[171749, "year"] == 2006 and by_id.loc[171749, "genres"] == ""
    assert pd.isna(by_id.loc[140956, "year"])
    assert by_id.loc[6, "title"] == "Heat (1995)" and by_id.loc[6, "year"] == 1995


# --------------------------------------------------------------------------- bad input
def test_unknown_release_name() -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'ml-7m'.*ml-25m"):
        load_release("ml-7m", ".")


def test_missing_files(tmp_path: Path) -> None:
    message = "ratings.csv not found; run 'movierec download' first .the ml-25m files"
    with pytest.raises(DataError, match=message):
        load_release("ml-25m", tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2::2:4::978301968", r"ratings.dat:3: .*expected 4 '::'-separated fields, got 3"),
        ("2:9:2::4::978301968", r"ratings.dat:3: stray ':' after userId: invalid value '9'"),
        (
            "2::x::4::978301968",
            r"dat:3: column movieId: not a valid int32: invalid value 'x'",
        ),
        ("2::2::::978301968", r"ratings.dat:3: rating is empty"),
        ("2::2::3.5::978301968", r"ratings.dat:3: 3.5 is not 1-5 in whole stars"),
        ("2::2::6::978301968", r"ratings.dat:3: 6 is not 1-5"),
    ],
)
def test_dat_malformed_rows_name_the_line(ml1m: Path, line: str, message: str) -> None:
    lines = [*ML1M_RATINGS[:2], line, *ML1M_RATINGS[2:]]
    _write_lines(ml1m / "ratings.dat", lines)
    with pytest.raises(DataError, match=message):
        load_release("ml-1m", ml1m)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2,3,4.0", r"ratings.csv:4: Expected 4 columns, got 3"),
        ("2,3,four,1", r"ratings.csv:4: column rating: .*invalid value 'four'"),
        ("2,3,4.25,1", r"ratings.csv:4: 4.25 is not 0.5-5 in half stars"),
        ("2,3,0.0,1", r"ratings.csv:4: 0 is not 0.5-5"),
        (",3,4.0,1", r"ratings.csv:4: userId is empty"),
        ("2,3,4.0,", r"ratings.csv:4: timestamp is empty"),
        ("", r"ratings.csv:4: empty line"),
    ],
)
def test_csv_malformed_rows_name_the_line(ml25m: Path, row: str, message: str) -> None:
    lines = ML25M_RATINGS.splitlines()
    _write_lines(ml25m / "ratings.csv", [*lines[:3], row, *lines[3:]])
    with pytest.raises(DataError, match=message):
        load_release("ml-25m", ml25m)


def test_csv_header_must_name_the_columns(ml25m: Path) -> None:
    (ml25m / "ratings.csv").write_text("user,movieId,rating,timestamp\n1,1,3.5,1\n")
    with pytest.raises(DataError, match=r"ratings.csv:1: header lacks column\(s\) userId"):
        load_release("ml-25m", ml25m)


def test_duplicate_pair_names_both_lines(ml25m: Path) -> None:
    lines = ML25M_RATINGS.splitlines()
    _write_lines(ml25m / "ratings.csv", [*lines, "1,11,2.0,1112484999"])
    with pytest.raises(DataError, match=r"movie 11 by user 1 at .*ratings.csv:3 and line 8"):
        load_release("ml-25m", ml25m)
    ratings, _ = load_release("ml-25m", ml25m, validate=False)
    assert len(ratings) == 7


def test_adjacent_duplicate_in_a_sorted_file(ml25m: Path) -> None:
    lines = ML25M_RATINGS.splitlines()
    _write_lines(ml25m / "ratings.csv", [*lines[:2], "1,1,4.5,1112486030", *lines[2:]])
    with pytest.raises(DataError, match=r"movie 1 by user 1 at .*ratings.csv:2 and line 3"):
        load_release("ml-25m", ml25m)


def test_rating_of_unknown_movie(ml25m: Path) -> None:
    lines = ML25M_RATINGS.splitlines()
    _write_lines(ml25m / "ratings.csv", [*lines, "4,999,2.0,1112484999"])
    with pytest.raises(DataError, match=r"ratings.csv:8 is for movie 999, which is not in"):
        load_release("ml-25m", ml25m)


def test_malformed_movies(ml25m: Path, ml1m: Path) -> None:
    (ml25m / "movies.csv").write_text(ML25M_MOVIES + "x7,Broken (1999),Drama\n")
    with pytest.raises(DataError, match=r"movies.csv:8: movieId 'x7' is not an integer"):
        load_release("ml-25m", ml25m)
    (ml25m / "movies.csv").write_text(ML25M_MOVIES + "1,Toy Story again (1995),Drama\n")
    with pytest.raises(DataError, match=r"duplicate movieId 1 at .*movies.csv:8"):
        load_release("ml-25m", ml25m)
    _write_lines(ml1m / "movies.dat", [*ML1M_MOVIES, "5::No genres field"], "latin-1")
    with pytest.raises(DataError, match=r"movies.dat:5: expected MovieID::Title::Genres"):
        load_release("ml-1m", ml1m)
    (ml25m / "movies.csv").write_bytes(ML25M_MOVIES.encode() + b"9,Caf\xe9 (1995),Drama\n")
    with pytest.raises(DataError, match=r"movies.csv:8: .*invalid UTF8"):
        load_release("ml-25m", ml25m)


def _big_ratings(path: Path, n_rows: int, bad_line: int) -> None:
    """``n_rows`` valid distinct-looking rows with a malformed one at physical ``bad_line``."""
    row = b"1,2,3.5,1112486027\n"
    with path.open("wb") as fh:
        fh.write(b"userId,movieId,rating,timestamp\n")
        before = bad_line - 2  # data rows before the bad one (line 1 is the header)
        chunk = row * 1_000_000
        for _ in range(before // 1_000_000):
            fh.write(chunk)
        fh.write(row * (before % 1_000_000))
        fh.write(b"1,2,3.5\n")
        fh.write(row * (n_rows - before - 1))


@pytest.mark.slow
def test_malformed_row_at_line_19_000_001(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    _big_ratings(path, 19_500_000, 19_000_001)
    start = time.perf_counter()
    try:
        with pytest.raises(DataError, match=r"ratings.csv:19000001: Expected 4 columns, got 3"):
            read_ratings(path, "ml-25m")
        assert time.perf_counter() - start < 60
    finally:
        path.unlink()  # 370 MB: do not leave it in pytest's kept temp dirs


def test_malformed_row_deep_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    _big_ratings(path, 1_200_000, 1_000_001)
    with pytest.raises(DataError, match=r"ratings.csv:1000001: Expected 4 columns, got 3"):
        read_ratings(path, "ml-25m")


# --------------------------------------------------------------------------- parquet / csv
def test_parquet_wrong_schema(tmp_path: Path) -> None:
    bad = pd.DataFrame({"userId": [1], "movieId": [2], "rating": ["good"]})
    bad.to_parquet(tmp_path / "ratings.parquet")
    with pytest.raises(
        DataError,
        match=r"ratings.parquet: wrong schema: column rating is "
        r"(string|large_string), expected float; column timestamp is missing",
    ):
        read_parquet(tmp_path / "ratings.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="junk.parquet is not a readable Parquet file"):
        read_parquet(tmp_path / "junk.parquet")
    with pytest.raises(DataError, match="Parquet file not found"):
        read_parquet(tmp_path / "absent.parquet")


def test_parquet_write_is_atomic(ml25m: Path, tmp_path: Path) -> None:
    ratings, _ = load_release("ml-25m", ml25m)
    target = write_parquet(ratings, tmp_path / "out" / "ratings.parquet", RATINGS_SCHEMA)
    before = target.read_bytes()
    broken = ratings.assign(rating="x")  # cannot be cast to float32: the write fails
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        write_parquet(broken, target, RATINGS_SCHEMA)
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["ratings.parquet"]


def test_disk_full_keeps_the_previous_parquet(
    ml25m: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import pyarrow.parquet as pq

    from movierec.atomic import DiskFullError

    ratings, _ = load_release("ml-25m", ml25m)
    target = write_parquet(ratings, tmp_path / "ratings.parquet", RATINGS_SCHEMA)
    before = target.read_bytes()

    def full(table: object, where: Path, **kwargs: object) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(DiskFullError, match="disk full while writing .*ratings.parquet"):
        write_parquet(ratings.head(2), target, RATINGS_SCHEMA)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_ratings_csv_round_trip(ml25m: Path, tmp_path: Path) -> None:
    ratings, _ = load_release("ml-25m", ml25m)
    path = write_ratings_csv(ratings, tmp_path / "ratings.csv")
    assert path.read_text().splitlines()[:2] == [
        "userId,movieId,rating,timestamp",
        "1,1,3.5,1112486027",
    ]
    assert path.read_text() == ML25M_RATINGS  # byte-for-byte the published layout
    pd.testing.assert_frame_equal(read_ratings(path, "ml-25m"), ratings)
    odd = ratings.assign(rating=np.float32(3.3))  # not a half star: still written, readable
    write_ratings_csv(odd, path)
    assert path.read_text().splitlines()[1].startswith("1,1,3.3")


def test_convert_feeds_ingest(ml1m: Path, tmp_path: Path) -> None:
    """The files the convert step writes for ml-1m read back through ingest."""
    import shutil

    from movierec.config import Layout
    from movierec.data.convert import convert
    from movierec.data.ingest import ingest

    layout = Layout(tmp_path, "ml-1m")
    shutil.copytree(ml1m, layout.dataset_dir)
    ratings, movies = load_release("ml-1m", ml1m)
    convert(layout)
    back = ingest(layout)
    assert back.ratings[["userId", "movieId", "rating"]].to_numpy().tolist() == (
        ratings[["userId", "movieId", "rating"]].to_numpy().tolist()
    )
    assert back.rating_scale == (1.0, 5.0)
    assert back.movies["title"].tolist() == movies["title"].tolist()
    assert back.movies.set_index("movieId").loc[3, "year"] == 1977
    text = layout.movies_csv.read_text(encoding="utf-8")
    assert "Misérables, Les (1995)" in text
