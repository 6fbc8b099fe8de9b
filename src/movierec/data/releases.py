"""Parsers for the MovieLens releases beyond ml-100k, columnar and with exact error locations.

Formats (GroupLens, https://grouplens.org/datasets/movielens/):

* ``ml-1m``: ``ratings.dat`` ``UserID::MovieID::Rating::Timestamp`` (whole stars 1–5),
  ``movies.dat`` ``MovieID::Title::Genres`` in Latin-1, genres ``|``-joined, no header.
* ``ml-10m`` (folder ``ml-10M100K``): the same ``::`` layout with half-star ratings 0.5–5.
* ``ml-20m``, ``ml-25m``, ``ml-32m``, ``ml-latest``, ``ml-latest-small``: ``ratings.csv``
  (``userId,movieId,rating,timestamp``, header, half stars 0.5–5) and ``movies.csv``
  (``movieId,title,genres``, header, RFC-4180 quoting, UTF-8, ``(no genres listed)``).

Ratings are read with ``pyarrow.csv`` into typed columns (``userId``/``movieId`` int32,
``rating`` float32, ``timestamp`` int64: 20 bytes a rating, no Python object per row). The
``::`` separator is read as the one-character delimiter ``:`` whose odd columns must be empty
(typed ``null``, so a stray ``:`` is an error). A malformed or invalid row raises
:class:`~movierec.errors.DataError` naming the file and its physical line number
(``ratings.csv:19000001: ...``); locating a parse error costs one extra single-threaded pass
over the file, only on the error path.

Intermediates for large sets are Parquet (:func:`write_parquet`, :func:`read_parquet`,
schema-checked on read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from movierec.atomic import atomic_path
from movierec.errors import ConfigError, DataError

BASE_URL = "https://files.grouplens.org/datasets/movielens"
NO_GENRES = "(no genres listed)"

RATINGS_SCHEMA = pa.schema(
    [
        ("userId", pa.int32()),
        ("movieId", pa.int32()),
        ("rating", pa.float32()),
        ("timestamp", pa.int64()),
    ]
)
MOVIES_SCHEMA = pa.schema(
    [
        ("movieId", pa.int32()),
        ("title", pa.string()),
        ("year", pa.int32()),
        ("genres", pa.string()),
    ]
)
_YEAR_RE = r"\((\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$"


@dataclass(frozen=True)
class ReleaseFormat:
    """How one MovieLens release is laid out on disk.

    Attributes:
        name: registry name (``ml-25m``).
        layout: ``"dat"`` (``::``-separated, no header) or ``"csv"`` (comma, header).
        folder: the folder the official zip extracts to (``ml-10M100K`` for ml-10m).
        ratings_file / movies_file: file names inside ``folder``.
        movies_encoding: ``"latin-1"``, ``"utf-8"``, or ``"utf-8-or-latin-1"`` (UTF-8,
            falling back to Latin-1 if the bytes are not valid UTF-8).
        rating_scale: ``(min, max)``.
        half_stars: ratings move in steps of 0.5 (else whole stars).
        url: the official zip.
    """

    name: str
    layout: str
    folder: str
    ratings_file: str
    movies_file: str
    movies_encoding: str
    rating_scale: tuple[float, float]
    half_stars: bool
    url: str


def _dat(name: str, folder: str, scale: tuple[float, float], half: bool, enc: str) -> ReleaseFormat:
    return ReleaseFormat(
        name, "dat", folder, "ratings.dat", "movies.dat", enc, scale, half, f"{BASE_URL}/{name}.zip"
    )


def _csv(name: str) -> ReleaseFormat:
    return ReleaseFormat(
        name, "csv", name, "ratings.csv", "movies.csv", "utf-8", (0.5, 5.0), True,
        f"{BASE_URL}/{name}.zip",
    )  # fmt: skip


RELEASES: dict[str, ReleaseFormat] = {
    "ml-1m": _dat("ml-1m", "ml-1m", (1.0, 5.0), False, "latin-1"),
    "ml-10m": _dat("ml-10m", "ml-10M100K", (0.5, 5.0), True, "utf-8-or-latin-1"),
    **{n: _csv(n) for n in ("ml-20m", "ml-25m", "ml-32m", "ml-latest", "ml-latest-small")},
}


def release_format(name: str) -> ReleaseFormat:
    """The :class:`ReleaseFormat` called ``name``; :class:`ConfigError` listing names otherwise."""
    try:
        return RELEASES[name]
    except KeyError:
        raise ConfigError(
            f"unknown MovieLens release {name!r}; choose one of: {', '.join(sorted(RELEASES))}"
        ) from None


def release_dir(name: str, directory: str | Path) -> Path:
    """The folder holding ``name``'s files: ``directory`` itself or ``directory/<folder>``."""
    fmt = release_format(name)
    directory = Path(directory)
    for candidate in (directory, directory / fmt.folder):
        if (candidate / fmt.ratings_file).is_file():
            return candidate
    raise DataError(
        f"{fmt.ratings_file} of {name} not found in {directory} (nor in {directory / fmt.folder})"
    )


# ---------------------------------------------------------------------------- ratings
def _csv_options(
    fmt: ReleaseFormat, threads: bool
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    if fmt.layout == "csv":
        read = pacsv.ReadOptions(use_threads=threads, block_size=1 << 24)
        parse = pacsv.ParseOptions(delimiter=",", ignore_empty_lines=False)
        types = {f.name: f.type for f in RATINGS_SCHEMA}
        convert = pacsv.ConvertOptions(column_types=types, include_columns=RATINGS_SCHEMA.names)
        return read, parse, convert
    # "a::b::c::d" read with delimiter ":" gives a,"",b,"",c,"",d: odd columns must be empty.
    names = [f"c{i}" for i in range(7)]
    read = pacsv.ReadOptions(use_threads=threads, block_size=1 << 24, column_names=names)
    parse = pacsv.ParseOptions(delimiter=":", quote_char=False, ignore_empty_lines=False)
    types = {names[2 * i]: f.type for i, f in enumerate(RATINGS_SCHEMA)}
    types.update({names[2 * i + 1]: pa.null() for i in range(3)})
    convert = pacsv.ConvertOptions(column_types=types)
    return read, parse, convert


def _locate_parse_error(path: Path, fmt: ReleaseFormat, first: Exception) -> DataError:
    """Re-read ``path`` on one thread so pyarrow reports the physical row of the failure."""
    read, parse, convert = _csv_options(fmt, threads=False)
    try:
        pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        return _parse_error(path, str(exc), fmt)
    return _parse_error(path, str(first), fmt)  # pragma: no cover - both passes agree


def _parse_error(path: Path, message: str, fmt: ReleaseFormat) -> DataError:
    """Turn pyarrow's message (``In CSV column #1: Row #7: CSV conversion error ...``) into
    ``malformed row at <path>:<line>: column <name>: <detail>``."""
    match = re.search(r"Row #(\d+): ", message)
    line = f":{int(match.group(1))}" if match else ""
    detail = message[match.end() :] if match else message
    detail = detail.removeprefix("CSV parse error: ").strip()
    detail = re.sub(r"CSV conversion error to (\w+)", r"not a valid \1", detail)
    column = re.search(r"In CSV column #(\d+)", message)
    if fmt.layout == "dat":
        detail = re.sub(r"Expected 7 columns, got (\d+)", _dat_columns, detail)
        if column and int(column.group(1)) % 2:
            name = RATINGS_SCHEMA.names[int(column.group(1)) // 2]
            detail = f"stray ':' after {name}" + detail.removeprefix("not a valid null")
            column = None
    if column:
        idx = int(column.group(1)) // (2 if fmt.layout == "dat" else 1)
        detail = f"column {RATINGS_SCHEMA.names[min(idx, 3)]}: {detail}"
    return DataError(f"malformed row at {path}{line}: {detail}")


def _dat_columns(match: re.Match[str]) -> str:
    return f"expected 4 '::'-separated fields, got {(int(match.group(1)) + 1) // 2}"


def read_ratings(path: str | Path, fmt: ReleaseFormat | str) -> pd.DataFrame:
    """Read a ratings file of release ``fmt`` into typed columns and validate it.

    Args:
        path: ``ratings.csv`` or ``ratings.dat``.
        fmt: the release format (or its name).

    Returns:
        Frame ``userId`` (int32), ``movieId`` (int32), ``rating`` (float32), ``timestamp``
        (int64), one row per line in file order.

    Raises:
        DataError: a malformed row, a missing value, or a rating off the release's scale,
            with the file and its line number.
    """
    fmt = release_format(fmt) if isinstance(fmt, str) else fmt
    path = Path(path)
    if not path.is_file():
        raise DataError(f"ratings file not found: {path}")
    if fmt.layout == "csv":
        with path.open("rb") as fh:
            header = fh.readline().decode("utf-8", "replace").strip().split(",")
        missing = [c for c in RATINGS_SCHEMA.names if c not in header]
        if missing:
            raise DataError(f"{path}:1: header lacks column(s) {', '.join(missing)}: {header}")
    read, parse, convert = _csv_options(fmt, threads=True)
    try:
        table = pacsv.read_csv(
            path, read_options=read, parse_options=parse, convert_options=convert
        )
    except pa.ArrowInvalid as exc:
        raise _locate_parse_error(path, fmt, exc) from None
    if fmt.layout == "dat":
        table = table.select(["c0", "c2", "c4", "c6"]).rename_columns(RATINGS_SCHEMA.names)
    first_line = 2 if fmt.layout == "csv" else 1
    _check_nulls(table, path, first_line)
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    _check_scale(frame["rating"].to_numpy(), fmt, path, first_line)
    return frame


def _check_nulls(table: pa.Table, path: Path, first_line: int) -> None:
    for name in RATINGS_SCHEMA.names:
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            values = [table.column(c)[row].as_py() for c in RATINGS_SCHEMA.names]
            what = "empty line" if all(v is None for v in values) else f"{name} is empty"
            raise DataError(f"malformed row at {path}:{row + first_line}: {what}")


def _check_scale(rating: np.ndarray, fmt: ReleaseFormat, path: Path, first_line: int) -> None:
    lo, hi = fmt.rating_scale
    step = 2.0 if fmt.half_stars else 1.0
    scaled = rating * step
    bad = (rating < lo) | (rating > hi) | (scaled != np.round(scaled))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        steps = "half stars" if fmt.half_stars else "whole stars"
        raise DataError(
            f"invalid rating at {path}:{row + first_line}: {rating[row]:g} is not "
            f"{lo:g}-{hi:g} in {steps} ({fmt.name})"
        )


# ---------------------------------------------------------------------------- movies
def _decode(raw: bytes, encoding: str, path: Path) -> str:
    if encoding == "utf-8-or-latin-1":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid {encoding} text") from None


def read_movies(path: str | Path, fmt: ReleaseFormat | str) -> pd.DataFrame:
    """Read a movies file of release ``fmt``.

    Returns:
        Frame ``movieId`` (int64), ``title`` (str, as published, surrounding spaces
        stripped), ``year`` (nullable Int64, from a trailing ``(YYYY)`` or ``(YYYY-YYYY)``
        in the title), ``genres`` (``|``-joined str; ``""`` for ``(no genres listed)``).

    Raises:
        DataError: a row without three fields or with a non-integer id (file and line
            named), undecodable text, or a duplicate movieId.
    """
    fmt = release_format(fmt) if isinstance(fmt, str) else fmt
    path = Path(path)
    if not path.is_file():
        raise DataError(f"movies file not found: {path}")
    if fmt.layout == "csv":
        frame = _read_movies_csv(path)
        first_line = 2
    else:
        frame = _read_movies_dat(path, fmt)
        first_line = 1
    ids = pd.to_numeric(frame["movieId"], errors="coerce")
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(
            f"malformed row at {path}:{row + first_line}: movieId "
            f"{frame['movieId'].iloc[row]!r} is not an integer"
        )
    dup = ids.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"duplicate movieId {int(ids.iloc[row])} at {path}:{row + first_line}")
    title = frame["title"].astype(str).str.strip()
    genres = frame["genres"].fillna("").astype(str).str.strip()
    return pd.DataFrame(
        {
            "movieId": ids.to_numpy(dtype=np.int64),
            "title": title.to_numpy(),
            "year": pd.to_numeric(title.str.extract(_YEAR_RE, expand=False)).astype("Int64"),
            "genres": genres.where(genres != NO_GENRES, "").to_numpy(),
        }
    )


def _read_movies_csv(path: Path) -> pd.DataFrame:
    convert = pacsv.ConvertOptions(
        column_types={"movieId": pa.string(), "title": pa.string(), "genres": pa.string()},
        include_columns=["movieId", "title", "genres"],
    )
    for threads in (True, False):
        try:
            read = pacsv.ReadOptions(use_threads=threads)
            table = pacsv.read_csv(path, read_options=read, convert_options=convert)
            return table.to_pandas()
        except pa.ArrowInvalid as exc:
            if not threads:
                match = re.search(r"Row #(\d+): ", str(exc))
                where = f":{match.group(1)}" if match else ""
                detail = str(exc)[match.end() :] if match else str(exc)
                raise DataError(f"malformed row at {path}{where}: {detail}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _read_movies_dat(path: Path, fmt: ReleaseFormat) -> pd.DataFrame:
    text = _decode(path.read_bytes(), fmt.movies_encoding, path)
    lines = pd.Series(text.splitlines(), dtype=object)
    parts = lines.str.split("::", n=2, expand=True)
    if parts.shape[1] < 3 or parts[2].isna().any():
        bad = 0 if parts.shape[1] < 3 else int(np.flatnonzero(parts[2].isna().to_numpy())[0])
        raise DataError(
            f"malformed row at {path}:{bad + 1}: expected MovieID::Title::Genres, "
            f"got {lines.iloc[bad]!r}"
        )
    return pd.DataFrame({"movieId": parts[0], "title": parts[1], "genres": parts[2]})


# ---------------------------------------------------------------------------- release
def load_release(
    name: str, directory: str | Path, validate: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load one MovieLens release from its extracted folder.

    Args:
        name: a key of :data:`RELEASES` (``ml-1m``, ``ml-10m``, ``ml-20m``, ``ml-25m``,
            ``ml-32m``, ``ml-latest``, ``ml-latest-small``).
        directory: the extracted folder (or its parent holding ``<folder>/``).
        validate: also check that no (userId, movieId) pair repeats and that every rated
            movie is in the movies file (O(n) when the file is sorted by user then movie, as
            every release is; one O(n log n) sort of a 64-bit key otherwise).

    Returns:
        ``(ratings, movies)``: ratings ``userId, movieId, rating, timestamp`` (see
        :func:`read_ratings`), movies ``movieId, title, year, genres`` (see
        :func:`read_movies`); external MovieLens ids throughout.

    Raises:
        ConfigError: unknown release name.
        DataError: missing files or invalid content, naming file and line.
    """
    fmt = release_format(name)
    folder = release_dir(name, directory)
    ratings = read_ratings(folder / fmt.ratings_file, fmt)
    movies = read_movies(folder / fmt.movies_file, fmt)
    if validate:
        first_line = 2 if fmt.layout == "csv" else 1
        check_ratings(ratings, movies, folder / fmt.ratings_file, first_line)
    return ratings, movies


def check_ratings(
    ratings: pd.DataFrame, movies: pd.DataFrame, path: Path | str, first_line: int = 2
) -> None:
    """Raise :class:`DataError` on a repeated (userId, movieId) pair or an unknown movie.

    Row ``i`` of ``ratings`` is reported as line ``i + first_line`` of ``path``.
    """
    user = ratings["userId"].to_numpy()
    item = ratings["movieId"].to_numpy()
    if user.size == 0:
        return
    if int(user.min()) < 0 or int(item.min()) < 0:
        row = int(np.flatnonzero((user < 0) | (item < 0))[0])
        raise DataError(f"negative id at {path}:{row + first_line}")
    known = np.zeros(int(max(item.max(), movies["movieId"].max())) + 1, dtype=bool)
    known[movies["movieId"].to_numpy()] = True
    unknown = ~known[item]
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(
            f"rating at {path}:{row + first_line} is for movie {int(item[row])}, "
            "which is not in the movies file"
        )
    key = (user.astype(np.int64) << 32) | item.astype(np.int64)
    if bool(np.all(key[1:] > key[:-1])):  # sorted by user, movie (every release): O(n)
        return
    order = np.argsort(key, kind="stable")
    same = np.flatnonzero(key[order[1:]] == key[order[:-1]])
    if same.size:
        first, second = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        raise DataError(
            f"duplicate rating of movie {int(item[first])} by user {int(user[first])} at "
            f"{path}:{first + first_line} and line {second + first_line}"
        )


# ---------------------------------------------------------------------------- parquet / csv
def write_parquet(frame: pd.DataFrame, path: str | Path, schema: pa.Schema) -> Path:
    """Write ``frame`` to ``path`` as Parquet with ``schema`` (atomic: temp file + rename)."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 22)
    return Path(path)


def read_parquet(path: str | Path, schema: pa.Schema = RATINGS_SCHEMA) -> pd.DataFrame:
    """Read a Parquet intermediate, checking its columns and types against ``schema``.

    Raises:
        DataError: missing file, not Parquet, or a column missing / of another type
            (e.g. ``ratings.parquet: column rating is string, expected float``).
    """
    path = Path(path)
    try:
        found = pq.read_schema(path)
    except FileNotFoundError:
        raise DataError(f"Parquet file not found: {path}") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path} is not a readable Parquet file: {exc}") from None
    problems = []
    for field in schema:
        idx = found.get_field_index(field.name)
        if idx < 0:
            problems.append(f"column {field.name} is missing")
        elif not _compatible(found.field(idx).type, field.type):
            problems.append(
                f"column {field.name} is {found.field(idx).type}, expected {field.type}"
            )
    if problems:
        raise DataError(f"{path}: wrong schema: {'; '.join(problems)}")
    table = pq.read_table(path, columns=schema.names)
    frame = table.cast(schema).to_pandas(split_blocks=True, self_destruct=True)
    if "year" in frame.columns:  # nullable: pandas would turn missing years into float NaN
        frame["year"] = frame["year"].astype("Int64")
    return frame


def _compatible(found: pa.DataType, expected: pa.DataType) -> bool:
    if pa.types.is_integer(expected):
        return pa.types.is_integer(found)
    if pa.types.is_floating(expected):
        return pa.types.is_floating(found) or pa.types.is_integer(found)
    if pa.types.is_string(expected) or pa.types.is_large_string(expected):
        return pa.types.is_string(found) or pa.types.is_large_string(found)
    return found.equals(expected)


_HALF_STAR_TEXT = pa.array([f"{k / 2:.1f}" for k in range(11)])  # "0.0" … "5.0"


def rating_text(rating: np.ndarray) -> pa.Array:
    """Ratings as MovieLens writes them (``4.0``, ``3.5``); other values as pyarrow prints them."""
    doubled = rating.astype(np.float64) * 2.0
    code = np.rint(doubled)
    if rating.size and (np.any(code != doubled) or code.min() < 0 or code.max() > 10):
        return pa.array(rating)
    return _HALF_STAR_TEXT.take(pa.array(code.astype(np.int8)))


def write_ratings_csv(ratings: pd.DataFrame, path: str | Path, chunk_rows: int = 1 << 22) -> Path:
    """Write ratings as ml-25m CSV (``userId,movieId,rating,timestamp``, ``4.0``), atomically.

    Written ``chunk_rows`` rows at a time, so memory beyond ``ratings`` stays bounded.
    """
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        fh.write(b"userId,movieId,rating,timestamp\n")
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        for start in range(0, len(ratings), chunk_rows):
            part = ratings.iloc[start : start + chunk_rows]
            table = pa.table(
                {
                    "userId": part["userId"].to_numpy(),
                    "movieId": part["movieId"].to_numpy(),
                    "rating": rating_text(part["rating"].to_numpy()),
                    "timestamp": part["timestamp"].to_numpy(),
                }
            )
            pacsv.write_csv(table, fh, options)
    return Path(path)


def write_movies_csv(movies: pd.DataFrame, path: str | Path) -> Path:
    """Write movies as UTF-8 CSV ``movieId,title,year,genres`` (RFC-4180 quoting), atomically."""
    table = pa.Table.from_pandas(
        movies[["movieId", "title", "year", "genres"]], schema=MOVIES_SCHEMA, preserve_index=False
    )
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
    return Path(path)


def convert_release_csv(
    name: str, directory: str | Path, ratings_csv: str | Path, movies_csv: str | Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pipeline's ``convert`` step for a non-ml-100k release.

    Loads and validates release ``name`` from ``directory`` (``data/raw/<name>/``), then
    writes ``ratings_csv`` (``userId,movieId,rating,timestamp``) and ``movies_csv``
    (``movieId,title,year,genres``); both files are validated before either is written, and
    each write is atomic. Returns the two frames.
    """
    ratings, movies = load_release(name, directory)
    write_ratings_csv(ratings, ratings_csv)
    write_movies_csv(movies, movies_csv)
    return ratings, movies


def convert_release(name: str, directory: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Load release ``name`` and write ``ratings.parquet`` and ``movies.parquet`` to ``out_dir``.

    Returns:
        ``{"ratings": path, "movies": path}``.
    """
    ratings, movies = load_release(name, directory)
    out_dir = Path(out_dir)
    return {
        "ratings": write_parquet(ratings, out_dir / "ratings.parquet", RATINGS_SCHEMA),
        "movies": write_parquet(movies, out_dir / "movies.parquet", MOVIES_SCHEMA),
    }
