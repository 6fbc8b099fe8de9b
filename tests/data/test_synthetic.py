"""The synthetic ml-100k-format generator."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.data.ml100k import read_u_data, read_u_item
from movierec.data.synthetic import write_ml100k_like, zip_dataset
from tests.data.helpers import snapshot


def test_same_seed_same_bytes(tmp_path: Path):
    a = write_ml100k_like(tmp_path / "a", seed=3)
    b = write_ml100k_like(tmp_path / "b", seed=3)
    c = write_ml100k_like(tmp_path / "c", seed=4)
    assert snapshot(a) == snapshot(b)
    assert snapshot(a)["u.data"] != snapshot(c)["u.data"]


def test_shape_and_quirks(synth_dir: Path):
    ratings = read_u_data(synth_dir / "u.data")
    assert len(ratings) == 1200
    assert not ratings.duplicated(["userId", "movieId"]).any()
    per_user = ratings.groupby("userId").size()
    assert (per_user < 5).sum() == 3 and per_user.index.max() == 40
    assert (ratings["movieId"].value_counts() < 20).any()
    assert set(np.unique(ratings["rating"])) <= {1, 2, 3, 4, 5}
    raw = (synth_dir / "u.item").read_bytes()
    assert b"2|\xc1 k\xf6ldum klaka (Cold Fever) (1994)|" in raw  # ISO-8859-1 on disk
    assert b"\n3|unknown||||1|0|" in raw
    assert len(read_u_item(synth_dir / "u.item")) == 60


def test_folds_partition_the_ratings(synth_dir: Path):
    full = read_u_data(synth_dir / "u.data")
    keys = set(zip(full["userId"], full["movieId"], strict=True))
    seen: set = set()
    for k in range(1, 6):
        base, test = read_u_data(synth_dir / f"u{k}.base"), read_u_data(synth_dir / f"u{k}.test")
        fold = set(zip(test["userId"], test["movieId"], strict=True))
        assert not fold & seen and len(base) + len(test) == len(full)
        assert set(zip(base["userId"], base["movieId"], strict=True)) | fold == keys
        sorted_test = test.sort_values(["userId", "movieId"], ignore_index=True)
        pd.testing.assert_frame_equal(test, sorted_test)
        seen |= fold
    assert seen == keys


def test_zip_layout(synth_dir: Path, synth_zip: Path):
    with zipfile.ZipFile(synth_zip) as zf:
        names = set(zf.namelist())
    assert "ml-100k/" in names
    assert {f"ml-100k/{p.name}" for p in synth_dir.iterdir()} <= names
    assert zip_dataset(synth_dir, synth_zip.parent / "x.zip", folder="x").is_file()


def test_impossible_sizes(tmp_path: Path):
    with pytest.raises(ValueError):
        write_ml100k_like(tmp_path, n_users=5, n_items=6, n_ratings=1000)
