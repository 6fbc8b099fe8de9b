"""Splits: Microsoft Recommenders' stratified split reproduced row for row, k-fold, temporal,
canonical ml-100k folds, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.data.archive import open_release
from movierec.data.datasets import get_dataset
from movierec.errors import ConfigError, DataError, DownloadError
from movierec.evaluation.data import read_release
from movierec.evaluation.splits import (
    PROTOCOLS,
    load_protocol,
    make_fold,
    per_user_holdout,
    python_stratified_split,
    random_kfold,
    temporal_split,
)
from tests.evaluation.helpers import synthetic_ratings, write_ml100k


def ms_reference(data: pd.DataFrame, ratio: float, col: str, seed: int) -> tuple[set, set]:
    """Transliteration of recommenders' ``_do_stratification`` (pandas, global RNG)."""
    data = data.copy()
    state = np.random.get_state()
    np.random.seed(seed)
    data["random"] = np.random.rand(data.shape[0])
    np.random.set_state(state)
    data = data.sort_values([col, "random"])
    groups = data.groupby(col)
    data["count"] = groups[col].transform("count")
    data["rank"] = groups.cumcount() + 1
    train = data["rank"] <= round(ratio * data["count"])
    return set(data.index[train]), set(data.index[~train])


@pytest.mark.parametrize("by", ["user", "item"])
@pytest.mark.parametrize("seed", [42, 7])
def test_stratified_split_matches_reference(by: str, seed: int) -> None:
    data = synthetic_ratings(seed=seed)
    train, test = python_stratified_split(data, 0.75, filter_by=by, seed=seed)  # type: ignore[arg-type]
    ref_train, ref_test = ms_reference(data, 0.75, "userId" if by == "user" else "movieId", seed)
    assert set(train.index) == ref_train
    assert set(test.index) == ref_test
    assert len(train) + len(test) == len(data)


def test_stratified_split_rounds_half_to_even() -> None:
    # one item with 2 ratings: round(1.5) = 2 -> both in train; 6 ratings: round(4.5) = 4
    data = pd.DataFrame(
        {"userId": range(8), "movieId": [1, 1, 2, 2, 2, 2, 2, 2], "rating": 3.0, "timestamp": 0}
    )
    train, test = python_stratified_split(data, 0.75, filter_by="item", seed=1)
    assert (train.movieId == 1).sum() == 2
    assert (train.movieId == 2).sum() == 4
    assert len(test) == 2


def test_split_bad_input() -> None:
    data = synthetic_ratings()
    with pytest.raises(ConfigError, match="ratio"):
        python_stratified_split(data, 1.5)
    with pytest.raises(ConfigError, match="filter_by"):
        python_stratified_split(data, 0.5, filter_by="movie")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_folds"):
        random_kfold(data, 1)
    with pytest.raises(ConfigError, match="n_last"):
        temporal_split(data, n_last=0)
    with pytest.raises(ConfigError, match="empty"):
        temporal_split(data, time_cut=1)  # everything after the cut
    with pytest.raises(ConfigError, match="fraction"):
        per_user_holdout(data, 0.0)


def test_random_kfold_partitions_every_rating_once() -> None:
    data = synthetic_ratings()
    folds = random_kfold(data, 4, seed=3)
    tested = np.concatenate([te.index.to_numpy() for _, te in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(data)))
    for tr, te in folds:
        assert not set(tr.index) & set(te.index)
        assert abs(len(te) - len(data) / 4) <= 1
    again = random_kfold(data, 4, seed=3)
    assert all(a[1].index.equals(b[1].index) for a, b in zip(folds, again, strict=True))


def test_temporal_leave_last_n() -> None:
    data = synthetic_ratings()
    train, test = temporal_split(data, n_last=3)
    assert (test.groupby("userId").size() == 3).all()
    last_train = train.groupby("userId").timestamp.max()
    first_test = test.groupby("userId").timestamp.min()
    assert (last_train.loc[first_test.index] <= first_test).all()
    small = pd.DataFrame({"userId": [1, 1], "movieId": [1, 2], "rating": 3.0, "timestamp": [1, 2]})
    tr, te = temporal_split(small, n_last=2)  # users with <= n ratings stay in training
    assert len(tr) == 2 and len(te) == 0


def test_temporal_global_cut() -> None:
    data = synthetic_ratings()
    train, test = temporal_split(data, time_cut=0.8)
    assert train.timestamp.max() < test.timestamp.min()
    assert len(test) == pytest.approx(0.2 * len(data), abs=2)


def test_fold_alignment_marks_cold_rows() -> None:
    train = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 20, 10], "rating": [4.0, 3, 5]})
    test = pd.DataFrame({"userId": [1, 2, 3], "movieId": [30, 20, 10], "rating": [1.0, 2, 3]})
    fold = make_fold("x", train, test, (1.0, 5.0))
    assert fold.test["user_row"].tolist() == [0, 1, -1]
    assert fold.test["item_col"].tolist() == [-1, 1, 0]
    assert fold.n_cold == 2


def test_per_user_holdout_takes_a_tenth_of_each_user() -> None:
    data = synthetic_ratings()
    tr, va = per_user_holdout(data, 0.1, seed=5)
    sizes = data.groupby("userId").size()
    expected = sizes - np.round(0.9 * sizes)
    assert (
        va.groupby("userId").size().reindex(sizes.index, fill_value=0).equals(expected.astype(int))
    )


def test_protocols_on_synthetic_folder(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k", synthetic_ratings())
    five = load_protocol("ml100k-5fold", tmp_path)  # the folder or its parent
    assert [f.name for f in five.folds] == ["u1", "u2", "u3", "u4", "u5"]
    assert load_protocol("ml100k-u3", folder).folds[0].name == "u3"
    kf = load_protocol("random-kfold", folder, options={"n_folds": 3})
    assert len(kf.folds) == 3 and kf.options["n_folds"] == 3
    tp = load_protocol("temporal", folder, options={"time_cut": 0.9})
    assert tp.options == {"time_cut": 0.9}
    st = load_protocol("stratified-75-25", folder)
    assert st.kind == "ranking" and st.options == {"seed": 42}
    catalog = read_release("ml-100k", folder).catalog
    assert len(catalog) == 80 and catalog.frame.loc[3, "year"] == 1993


def test_protocol_bad_input(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k", synthetic_ratings(), splits=2)
    with pytest.raises(DataError, match=r"u3\.base"):
        load_protocol("ml100k-5fold", folder)
    with pytest.raises(ConfigError, match="choose one of: ml100k-u1"):
        load_protocol("ml100k-u9", folder)
    with pytest.raises(ConfigError, match="no option n_last"):
        load_protocol("random-kfold", folder, options={"n_last": 3})
    with pytest.raises(DataError, match="source .*nowhere does not exist"):
        with open_release(get_dataset("ml-100k"), tmp_path / "nowhere"):
            pass
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DownloadError, match="not a valid zip"):
        with open_release(get_dataset("ml-100k"), bad):
            pass
    assert "stratified-75-25" in PROTOCOLS


@pytest.mark.realdata
def test_real_ml100k_protocols(ml100k_dir: Path) -> None:
    u1 = load_protocol("ml100k-u1", ml100k_dir).folds[0]
    assert (u1.train.nnz, len(u1.test), u1.n_cold) == (80_000, 20_000, 32)
    assert (u1.train.n_users, u1.train.n_items) == (943, 1650)
    st = load_protocol("stratified-75-25", ml100k_dir).folds[0]
    # figures of recommenders 1.2.1 python_stratified_split on the same file (checked side by side)
    assert (st.train.nnz, len(st.test), st.n_cold) == (75_066, 24_934, 0)
    release = read_release("ml-100k", ml100k_dir)
    data = release.ratings
    ref_train, _ = ms_reference(data, 0.75, "movieId", 42)
    assert set(python_stratified_split(data, 0.75, "item", 42)[0].index) == ref_train
    catalog = release.catalog
    assert len(catalog) == 1682
    assert catalog.title(1633).startswith("Á köldum klaka")
    assert catalog.frame.loc[1, "genres"] == "Animation|Children's|Comedy"


def test_newest_holdout_is_each_users_latest_ratings() -> None:
    from movierec.evaluation.splits import per_user_holdout

    data = synthetic_ratings(seed=2)
    rest, held = per_user_holdout(data, 0.2, how="newest")
    want = []
    for _, g in data.groupby("userId"):
        g = g.sort_values(["timestamp", "movieId"], ascending=False)
        want += list(g.index[: int(np.round(0.2 * len(g)))])
    assert sorted(held.index) == sorted(want) and len(rest) + len(held) == len(data)
    with pytest.raises(ConfigError, match="carve must be"):
        per_user_holdout(data, 0.2, how="oldest")
