"""CLI: the dataset registry (``datasets``, ``--dataset``), ``synth``, and other releases."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from movierec.cli import main
from movierec.data.datasets import dataset_names
from tests.conftest import unavailable
from tests.test_cli import assert_one_line_error, run_cli

STEPS_WITH_DATASET = [
    ["download"],
    ["convert"],
    ["ingest"],
    ["transform"],
    ["train"],
    ["recommend", "--user", "1"],
    ["store"],
    ["pipeline"],
    ["evaluate"],
    ["serve"],
    ["db", "runs"],
    ["db", "export", "--run", "1", "--out", "x.csv"],
]


def test_datasets_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["datasets"], capsys)
    assert code == 0
    lines = out.splitlines()
    for name in dataset_names():
        row = next(line for line in lines if f" {name} " in line)
        assert f"/{name}.zip" in row
    small = next(line for line in lines if " ml-latest-small " in line)
    for cell in ("100,836", "610", "9,742", "0.5-5"):
        assert cell in small
    assert "1-5" in next(line for line in lines if " ml-100k " in line)


@pytest.mark.parametrize(
    "args", STEPS_WITH_DATASET, ids=lambda a: "-".join(a[: 1 + (a[0] == "db")])
)
def test_unknown_dataset_is_one_line_error(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli([*args, "--dataset", "ml-2m", "--home", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "unknown dataset 'ml-2m'", "ml-100k", "ml-latest-small")
    assert not (tmp_path / "data").exists()


def test_unknown_dataset_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOVIEREC_DATASET", "ml-3m")
    code, _, err = run_cli(["ingest", "--home", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "unknown dataset 'ml-3m'", "ml-25m")


def test_synth_writes_exact_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "synth"
    args = ["synth", "--ratings", "3k", "--users", "120", "--movies", "0.4k", "--out"]
    code, out, _ = run_cli([*args, str(out_dir), "--seed", "3"], capsys)
    assert code == 0, out
    assert "3,000 ratings of 120 users on 400 movies" in out
    ratings = pd.read_csv(out_dir / "ratings.csv")
    movies = pd.read_csv(out_dir / "movies.csv")
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert len(ratings) == 3000 and ratings["userId"].nunique() == 120
    assert len(movies) == 400 and ratings["movieId"].isin(movies["movieId"]).all()
    first = (out_dir / "ratings.csv").read_bytes()
    code, _, _ = run_cli([*args, str(out_dir), "--seed", "3"], capsys)
    assert code == 0 and (out_dir / "ratings.csv").read_bytes() == first


@pytest.mark.parametrize("bad", ["2x", "0", "-5", "1.5"])
def test_synth_bad_count_is_one_line_error(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["synth", "--ratings", "1k", "--users", bad, "--movies", "100"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "s")], capsys)
    assert_one_line_error(code, err, repr(bad))
    assert not (tmp_path / "s").exists()


def _ok(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:  # pragma: no cover - fails the test with the step named
        assert not exc.code, f"{args} exited {exc.code}"


def test_ml1m_format_through_the_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny release in ml-1m's exact format (``::``, Latin-1) goes download -> ingest."""
    src = tmp_path / "src" / "ml-1m"
    src.mkdir(parents=True)
    rows = [f"{u}::{m}::{1 + (u + m) % 5}::97830{u}{m}" for u in (1, 2, 3) for m in (1, 2, 3, 5)]
    (src / "ratings.dat").write_text("\n".join(rows) + "\n", encoding="latin-1")
    movies = [
        "1::Toy Story (1995)::Animation|Children's|Comedy",
        "2::Jumanji (1995)::Adventure|Children's|Fantasy",
        "3::Désiré (1937)::Comedy",
        "5::Father of the Bride Part II (1995)::Comedy",
    ]
    (src / "movies.dat").write_text("\n".join(movies) + "\n", encoding="latin-1")
    (src / "users.dat").write_text("1::F::1::10::48067\n", encoding="latin-1")
    home = ["--home", str(tmp_path / "home"), "--dataset", "ml-1m"]
    _ok(["download", "--source", str(src.parent), *home])
    _ok(["convert", *home])
    code, out, err = run_cli(["ingest", *home], capsys)
    assert code == 0, err
    assert "12 ratings from 3 users on 4 movies (4 in the catalogue), ratings 1-5" in out
    written = pd.read_csv(tmp_path / "home" / "data" / "raw" / "movies.csv")
    assert written["title"].tolist()[2] == "Désiré (1937)"
    assert written["year"].tolist() == [1995, 1995, 1937, 1995]


# ---------------------------------------------------------------- real ml-latest-small
@pytest.fixture(scope="module")
def small_home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Every step run once via the CLI on the real ml-latest-small (folder source)."""
    if not (shared_data / "ml-latest-small" / "ratings.csv").is_file():
        unavailable("ml-latest-small not found in the shared data")
    home = tmp_path_factory.mktemp("small")
    common = ["--home", str(home), "--dataset", "ml-latest-small"]
    _ok(["download", "--source", str(shared_data / "ml-latest-small"), *common])
    for step in (["convert"], ["ingest"], ["transform"], ["train", "-m", "user-knn"]):
        _ok([*step, *common])
    return home


@pytest.mark.realdata
def test_ml_latest_small_counts(small_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (small_home / "data/raw/ml-latest-small/ratings.csv").is_file()
    common = ["--home", str(small_home), "--dataset", "ml-latest-small"]
    code, out, _ = run_cli(["ingest", *common], capsys)
    assert code == 0
    assert out.strip() == (
        "100,836 ratings from 610 users on 9,724 movies (9,742 in the catalogue), ratings 0.5-5"
    )
    clean = pd.read_csv(small_home / "data/processed/ratings_clean.csv")
    assert (len(clean), clean["userId"].nunique(), clean["movieId"].nunique()) == (
        67_898,
        610,
        1_297,
    )
    assert set(clean["rating"].unique()) == {k / 2 for k in range(1, 11)}


@pytest.mark.realdata
def test_ml_latest_small_recommend_user_1(
    small_home: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--home", str(small_home), "--dataset", "ml-latest-small"]
    code, out, err = run_cli(["recommend", "--user", "1", "-n", "10", "--json", *common], capsys)
    assert code == 0, err
    recs = json.loads(out)["recommendations"]
    assert len(recs) == 10
    ratings = pd.read_csv(shared_data / "ml-latest-small" / "ratings.csv")
    seen = set(ratings.loc[ratings["userId"] == 1, "movieId"])
    assert len(seen) == 232
    assert not seen & {r["movieId"] for r in recs}
    assert all(0.5 <= r["predictedRating"] <= 5.0 for r in recs)


@pytest.mark.realdata
def test_stale_model_is_refused_after_the_data_changes(
    small_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Switching dataset (or data) in one home: a model fitted on other data is refused."""
    clean = small_home / "data/processed/ratings_clean.csv"
    backup = clean.read_bytes()
    try:
        frame = pd.read_csv(clean)
        frame.iloc[:-1].to_csv(clean, index=False)
        code, _, err = run_cli(["recommend", "--user", "1", "--home", str(small_home)], capsys)
        assert_one_line_error(code, err)
    finally:
        clean.write_bytes(backup)


@pytest.mark.realdata
def test_folder_source_is_checksummed(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "ml-latest-small"
    shutil.copytree(shared_data / "ml-latest-small", src)
    with (src / "ratings.csv").open("a") as fh:
        fh.write("610,1,5.0,1\n")
    home = tmp_path / "home"
    args = ["download", "--source", str(src), "--home", str(home), "--dataset", "ml-latest-small"]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "checksum mismatch for ratings.csv")
    assert not (home / "data/raw/ml-latest-small").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_pipeline_flow_passes_the_dataset_to_every_task(
    prefect_harness: None,
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["pipeline", "--dataset", "ml-latest-small", "--home", str(tmp_path), "--json"]
    args += ["--source", str(shared_data / "ml-latest-small"), "--store-n", "2", "-n", "4"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "100,836 ratings from 610 users on 9,724 movies" in out and "ratings 0.5-5" in out
    assert "trained user-knn on 67,898 ratings (610 users x 1,297 movies)" in out
    assert "stored run 1: top-2 for every user" in out
    recs = json.loads(out.strip().splitlines()[-1])["recommendations"]
    assert len(recs) == 4
    assert (tmp_path / "data/raw/ml-latest-small/ratings.csv").is_file()
    assert not (tmp_path / "data/raw/ml-100k").exists()


# ---------------------------------------------------------------- --engine spark
@pytest.fixture(scope="module")
def spark_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A ``local[2]`` loopback session that the CLI's ``getOrCreate`` then reuses."""
    from movierec.spark.engine import java_available, spark_session

    if not java_available():
        unavailable("Spark tests need a Java 17+ runtime")
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession()
    ckpt = tmp_path_factory.mktemp("spark-cli")
    session = spark_session("local[2]", shuffle_partitions=2, checkpoint_dir=ckpt)
    yield session
    if existing is None:
        session.stop()


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.realdata
def test_pipeline_engine_spark_on_ml100k(
    spark_local: object,
    ml100k_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    home = ["--home", str(tmp_path)]
    args = ["pipeline", "--engine", "spark", "--spark-master", "local[2]", "--source"]
    args += [str(ml100k_dir), *home, "-u", "1", "-n", "5", "--store-n", "3", "--json"]
    code, out, err = run_cli([*args, "-p", "iterations=5", "-p", "reg=0.1"], capsys)
    assert code == 0, err
    assert "100,000 ratings from 943 users on 1,682 movies" in out
    assert "94,968" in out and "939" in out
    rmse = float(out.split("hold-out RMSE ")[1].split()[0])
    assert 0.85 < rmse < 1.0
    assert "trained spark-als (rank 10, 5 iterations) on 94,968 ratings" in out
    assert "stored run 1: top-3 for every user" in out
    recs = json.loads(out.strip().splitlines()[-1])["recommendations"]
    assert [r["rank"] for r in recs] == [1, 2, 3, 4, 5]
    ratings = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["u", "m", "r", "t"])
    seen = set(ratings.loc[ratings["u"] == 1, "m"])
    assert not seen & {r["movieId"] for r in recs}
    assert (tmp_path / "data/processed/ratings.parquet").is_file()
    code, out, _ = run_cli(["db", "runs", *home], capsys)
    assert code == 0 and "spark-als" in out and "2829" in out  # 943 users x 3


def test_pipeline_rejects_unknown_engine_and_als_param(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["pipeline", "--engine", "flink", "--home", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "unknown --engine 'flink'")
    args = ["pipeline", "--engine", "spark", "-p", "depth=3", "--home", str(tmp_path)]
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, "spark als has no parameter depth", "rank")
    assert not (tmp_path / "data").exists()
