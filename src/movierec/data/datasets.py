"""The registry of MovieLens releases: every fact about a release, in one place.

One :class:`DatasetSpec` per release holds where it lives (URL, the folder inside its zip),
how to check it (SHA-256 of its content files), which files hold what, how to parse them
(format, text encoding), its rating scale and its published counts. Every other module asks
the registry (:func:`get_dataset`); none keeps a table of its own.

Every release is a zip from GroupLens holding one folder (``DatasetSpec.archive_folder``)
that :func:`movierec.data.download.download` extracts to ``data/raw/<name>/``
(:attr:`movierec.config.Layout.dataset_dir`). Checksums are SHA-256 digests of the *content*
files after extraction, not of the zip, so they hold whatever the archive packaging (the
GroupLens zip and a re-zipped copy give the same digests). ``None`` means "not pinned":
the file must exist but its content is not checked (``ml-latest`` changes over time).

Formats (:attr:`DatasetSpec.format`; the readers are :mod:`movierec.data.ml100k` and
:mod:`movierec.data.releases`):

- ``"ml100k"``: ``u.data`` (tab-separated ``user item rating timestamp``, no header) and
  ``u.item`` (``|``-separated, ISO-8859-1, 19 genre flags named by ``u.genre``), plus the
  canonical splits ``u1..u5.base/.test`` and ``ua/ub.base/.test``;
- ``"dat"``: ``ratings.dat`` / ``movies.dat`` with ``::`` separators, no header, genres
  ``|``-joined;
- ``"csv"``: ``ratings.csv`` / ``movies.csv`` with a header, RFC-4180 quoting, genres
  ``|``-joined or ``(no genres listed)``.

Text encodings (:attr:`DatasetSpec.encoding`, of the movies file): ml-100k and ml-1m are
ISO-8859-1 (ml-1m's ``movies.dat`` has Latin-1 bytes such as ``Mis\\xe9rables``, invalid as
UTF-8); ml-10m and the CSV releases are UTF-8. ml-10m's ``movies.dat`` holds accented titles
(movie 29 is *City of Lost Children, The (Cité des enfants perdus, La) (1995)*) and decodes
as strict UTF-8, which is why it is read as UTF-8 with no Latin-1 fallback: a fallback would
decode a damaged file into wrong titles instead of naming the bad line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from movierec.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

DatasetFormat = Literal["ml100k", "dat", "csv"]

GROUPLENS = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class RatingScale:
    """The ratings a release allows: ``lo, lo + step, …, hi``.

    Attributes:
        lo / hi: smallest and largest rating (inclusive).
        step: 1.0 for whole stars, 0.5 for half stars; a rating ``r`` is on the grid when
            ``r / step`` is a whole number.
    """

    lo: float
    hi: float
    step: float

    @property
    def bounds(self) -> tuple[float, float]:
        """``(lo, hi)``: what :class:`~movierec.interactions.Interactions` calls the scale."""
        return (self.lo, self.hi)

    @property
    def half_stars(self) -> bool:
        return self.step < 1.0

    @property
    def grid_name(self) -> str:
        return "half stars" if self.half_stars else "whole stars"

    def describe(self) -> str:
        """``"0.5-5 in half stars"``."""
        return f"{self.lo:g}-{self.hi:g} in {self.grid_name}"

    def invalid(self, ratings: np.ndarray) -> np.ndarray:
        """Boolean mask of ``ratings`` outside ``[lo, hi]`` or off the grid (NaN included)."""
        import numpy as np

        r = np.asarray(ratings, dtype=np.float64)
        units = r / self.step
        with np.errstate(invalid="ignore"):
            return ~((r >= self.lo) & (r <= self.hi) & (units == np.round(units)))


WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)
HALF_STARS = RatingScale(0.5, 5.0, 0.5)


@dataclass(frozen=True)
class DatasetSpec:
    """One MovieLens release.

    Attributes:
        name: registry key and the folder name under ``data/raw/`` (e.g. ``"ml-100k"``).
        url: the official zip.
        archive_folder: the top-level folder inside the zip (``ml-10m`` ships ``ml-10M100K``).
        format: parser kind, see the module docstring.
        ratings_file / movies_file: the files holding ratings and movie metadata.
        genre_file: the file naming the movies file's genre flags (ml-100k's ``u.genre``),
            or ``None`` when genres are spelt out in the movies file.
        split_files: predefined ``(train, test)`` file pairs the release ships, by name
            (ml-100k: ``"u1"`` -> ``("u1.base", "u1.test")`` …); empty for most releases.
        checksums: content file name (relative to the folder) -> SHA-256 hex digest, or
            ``None`` when the file must exist but is not pinned.
        encoding: text encoding of the movies file (and of ``u.genre``), a Python codec.
        scale: the rating scale and its grid.
        size_bytes: approximate size of the zip (progress bar fallback, ``datasets`` listing).
        n_ratings / n_users / n_movies: published counts (movies = rows of the movies file;
            ``None`` when the release changes over time).
        description: one line for listings.
    """

    name: str
    url: str
    archive_folder: str
    format: DatasetFormat = "csv"
    ratings_file: str = "ratings.csv"
    movies_file: str = "movies.csv"
    genre_file: str | None = None
    split_files: dict[str, tuple[str, str]] = field(default_factory=dict)
    checksums: dict[str, str | None] = field(default_factory=dict)
    encoding: str = "utf-8"
    scale: RatingScale = HALF_STARS
    size_bytes: int | None = None
    n_ratings: int | None = None
    n_users: int | None = None
    n_movies: int | None = None
    description: str = ""

    @property
    def rating_scale(self) -> tuple[float, float]:
        """``(min, max)`` rating (``scale.bounds``)."""
        return self.scale.bounds

    @property
    def header_lines(self) -> int:
        """Lines before the first rating of ``ratings_file`` (1 for CSV, else 0)."""
        return 1 if self.format == "csv" else 0

    @property
    def required_files(self) -> tuple[str, ...]:
        """Files that must exist in the extracted folder: the ratings, movies and genre
        files and every checksummed file."""
        names = [self.ratings_file, self.movies_file, self.genre_file, *self.checksums]
        return tuple(dict.fromkeys(n for n in names if n is not None))


def _ml100k_splits() -> dict[str, tuple[str, str]]:
    names = [f"u{i}" for i in range(1, 6)] + ["ua", "ub"]
    return {n: (f"{n}.base", f"{n}.test") for n in names}


_SPECS = [
    DatasetSpec(
        name="ml-100k",
        url=f"{GROUPLENS}/ml-100k.zip",
        archive_folder="ml-100k",
        format="ml100k",
        ratings_file="u.data",
        movies_file="u.item",
        genre_file="u.genre",
        split_files=_ml100k_splits(),
        checksums={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
        },
        encoding="iso-8859-1",
        scale=WHOLE_STARS,
        size_bytes=4_924_029,
        n_ratings=100_000,
        n_users=943,
        n_movies=1_682,
        description="MovieLens 100K (1998): 100,000 ratings 1-5, u1-u5/ua/ub splits",
    ),
    DatasetSpec(
        name="ml-latest-small",
        url=f"{GROUPLENS}/ml-latest-small.zip",
        archive_folder="ml-latest-small",
        checksums={
            "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
            "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
        },
        size_bytes=980_000,
        n_ratings=100_836,
        n_users=610,
        n_movies=9_742,
        description="MovieLens latest small (2018 snapshot): 100,836 half-star ratings",
    ),
    DatasetSpec(
        name="ml-1m",
        url=f"{GROUPLENS}/ml-1m.zip",
        archive_folder="ml-1m",
        format="dat",
        ratings_file="ratings.dat",
        movies_file="movies.dat",
        checksums={"ratings.dat": None, "movies.dat": None, "users.dat": None},
        encoding="iso-8859-1",
        scale=WHOLE_STARS,
        size_bytes=5_900_000,
        n_ratings=1_000_209,
        n_users=6_040,
        n_movies=3_883,
        description="MovieLens 1M (2003): '::'-separated .dat, Latin-1",
    ),
    DatasetSpec(
        name="ml-10m",
        url=f"{GROUPLENS}/ml-10m.zip",
        archive_folder="ml-10M100K",
        format="dat",
        ratings_file="ratings.dat",
        movies_file="movies.dat",
        checksums={"ratings.dat": None, "movies.dat": None},
        size_bytes=63_000_000,
        n_ratings=10_000_054,
        n_users=69_878,
        n_movies=10_681,
        description="MovieLens 10M (2009): '::'-separated .dat, half stars",
    ),
    DatasetSpec(
        name="ml-20m",
        url=f"{GROUPLENS}/ml-20m.zip",
        archive_folder="ml-20m",
        checksums={"ratings.csv": None, "movies.csv": None},
        size_bytes=190_000_000,
        n_ratings=20_000_263,
        n_users=138_493,
        n_movies=27_278,
        description="MovieLens 20M (2015): CSV with header, half stars",
    ),
    DatasetSpec(
        name="ml-25m",
        url=f"{GROUPLENS}/ml-25m.zip",
        archive_folder="ml-25m",
        checksums={"ratings.csv": None, "movies.csv": None},
        size_bytes=250_000_000,
        n_ratings=25_000_095,
        n_users=162_541,
        n_movies=62_423,
        description="MovieLens 25M (2019): CSV with header, half stars",
    ),
    DatasetSpec(
        name="ml-32m",
        url=f"{GROUPLENS}/ml-32m.zip",
        archive_folder="ml-32m",
        checksums={"ratings.csv": None, "movies.csv": None},
        size_bytes=239_000_000,
        n_ratings=32_000_204,
        n_users=200_948,
        n_movies=87_585,
        description="MovieLens 32M (2023): CSV with header, half stars",
    ),
    DatasetSpec(
        name="ml-latest",
        url=f"{GROUPLENS}/ml-latest.zip",
        archive_folder="ml-latest",
        checksums={"ratings.csv": None, "movies.csv": None},
        size_bytes=None,
        description="MovieLens latest full (changes over time, not pinned)",
    ),
]

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}


def dataset_names() -> list[str]:
    """Registered dataset names, in registry order (ml-100k first)."""
    return list(DATASETS)


def get_dataset(name: str | DatasetSpec) -> DatasetSpec:
    """The spec registered as ``name`` (a spec is returned as is); raises
    :class:`ConfigError` listing the valid names."""
    if isinstance(name, DatasetSpec):
        return name
    try:
        return DATASETS[name]
    except KeyError:
        valid = ", ".join(DATASETS)
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {valid}") from None


def widest_scale() -> RatingScale:
    """The scale accepting every registered release's ratings (smallest ``lo`` and ``step``,
    largest ``hi``): what a ratings file of unknown origin is checked against."""
    specs = list(DATASETS.values())
    return RatingScale(
        min(s.scale.lo for s in specs),
        max(s.scale.hi for s in specs),
        min(s.scale.step for s in specs),
    )


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` to the registry (e.g. a private mirror); refuses to overwrite by default."""
    if spec.name in DATASETS and not replace:
        raise ConfigError(f"dataset {spec.name!r} is already registered")
    check_spec(spec)
    DATASETS[spec.name] = spec
    return spec


def check_spec(spec: DatasetSpec) -> None:
    """Raise :class:`ConfigError` if ``spec``'s facts contradict each other.

    Checked: a known format whose file names fit it (``.dat`` for ``dat``, ``.csv`` for
    ``csv``); a codec Python knows; a scale with ``lo < hi`` whose bounds lie on its grid;
    checksums that are 64 hex digits or ``None``; published counts that fit together
    (``n_users <= n_ratings``, ``n_movies >= 1``).
    """
    import codecs

    problems = []
    suffix = {"dat": ".dat", "csv": ".csv"}.get(spec.format)
    if spec.format not in ("ml100k", "dat", "csv"):
        problems.append(f"unknown format {spec.format!r}")
    elif suffix and not all(f.endswith(suffix) for f in (spec.ratings_file, spec.movies_file)):
        problems.append(f"{spec.format} files must end in {suffix}")
    try:
        codecs.lookup(spec.encoding)
    except LookupError:
        problems.append(f"unknown encoding {spec.encoding!r}")
    s = spec.scale
    on_grid = all(math.isclose(v / s.step, round(v / s.step)) for v in (s.lo, s.hi))
    if not (0 < s.step and s.lo < s.hi and on_grid):
        problems.append(f"inconsistent rating scale {s}")
    for name, digest in spec.checksums.items():
        if digest is not None and (len(digest) != 64 or not _is_hex(digest)):
            problems.append(f"checksum of {name} is not a SHA-256 hex digest")
    if spec.n_users is not None and spec.n_ratings is not None and spec.n_users > spec.n_ratings:
        problems.append("more users than ratings")
    if spec.n_movies is not None and spec.n_movies < 1:
        problems.append("no movies")
    if problems:
        raise ConfigError(f"dataset {spec.name!r}: {'; '.join(problems)}")


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
