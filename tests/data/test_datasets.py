"""The dataset registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from movierec.data.datasets import (
    DATASETS,
    GROUPLENS,
    HALF_STARS,
    WHOLE_STARS,
    DatasetSpec,
    RatingScale,
    check_spec,
    dataset_names,
    get_dataset,
    register_dataset,
    widest_scale,
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


# ---------------------------------------------------------------------------- one registry
REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "src" / "movierec" / "data" / "datasets.py"


@pytest.mark.parametrize("name", RELEASES)
def test_every_spec_is_consistent(name: str) -> None:
    spec = get_dataset(name)
    check_spec(spec)  # format/file names, codec, scale on its grid, digests, counts
    assert spec.url == f"{GROUPLENS}/{name}.zip"
    assert set(spec.required_files) >= {spec.ratings_file, spec.movies_file, *spec.checksums}
    assert spec.scale.bounds == spec.rating_scale
    grid = np.arange(spec.scale.lo, spec.scale.hi + spec.scale.step / 2, spec.scale.step)
    assert not spec.scale.invalid(grid).any()
    off = [spec.scale.lo - spec.scale.step, spec.scale.hi + spec.scale.step, np.nan]
    off.append(spec.scale.lo + spec.scale.step / 2)
    assert spec.scale.invalid(np.array(off)).all()
    if spec.format == "csv":
        assert spec.header_lines == 1 and spec.scale == HALF_STARS
    assert bool(spec.split_files) == (name == "ml-100k")


def test_release_facts() -> None:
    """The encodings and scales as published: ml-100k and ml-1m Latin-1 whole stars,
    ml-10m UTF-8 half stars (see the module docstring for why strict UTF-8)."""
    expected = {
        "ml-100k": ("ml100k", "iso-8859-1", WHOLE_STARS),
        "ml-1m": ("dat", "iso-8859-1", WHOLE_STARS),
        "ml-10m": ("dat", "utf-8", HALF_STARS),
    }
    for name in RELEASES:
        spec = get_dataset(name)
        fmt, encoding, scale = expected.get(name, ("csv", "utf-8", HALF_STARS))
        assert (spec.format, spec.encoding, spec.scale) == (fmt, encoding, scale), name
    ml100k = get_dataset("ml-100k")
    assert ml100k.genre_file == "u.genre" and ml100k.split_files["u3"] == ("u3.base", "u3.test")
    assert sorted(ml100k.split_files) == ["u1", "u2", "u3", "u4", "u5", "ua", "ub"]
    assert widest_scale() == HALF_STARS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "dat"}, "dat files must end in .dat"),
        ({"format": "tsv"}, "unknown format"),
        ({"encoding": "latin-9x"}, "unknown encoding"),
        ({"scale": RatingScale(1.0, 5.0, 0.3)}, "inconsistent rating scale"),
        ({"scale": RatingScale(5.0, 1.0, 1.0)}, "inconsistent rating scale"),
        ({"checksums": {"ratings.csv": "abc"}}, "checksum of ratings.csv"),
        ({"n_ratings": 5, "n_users": 6}, "more users than ratings"),
    ],
)
def test_contradicting_specs_are_refused(change: dict, message: str) -> None:
    spec = replace(get_dataset("ml-latest-small"), name="ml-bad", **change)
    with pytest.raises(ConfigError, match=message):
        check_spec(spec)
    with pytest.raises(ConfigError, match=message):
        register_dataset(spec)
    assert "ml-bad" not in DATASETS


def _python_sources() -> list[Path]:
    roots = [REPO / "src", REPO / "benchmarks"]
    return [p for root in roots for p in root.rglob("*.py") if p != REGISTRY]


def test_release_facts_live_only_in_the_registry() -> None:
    """No module but datasets.py spells out a release fact: its URL, an archive folder that
    differs from its name, a pinned digest, or a rating-scale tuple."""
    facts = {
        "files.grouplens.org",
        "(0.5, 5.0)",
        "(1.0, 5.0)",
        "rating_scale=(",
        "utf-8-or-latin-1",
    }
    for spec in DATASETS.values():
        facts.update(d for d in spec.checksums.values() if d)
        if spec.archive_folder != spec.name:
            facts.add(spec.archive_folder)
    allowed = {  # the type's default and its inference, not facts of a release
        ("interactions.py", "(1.0, 5.0)"),
        ("interactions.py", "(0.5, 5.0)"),
    }
    found = [
        (path.relative_to(REPO).as_posix(), fact)
        for path in _python_sources()
        for fact in facts
        if fact in path.read_text(encoding="utf-8") and (path.name, fact) not in allowed
    ]
    assert found == []
    assert "10M100K" in REGISTRY.read_text(encoding="utf-8")  # the scan looks for real text
