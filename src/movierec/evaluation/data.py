"""Read the evaluation inputs straight from an extracted ml-100k folder.

Evaluation protocols are defined on the *original* GroupLens files (``u.data``, the canonical
``u1..u5.base/.test`` splits, ``u.item`` for genres), not on the cleaned pipeline output, so
that figures compare with published ones. These readers are deliberately small and strict.

Frames returned here use external MovieLens ids and the columns
``userId, movieId, rating, timestamp`` (int64, int64, float32, int64).
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.errors import DataError
from movierec.interactions import ITEM_COL, RATING_COL, TIME_COL, USER_COL, ItemCatalog

RATING_COLUMNS = [USER_COL, ITEM_COL, RATING_COL, TIME_COL]
_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def resolve_ml100k_dir(path: str | os.PathLike[str]) -> Path:
    """The extracted ml-100k folder for ``path``.

    Args:
        path: the folder itself (holding ``u.data``), a folder containing ``ml-100k/``, or a
            ``.zip`` laid out like the GroupLens archive (extracted to a temporary folder).

    Raises:
        DataError: nothing usable at ``path``.
    """
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".zip":
        tmp = Path(tempfile.mkdtemp(prefix="movierec-eval-"))
        try:
            with zipfile.ZipFile(path) as zf:
                zf.extractall(tmp)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{path} is not a valid zip archive ({exc})") from exc
        path = tmp
    for candidate in (path, path / "ml-100k"):
        if (candidate / "u.data").is_file():
            return candidate
    raise DataError(
        f"no ml-100k data at {path} (expected u.data); run 'movierec download' or pass "
        "--data-dir pointing at the extracted ml-100k folder"
    )


def read_ratings_file(path: str | Path) -> pd.DataFrame:
    """One tab-separated ``user item rating timestamp`` file (``u.data``, ``u1.base``, ...).

    Rows keep the file order (which :func:`~movierec.evaluation.splits.python_stratified_split`
    relies on to reproduce Microsoft Recommenders' RNG draws).

    Raises:
        DataError: the file is missing (message names it) or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file missing: {path}")
    try:
        frame = pd.read_csv(
            path,
            sep="\t",
            header=None,
            names=RATING_COLUMNS,
            dtype={
                USER_COL: np.int64,
                ITEM_COL: np.int64,
                RATING_COL: np.float32,
                TIME_COL: np.int64,
            },
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path} is not a tab-separated user/item/rating/timestamp file") from exc
    if frame.isna().any().any():
        raise DataError(f"{path} has missing values")
    return frame


def read_items(ml100k_dir: str | Path) -> ItemCatalog:
    """``u.item`` (ISO-8859-1, ``|``-separated, 19 genre flags) as an :class:`ItemCatalog`.

    The year comes from the ``(YYYY)`` suffix of the title, else from the release date.
    """
    path = Path(ml100k_dir) / "u.item"
    if not path.is_file():
        raise DataError(f"split file missing: {path}")
    raw = pd.read_csv(path, sep="|", header=None, encoding="iso-8859-1", dtype=str)
    if raw.shape[1] != 5 + len(_GENRES):
        raise DataError(f"{path} has {raw.shape[1]} columns, expected {5 + len(_GENRES)}")
    flags = raw.iloc[:, 5:].fillna("0").to_numpy() == "1"
    names = np.asarray(_GENRES, dtype=object)
    genres = ["|".join(names[row & (names != "unknown")]) for row in flags]
    titles = raw[1].fillna("").astype(str)
    year_title = titles.str.extract(_YEAR, expand=False)
    year_date = raw[2].fillna("").astype(str).str[-4:]
    year = pd.to_numeric(year_title.fillna(year_date), errors="coerce")
    frame = pd.DataFrame(
        {ITEM_COL: raw[0].astype(np.int64), "title": titles, "year": year, "genres": genres}
    )
    return ItemCatalog.from_frame(frame)
