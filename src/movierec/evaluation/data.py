"""What the evaluation protocols split: one release, read through :mod:`movierec.data`.

Protocols are defined on the *original* release files (every rating in file order, the
release's predefined splits such as ml-100k's ``u1..u5.base/.test``, the movies file for
genres), not on the cleaned pipeline output, so that figures compare with published ones.
The files are parsed by the same readers as the pipeline
(:func:`movierec.data.releases.load_release`, :func:`movierec.data.ml100k.read_u_data`),
and a source is opened by :func:`movierec.data.archive.open_release` (a zip is extracted
safely into a temporary folder, removed as soon as the files are read).

Rating frames here use external MovieLens ids and the columns
``userId, movieId, rating, timestamp`` (int64, int64, float32, int64).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data.archive import find_release_root
from movierec.data.datasets import DatasetSpec, get_dataset
from movierec.data.ml100k import read_u_data
from movierec.data.releases import load_release
from movierec.errors import DataError
from movierec.interactions import ITEM_COL, RATING_COL, TIME_COL, USER_COL, ItemCatalog

RATING_DTYPES = {USER_COL: np.int64, ITEM_COL: np.int64, RATING_COL: np.float32, TIME_COL: np.int64}


@dataclass(frozen=True)
class ReleaseData:
    """One release in memory, as the protocols split it.

    Attributes:
        dataset: the release's registry entry (its ``scale`` is the folds' rating scale).
        ratings: every rating, in file order (the stratified split's draws depend on it).
        catalog: the movies file (title, year, genres).
        splits: predefined ``(train, test)`` frames read from the release, by split name
            (only those asked for, e.g. ``{"u1": (u1.base, u1.test)}``).
        source: where the files were read from (for reports).
    """

    dataset: DatasetSpec
    ratings: pd.DataFrame
    catalog: ItemCatalog
    splits: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict)
    source: str = ""


def rating_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s rating columns with the evaluation's dtypes (same rows, same order)."""
    return frame[list(RATING_DTYPES)].astype(RATING_DTYPES)


def read_release(
    dataset: str | DatasetSpec,
    folder: str | os.PathLike[str],
    splits: Sequence[str] = (),
    source: str | None = None,
) -> ReleaseData:
    """Read release ``dataset`` from its extracted ``folder`` (or its parent).

    Args:
        dataset: registry name or spec.
        folder: the extracted release folder.
        splits: names of predefined splits to read (keys of ``DatasetSpec.split_files``).
        source: recorded as :attr:`ReleaseData.source` (default: ``folder``).

    Raises:
        DataError: a missing or malformed file (named; a missing split file says which
            split needs it), checked for every split before any is parsed.
    """
    spec = get_dataset(dataset)
    ratings, movies = load_release(spec, folder)
    root = find_release_root(Path(folder), spec)
    pairs = {name: [root / f for f in spec.split_files[name]] for name in splits}
    for name, paths in pairs.items():  # every file first: fail before any parsing
        for path in paths:
            if not path.is_file():
                raise DataError(f"split file missing: {path} (needed by split {name})")
    read = {
        name: (
            rating_frame(read_u_data(base, spec.scale)),
            rating_frame(read_u_data(test, spec.scale)),
        )
        for name, (base, test) in pairs.items()
    }
    catalog = ItemCatalog.from_frame(
        movies[[ITEM_COL, "title", "year", "genres"]].astype({"title": str})
    )
    return ReleaseData(spec, rating_frame(ratings), catalog, read, source or str(folder))
