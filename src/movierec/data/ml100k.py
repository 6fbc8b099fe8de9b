"""Readers of the ml-100k formats: ``u.data`` (and the splits ``u1.base`` … ``ub.test``),
``u.item`` and ``u.genre``.

- ``u.data``-format files: tab-separated ``user item rating timestamp``, no header ->
  ``userId, movieId, rating, timestamp`` (int64, int64, float32, int64), file order kept
  (the stratified split relies on it to reproduce Microsoft Recommenders' draws).
- ``u.item`` (``|``-separated, the release's encoding, ISO-8859-1: id | title | release date
  | video release date | IMDb URL | one genre flag per line of ``u.genre``) ->
  ``movieId, title, year, release_date, genres, imdb_url``:

  - ``title`` exactly as released (decoded from Latin-1: movie 1633 is
    ``Á köldum klaka (Cold Fever) (1994)``);
  - ``year``: the last ``(YYYY)`` in the title, else the release date's year, else empty.
    The title comes first because ``release_date`` is often a (re-)release date: *Taxi
    Driver (1976)* has release date 16-Feb-1996 (190 of 1,682 movies disagree);
  - ``release_date``: ISO ``YYYY-MM-DD`` or empty (movie 267 ``unknown`` has none);
  - ``genres``: the ``|``-joined names of the set flags, in ``u.genre`` order. The
    ``unknown`` flag (index 0) means "no genre known", so it contributes no name: movies
    267 and 1373, flagged only ``unknown``, get an empty ``genres``;
  - ``imdb_url``: as released (empty for movie 267). The video release date (always empty)
    is dropped.

Parsing is vectorised (pandas C parser or pandas string methods, then numpy checks); only
on failure is the file re-scanned to name the first bad line, e.g. ``u.data line 42:
expected 4 tab-separated integer fields``. The encoding and the rating scale come from the
registry (:func:`movierec.data.datasets.get_dataset`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data.datasets import RatingScale, get_dataset
from movierec.data.textfiles import first_mismatch, first_true, line_text, require_file
from movierec.errors import DataError
from movierec.interactions import ITEM_COL, RATING_COL, TIME_COL, USER_COL

RATING_COLUMNS = [USER_COL, ITEM_COL, RATING_COL, TIME_COL]
MOVIE_COLUMNS = [ITEM_COL, "title", "year", "release_date", "genres", "imdb_url"]
UNKNOWN_GENRE = "unknown"
ML100K = "ml-100k"

_U_DATA_LINE = r"[ \t]*-?\d+\t-?\d+\t-?\d+\t-?\d+[ \t]*"
_YEAR_IN_TITLE = r".*\((\d{4})\)"  # greedy: the last "(YYYY)" ("... (1995) (V)" -> 1995)


# ---------------------------------------------------------------------------- u.data
def read_u_data(path: str | Path, scale: RatingScale | None = None) -> pd.DataFrame:
    """Read a ``u.data``-format file (``u.data``, ``u1.base``, ``ua.test`` …).

    Args:
        path: tab-separated ``user item rating timestamp`` lines, no header.
        scale: the allowed ratings (default: ml-100k's, 1-5 in whole stars); others raise.

    Returns:
        Frame with ``userId`` int64, ``movieId`` int64 (external MovieLens ids),
        ``rating`` float32, ``timestamp`` int64 (Unix seconds), in file order.

    Raises:
        DataError: missing file; a malformed line or a rating out of range, naming the file
            and the 1-based line (``u.data line 42: ...``).
    """
    path = require_file(Path(path), "run 'movierec download' first")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty")
    try:
        with warnings.catch_warnings():  # extra fields in the first row only warn: refuse them
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep="\t",
                header=None,
                names=RATING_COLUMNS,
                dtype=np.int64,
                index_col=False,
                skip_blank_lines=False,
                engine="c",
            )
    except (ValueError, OverflowError, pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        encoding = get_dataset(ML100K).encoding
        line = first_mismatch(path, _U_DATA_LINE, encoding=encoding)
        if line is None:
            raise DataError(f"{path.name}: cannot parse ({exc})") from None
        got = line_text(path, line, encoding=encoding)
        raise DataError(
            f"{path.name} line {line}: expected 4 tab-separated integer fields, got {got!r}"
        ) from None
    bad = first_true((frame[USER_COL].to_numpy() <= 0) | (frame[ITEM_COL].to_numpy() <= 0))
    if bad is not None:
        raise DataError(f"{path.name} line {bad + 1}: user and movie ids must be positive")
    ratings = frame[RATING_COL].to_numpy()
    scale = scale or get_dataset(ML100K).scale
    bad = first_true(scale.invalid(ratings))
    if bad is not None:
        raise DataError(
            f"{path.name} line {bad + 1}: rating {ratings[bad]} outside the "
            f"{scale.lo:g}-{scale.hi:g} scale"
        )
    frame[RATING_COL] = ratings.astype(np.float32)
    return frame


# ---------------------------------------------------------------------------- u.item
def read_u_genre(path: str | Path) -> list[str]:
    """Genre names of ``u.genre`` (``name|index`` lines), ordered by index 0..18."""
    path = require_file(Path(path), "run 'movierec download' first")
    pairs: dict[int, str] = {}
    text = path.read_text(encoding=get_dataset(ML100K).encoding)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, index = line.rpartition("|")
        if not sep or not index.strip().isdigit() or not name:
            raise DataError(f"{path.name} line {number}: expected 'name|index', got {line!r}")
        pairs[int(index)] = name
    if sorted(pairs) != list(range(len(pairs))) or not pairs:
        raise DataError(f"{path.name}: genre indices must be 0..n-1")
    return [pairs[i] for i in range(len(pairs))]


def read_u_item(path: str | Path, genre_path: str | Path | None = None) -> pd.DataFrame:
    """Read ``u.item`` (``|``-separated, ISO-8859-1) into the movies frame.

    Args:
        path: the ``u.item`` file.
        genre_path: its ``u.genre`` (default: ``u.genre`` next to ``path``).

    Returns:
        One row per movie, in file order: ``movieId`` int64, ``title`` str (exact),
        ``year`` Int64 (nullable), ``release_date`` str (ISO or ""), ``genres`` str
        (``|``-joined, "" when none), ``imdb_url`` str (possibly "").
        See the module docstring for the rules.

    Raises:
        DataError: missing file, wrong field count, bad id, bad flag or date (file:line).
    """
    path = require_file(Path(path), "run 'movierec download' first")
    genre_path = Path(genre_path) if genre_path is not None else path.with_name("u.genre")
    genres = read_u_genre(genre_path)
    n_fields = 5 + len(genres)
    text = path.read_bytes().decode(get_dataset(ML100K).encoding)  # Latin-1: every byte decodes
    lines = pd.Series(text.split("\n"), dtype=object)
    if len(lines) and lines.iloc[-1] == "":
        lines = lines.iloc[:-1]
    lines = lines.str.rstrip("\r")
    if lines.empty:
        raise DataError(f"{path.name} is empty")
    row = first_true((lines.str.count(r"\|") + 1).to_numpy() != n_fields)
    if row is not None:
        raise DataError(
            f"{path.name} line {row + 1}: expected {n_fields} '|'-separated fields "
            f"({len(genres)} genre flags from {genre_path.name})"
        )
    raw = lines.str.split("|", expand=True, regex=False).reset_index(drop=True)
    ids = pd.to_numeric(raw[0], errors="coerce")
    row = first_true(ids.isna().to_numpy() | (ids.to_numpy(dtype=float, na_value=0) <= 0))
    if row is not None:
        raise DataError(f"{path.name} line {row + 1}: movie id {raw.iat[row, 0]!r} is invalid")
    flags = raw.iloc[:, 5:].to_numpy(dtype=object)
    valid = (flags == "0") | (flags == "1")
    row = first_true(~valid.all(axis=1))
    if row is not None:
        raise DataError(f"{path.name} line {row + 1}: genre flags must be 0 or 1")
    dates = pd.to_datetime(raw[2], format="%d-%b-%Y", errors="coerce")
    row = first_true(dates.isna().to_numpy() & (raw[2].to_numpy(dtype=object) != ""))
    if row is not None:
        raise DataError(f"{path.name} line {row + 1}: bad release date {raw.iat[row, 2]!r}")
    titles = raw[1].astype(object)
    movies = pd.DataFrame(
        {
            ITEM_COL: ids.to_numpy(dtype=np.int64),
            "title": titles,
            "year": _years(titles, dates),
            "release_date": dates.dt.strftime("%Y-%m-%d").fillna("").astype(object),
            "genres": _join_genres(flags == "1", genres),
            "imdb_url": raw[4].astype(object),
        }
    )
    dup = first_true(movies[ITEM_COL].duplicated().to_numpy())
    if dup is not None:
        raise DataError(
            f"{path.name} line {dup + 1}: duplicate movie id {movies.at[dup, ITEM_COL]}"
        )
    return movies


def _years(titles: pd.Series, dates: pd.Series) -> pd.Series:
    """Nullable Int64 year: last ``(YYYY)`` of the title, else the release date's year."""
    from_title = pd.to_numeric(titles.str.extract(_YEAR_IN_TITLE, expand=False), errors="coerce")
    year = from_title.fillna(dates.dt.year)
    return year.astype("Int64")


def _join_genres(flags: np.ndarray, names: list[str]) -> np.ndarray:
    """``flags`` (n_movies, n_genres) bool -> (n_movies,) object array of ``|``-joined names.

    The ``unknown`` genre is not a genre ("no genre known") and contributes no name.
    """
    keep = np.array([name != UNKNOWN_GENRE for name in names])
    labels = np.array([f"{name}|" for name in names], dtype=object)
    parts = np.where(flags & keep, labels, "")
    joined = parts.sum(axis=1) if parts.shape[1] else np.full(parts.shape[0], "", dtype=object)
    return pd.Series(joined, dtype=object).str.rstrip("|").to_numpy(dtype=object)
