"""evaluate on every release: protocols declare their datasets, folds carry the release's
rating scale, data comes through movierec.data (``--source`` zip/folder or the installed
copy), and no temporary file is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.config import Layout
from movierec.data.datasets import dataset_names, get_dataset
from movierec.errors import ConfigError
from movierec.evaluation.data import read_release
from movierec.evaluation.runner import evaluate
from movierec.evaluation.splits import PROTOCOLS, available_protocols, get_protocol, load_protocol
from movierec.evaluation.tuning import validation_fold
from tests.evaluation.helpers import half_star_ratings, write_csv_release

MOVIEREC = str(Path(sys.executable).with_name("movierec"))
EVERY_RELEASE = ["stratified-75-25", "random-kfold", "temporal", "temporal-last1"]
CANONICAL = [name for name in PROTOCOLS if name.startswith("ml100k-")]


def movierec(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``movierec`` console script as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [MOVIEREC, *args], capture_output=True, text=True, timeout=600, env=full_env
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture
def half_star_folder(tmp_path: Path) -> Path:
    """A synthetic release laid out like ml-latest-small (CSV, half stars 0.5-5)."""
    return write_csv_release(tmp_path / "ml-latest-small", half_star_ratings())


# ----------------------------------------------------------------------- which protocols
def test_protocols_declare_their_datasets() -> None:
    assert available_protocols("ml-100k") == list(PROTOCOLS)
    for name in dataset_names():
        if name != "ml-100k":
            assert available_protocols(name) == EVERY_RELEASE
    for proto in CANONICAL:
        assert PROTOCOLS[proto].datasets == ("ml-100k",)
    for proto in EVERY_RELEASE:
        assert all(PROTOCOLS[proto].applies_to(name) for name in dataset_names())


@pytest.mark.parametrize("proto", CANONICAL)
def test_canonical_protocol_refused_on_other_releases(proto: str) -> None:
    with pytest.raises(ConfigError) as err:
        get_protocol(proto, "ml-25m")
    message = str(err.value)
    assert "\n" not in message and f"'{proto}' applies only to ml-100k" in message
    assert "stratified-75-25, random-kfold, temporal" in message


def test_canonical_protocol_refused_before_reading(tmp_path: Path) -> None:
    """The refusal comes first: no data is needed to be told the protocol does not apply."""
    with pytest.raises(ConfigError, match="applies only to ml-100k"):
        evaluate("ml100k-u1", "popularity", dataset="ml-latest-small", layout=Layout(tmp_path))


# ----------------------------------------------------------------------- rating scale
@pytest.mark.parametrize("proto", EVERY_RELEASE)
def test_half_star_split_keeps_half_stars(half_star_folder: Path, proto: str) -> None:
    ratings = pd.read_csv(half_star_folder / "ratings.csv")
    assert set(ratings["rating"]) == {k / 2 for k in range(1, 11)}  # the whole grid
    folds = load_protocol(proto, half_star_folder, dataset="ml-latest-small").folds
    for fold in folds:
        assert fold.train.rating_scale == (0.5, 5.0)
        train = fold.train.to_frame()
        both = pd.concat([train, fold.test[list(train.columns)]], ignore_index=True)
        both = both.sort_values(["userId", "movieId"], ignore_index=True)
        expected = ratings.sort_values(["userId", "movieId"], ignore_index=True)
        np.testing.assert_array_equal(both["rating"].to_numpy(), expected["rating"].to_numpy())
        assert (train["rating"] % 1 == 0.5).any() and (fold.test["rating"] % 1 == 0.5).any()
        assert validation_fold(fold)[0].train.rating_scale == (0.5, 5.0)


def test_predictions_are_clipped_to_the_release_scale(
    test_models: None, half_star_folder: Path, tmp_path: Path
) -> None:
    """A model predicting far below the scale is clipped to 0.5 (ml-latest-small's lowest
    rating), not to ml-100k's 1."""
    out = tmp_path / "pred.csv"
    board = evaluate(
        "temporal",
        "test-mean",
        data_dir=half_star_folder,
        dataset="ml-latest-small",
        params={"test-mean": {"shift": -10.0}},
        report_dir=tmp_path / "report",
        predictions_out=out,
    )
    assert board.dataset == "ml-latest-small"
    pred = pd.read_csv(out)
    assert len(pred) == board.results[0].n_test and (pred["prediction"] == 0.5).all()
    truth = pred["rating"].to_numpy()
    assert board.results[0].metrics["RMSE"] == pytest.approx(np.sqrt(np.mean((truth - 0.5) ** 2)))


# ----------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_ml_latest_small_counts_through_the_evaluation_reader(shared_data: Path) -> None:
    release = read_release("ml-latest-small", shared_data / "ml-latest-small")
    ratings = release.ratings
    assert len(ratings) == 100_836
    assert ratings["userId"].nunique() == 610
    assert len(release.catalog) == 9_742
    assert ratings["movieId"].nunique() == 9_724  # 18 movies of movies.csv have no rating
    assert sorted(set(ratings["rating"])) == [k / 2 for k in range(1, 11)]
    assert list(ratings.dtypes.astype(str)) == ["int64", "int64", "float32", "int64"]
    spec = get_dataset("ml-latest-small")
    assert (spec.n_ratings, spec.n_users, spec.n_movies) == (100_836, 610, 9_742)


@pytest.mark.realdata
def test_cli_evaluate_ml_latest_small(shared_data: Path, tmp_path: Path) -> None:
    done = movierec(
        "evaluate",
        "--dataset",
        "ml-latest-small",
        "--source",
        str(shared_data / "ml-latest-small"),
        "--protocol",
        "stratified-75-25",
        "--models",
        "popularity,ials",  # not ease: its 9,742² item matrix took 2 min of the suite
        "--home",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("protocol stratified-75-25 on ml-latest-small (1 fold(s))")
    report = tmp_path / "reports" / "stratified-75-25"
    board = json.loads((report / "leaderboard.json").read_text())
    assert board["dataset"] == "ml-latest-small" and board["models"] == ["popularity", "ials"]
    assert board["info"]["data"] == str(shared_data / "ml-latest-small")
    results = {r["model"]: r for r in board["results"]}
    # the stratified 75/25 item split of the 100,836 ratings, every user known to training
    assert {r["n_test"] for r in results.values()} == {23_954}
    assert {r["n_users"] for r in results.values()} == {610}
    assert results["ials"]["metrics"]["NDCG@10"] > results["popularity"]["metrics"]["NDCG@10"]
    markdown = (report / "leaderboard.md").read_text()
    assert markdown.startswith("# Leaderboard — protocol `stratified-75-25` on `ml-latest-small`")


@pytest.mark.realdata
def test_cli_refuses_canonical_protocol_on_ml_latest_small(
    shared_data: Path, tmp_path: Path
) -> None:
    source = str(shared_data / "ml-latest-small")
    done = movierec(
        "evaluate", "-d", "ml-latest-small", "--source", source, "--protocol", "ml100k-u1",
        "--models", "popularity", "--home", str(tmp_path),
    )  # fmt: skip
    line = one_line_error(done)
    assert done.returncode == 2
    assert "'ml100k-u1' applies only to ml-100k" in line
    assert "stratified-75-25, random-kfold, temporal" in line
    assert not (tmp_path / "reports").exists()


@pytest.mark.realdata
def test_cli_missing_data_says_what_to_run_and_that_works(
    shared_data: Path, tmp_path: Path
) -> None:
    """No --source and nothing installed: the error names the exact command; after running
    it, evaluate reads the installed copy (MOVIEREC_DATASET chooses the release)."""
    home = tmp_path / "home"
    env = {"MOVIEREC_DATASET": "ml-latest-small"}
    args = ("evaluate", "--protocol", "temporal", "--models", "popularity", "--home", str(home))
    line = one_line_error(movierec(*args, env=env))
    command = f"movierec download --dataset ml-latest-small --home {home}"
    assert f"run '{command}' first" in line and "--source" in line
    source = str(shared_data / "ml-latest-small")
    assert movierec(*command.split()[1:], "--source", source).returncode == 0
    done = movierec(*args, env=env)
    assert done.returncode == 0, done.stderr
    board = json.loads((home / "reports" / "temporal" / "leaderboard.json").read_text())
    assert board["dataset"] == "ml-latest-small"
    assert board["info"]["data"] == str(home / "data" / "raw" / "ml-latest-small")
    # leave-last-10 of 610 users who all have > 10 ratings
    assert board["results"][0]["n_test"] == 6_100


@pytest.mark.realdata
def test_zip_source_leaves_no_temporary_files(shared_data: Path, tmp_path: Path) -> None:
    """``evaluate --source ml-100k.zip`` extracts into TMPDIR and removes it again; the
    same u1 figures as from the extracted folder."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    before = sorted(tmp.iterdir())
    figures = {}
    for kind, source in (("zip", "ml-100k.zip"), ("folder", "ml-100k")):
        done = movierec(
            "evaluate", "--protocol", "ml100k-u1", "--models", "popularity", "--home",
            str(tmp_path / kind), "--source", str(shared_data / source),
            env={"TMPDIR": str(tmp)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert sorted(tmp.iterdir()) == before
        board = json.loads((tmp_path / kind / "reports/ml100k-u1/leaderboard.json").read_text())
        figures[kind] = board["results"][0]["metrics"]
        assert board["results"][0]["n_test"] == 20_000
    assert figures["zip"] == figures["folder"]


def test_bad_zip_is_one_line_error_and_leaves_nothing(tmp_path: Path) -> None:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    truncated = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(truncated, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t1\t5\t881250949\n" * 1000)
    truncated.write_bytes(truncated.read_bytes()[:300])
    done = movierec(
        "evaluate", "--models", "popularity", "--home", str(tmp_path / "home"),
        "--source", str(truncated), env={"TMPDIR": str(tmp)},
    )  # fmt: skip
    assert "is not a valid zip archive" in one_line_error(done)
    assert list(tmp.iterdir()) == []


@pytest.mark.realdata
def test_cli_evaluate_filters_ml_latest_small_before_splitting(
    shared_data: Path, tmp_path: Path
) -> None:
    """``--min-user-ratings / --min-item-ratings`` drop users, then movies, before the split,
    as the pipeline's transform does: the folds hold exactly the ratings a plain pandas
    filter keeps, and the report says how many."""
    done = movierec(
        "evaluate",
        "--dataset",
        "ml-latest-small",
        "--source",
        str(shared_data / "ml-latest-small"),
        "--protocol",
        "random-kfold",
        "--models",
        "popularity",
        "--min-user-ratings",
        "30",
        "--min-item-ratings",
        "20",
        "--home",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    board = json.loads((tmp_path / "reports" / "random-kfold" / "leaderboard.json").read_text())
    raw = pd.read_csv(shared_data / "ml-latest-small" / "ratings.csv")
    users = raw.groupby("userId")["movieId"].transform("size") >= 30
    kept = raw[users]
    kept = kept[kept.groupby("movieId")["userId"].transform("size") >= 20]
    f = board["info"]["filtered"]
    assert (f["ratings_before"], f["users_before"], f["movies_before"]) == (100_836, 610, 9_724)
    assert f["ratings_after"] == len(kept) and f["movies_after"] == kept["movieId"].nunique()
    assert f["users_after"] == kept["userId"].nunique() < 610
    assert sum(r["n_test"] for r in board["results"]) == len(kept)  # every rating tested once


def test_filters_refuse_bad_thresholds_and_protocols_with_their_own_split_files(
    tmp_path: Path, half_star_folder: Path
) -> None:
    done = movierec(
        "evaluate", "--protocol", "ml100k-u1", "--min-item-ratings", "5", "--home", str(tmp_path)
    )
    line = one_line_error(done)
    assert "--min-item-ratings" in line and "own split files" in line
    common = ["--dataset", "ml-latest-small", "--source", str(half_star_folder)]
    bad = movierec(
        "evaluate", "--protocol", "random-kfold", "--min-user-ratings=-3", *common,
        "--home", str(tmp_path),
    )  # fmt: skip
    assert "min_user_ratings must be an integer >= 0, got -3" in one_line_error(bad)
    empty = movierec(
        "evaluate", "--protocol", "random-kfold", "--min-item-ratings", "100000", *common,
        "--home", str(tmp_path),
    )  # fmt: skip
    assert "removed every rating" in one_line_error(empty)
