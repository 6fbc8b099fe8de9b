"""Malformed rows of a ratings CSV read by the Spark engine: one line naming file and line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from movierec.errors import DataError
from movierec.spark import engine as E

pytestmark = pytest.mark.spark
HEADER = "userId,movieId,rating,timestamp"
GOOD = [f"{u},{m},{(u + m) % 10 / 2 + 0.5},{1112486000 + m}" for u in range(1, 7) for m in (1, 2)]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2,3,4.0", r"malformed row at .*ratings.csv:7: Expected 4 columns, got 3"),
        ("2,3,4.0,1,9", r"ratings.csv:7: Expected 4 columns, got 5"),
        ("2,3,four,1", r"ratings.csv:7: column rating: not a valid float: 'four'"),
        ("2,3,3.7,1", r"invalid rating at .*ratings.csv:7: 3.7 is not 0.5-5 in half stars"),
        ("2,3,0.0,1", r"ratings.csv:7: 0 is not 0.5-5"),
        ("2,3,NaN,1", r"ratings.csv:7: nan is not 0.5-5"),
        (",3,4.0,1", r"ratings.csv:7: userId is empty"),
        ("-2,3,4.0,1", r"negative id at .*ratings.csv:7"),
        ("3000000000,3,4.0,1", r"ratings.csv:7: column userId: 3000000000 is out of int32 range"),
        (HEADER, r"ratings.csv:7: column userId: not a valid int32: 'userId'"),
        (" 2,3,4.0,1", r"ratings.csv:7: Spark cannot parse ' 2,3,4.0,1'"),
    ],
)
def test_bad_row_names_file_and_line(spark: Any, tmp_path: Path, row: str, message: str) -> None:
    # line 1 header, 2-3 good, 4 blank, 5 whitespace (both skipped, both counted), 6 good, 7 bad
    lines = [HEADER, *GOOD[:2], "", "   ", GOOD[2], row, *GOOD[3:]]
    path = _write(tmp_path / "ratings.csv", lines)
    with pytest.raises(DataError, match=message) as err:
        E.read_ratings(spark, path)
    assert "\n" not in str(err.value)


def test_good_csv_with_blank_lines_reads_every_row(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "ratings.csv", [HEADER, *GOOD[:3], "", *GOOD[3:]])
    df = E.read_ratings(spark, path)
    assert df.is_cached  # transform's passes read the parsed rows, not the text
    got = df.toPandas()
    assert len(got) == len(GOOD) and list(got.columns) == [*E.RATINGS_COLUMNS, "timestamp"]
    df.unpersist()


def test_header_is_checked(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path / "ratings.csv", ["movieId,userId,rating,timestamp", *GOOD])
    with pytest.raises(DataError, match=r"ratings.csv:1: header must be userId,movieId,rating"):
        E.read_ratings(spark, path)


@pytest.fixture
def many_splits(spark: Any) -> Iterator[Any]:
    """Files split into ~32 KiB partitions, so a 0.9 MB file spans dozens of splits."""
    conf = spark.conf
    saved = {k: conf.get(k) for k in ("spark.sql.files.maxPartitionBytes",
                                       "spark.sql.files.openCostInBytes")}  # fmt: skip
    conf.set("spark.sql.files.maxPartitionBytes", "32768")
    conf.set("spark.sql.files.openCostInBytes", "0")
    yield spark
    for key, value in saved.items():
        conf.set(key, value)


@pytest.mark.parametrize("bad_line", [2, 40_002])
def test_line_number_is_exact_across_many_splits(
    many_splits: Any, tmp_path: Path, bad_line: int
) -> None:
    """Blank lines and ~28 splits in; the reported line is the physical line."""
    rows = [
        f"{1 + i // 50},{1 + i % 50},{(i % 10) / 2 + 0.5},{1112486000 + i}" for i in range(40_000)
    ]
    rows[777] = ""  # a blank line before most of the bad ones (line 779)
    lines = [HEADER, *rows]
    lines.insert(bad_line - 1, "7,7,4.25,1")
    path = _write(tmp_path / "ratings.csv", lines)
    assert many_splits.read.text(str(path)).rdd.getNumPartitions() > 20
    with pytest.raises(DataError, match=rf"ratings.csv:{bad_line}: 4.25 is not 0.5-5"):
        E.read_ratings(many_splits, path)


def test_bad_csv_leaves_the_store_intact(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m movierec.spark`` on a bad CSV: exit 3, one line, the stored run unchanged."""
    from sqlalchemy import create_engine

    from movierec.data.transform import TransformSummary
    from movierec.spark.__main__ import main
    from movierec.store.queries import current_run

    db = f"sqlite:///{tmp_path / 'store.db'}"
    recs = pd.DataFrame({"userId": [1, 1], "rank": [1, 2], "movieId": [5, 6], "score": [2.0, 1.0]})
    previous = E.SparkRun(TransformSummary(2, 1, 2, 2, 1, 2, 0, 0), recs, None, 0,
                          data_fingerprint="0" * 16)  # fmt: skip
    assert E.write_store(db, previous) == 1
    lines = [HEADER, *(f"{1 + i // 40},{1 + i % 40},3.5,{i}" for i in range(2_000))]
    lines[1234] = lines[1234].rsplit(",", 1)[0]  # line 1235 loses its timestamp
    bad = _write(tmp_path / "ratings.csv", lines)
    assert main(["--ratings", str(bad), "--db", db]) == 3  # DataError's exit code
    err = capsys.readouterr().err.strip()
    assert err == f"error: malformed row at {bad}:1235: Expected 4 columns, got 3"
    engine = create_engine(db)
    with engine.connect() as conn:
        run = current_run(conn)
        assert run is not None and (run.id, run.n_recommendations) == (1, 2)
    engine.dispose()
