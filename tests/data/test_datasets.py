"""The dataset registry."""

from __future__ import annotations

import pytest

from movierec.data.datasets import (
    DATASETS,
    DatasetSpec,
    dataset_names,
    get_dataset,
    register_dataset,
)
from movierec.errors import ConfigError

RELEASES = [
    "ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest"
]  # fmt: skip


def test_every_release_is_registered():
    assert dataset_names() == RELEASES
    for name in RELEASES:
        spec = get_dataset(name)
        assert spec.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert spec.ratings_file in spec.required_files
        assert spec.movies_file in spec.required_files
        assert all(d is None or len(d) == 64 for d in spec.checksums.values())


def test_ml100k_spec():
    spec = get_dataset("ml-100k")
    assert spec.format == "ml100k" and spec.archive_folder == "ml-100k"
    assert spec.rating_scale == (1.0, 5.0) and spec.encoding == "iso-8859-1"
    assert spec.checksums["u.data"].startswith("06416e59")
    assert spec.checksums["u.item"].startswith("553841eb")
    assert get_dataset("ml-10m").archive_folder == "ml-10M100K"
    assert get_dataset("ml-latest-small").rating_scale == (0.5, 5.0)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        get_dataset("ml-7k")
    msg = str(err.value)
    assert "'ml-7k'" in msg and all(name in msg for name in RELEASES)


def test_register_dataset():
    spec = DatasetSpec(name="ml-test", url="http://127.0.0.1/x.zip", archive_folder="x")
    try:
        assert register_dataset(spec) is get_dataset("ml-test")
        with pytest.raises(ConfigError, match="already registered"):
            register_dataset(spec)
        register_dataset(spec, replace=True)
    finally:
        DATASETS.pop("ml-test", None)
