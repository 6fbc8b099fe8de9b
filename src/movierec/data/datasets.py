"""The registry of MovieLens releases: where each lives, how to check it, how to parse it.

Every release is a zip from GroupLens holding one folder (``DatasetSpec.archive_folder``)
that :func:`movierec.data.download.download` extracts to ``data/raw/<name>/``
(:attr:`movierec.config.Layout.dataset_dir`). Checksums are SHA-256 digests of the *content*
files after extraction, not of the zip, so they hold whatever the archive packaging (the
GroupLens zip and a re-zipped copy give the same digests). ``None`` means "not pinned":
the file must exist but its content is not checked (``ml-latest`` changes over time).

Formats (:attr:`DatasetSpec.format`):

- ``"ml100k"``: ``u.data`` (tab-separated ``user item rating timestamp``, no header) and
  ``u.item`` (``|``-separated, ISO-8859-1, 19 genre flags named by ``u.genre``);
- ``"dat"``: ``ratings.dat`` / ``movies.dat`` with ``::`` separators (ml-1m is ISO-8859-1,
  ml-10m UTF-8), genres ``|``-joined;
- ``"csv"``: ``ratings.csv`` / ``movies.csv`` with a header, half-star ratings, genres
  ``|``-joined or ``(no genres listed)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from movierec.errors import ConfigError

DatasetFormat = Literal["ml100k", "dat", "csv"]

GROUPLENS = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class DatasetSpec:
    """One MovieLens release.

    Attributes:
        name: registry key and the folder name under ``data/raw/`` (e.g. ``"ml-100k"``).
        url: the official zip.
        archive_folder: the top-level folder inside the zip (``ml-10m`` ships ``ml-10M100K``).
        checksums: content file name (relative to the folder) -> SHA-256 hex digest, or
            ``None`` when the file must exist but is not pinned.
        size_bytes: approximate size of the zip (progress bar fallback, ``datasets`` listing).
        format: parser kind, see the module docstring.
        ratings_file / movies_file: the files holding ratings and movie metadata.
        encoding: text encoding of the movies file.
        rating_scale: ``(min, max)`` rating; half-star releases are ``(0.5, 5.0)``.
        n_ratings / n_users / n_movies: published counts (movies = rows of the movies file;
            ``None`` when the release changes over time). Informational only.
        description: one line for listings.
    """

    name: str
    url: str
    archive_folder: str
    checksums: dict[str, str | None] = field(default_factory=dict)
    size_bytes: int | None = None
    format: DatasetFormat = "csv"
    ratings_file: str = "ratings.csv"
    movies_file: str = "movies.csv"
    encoding: str = "utf-8"
    rating_scale: tuple[float, float] = (0.5, 5.0)
    n_ratings: int | None = None
    n_users: int | None = None
    n_movies: int | None = None
    description: str = ""

    @property
    def required_files(self) -> tuple[str, ...]:
        """Files that must exist in the extracted folder (checksummed ones and the data files)."""
        names = dict.fromkeys([*self.checksums, self.ratings_file, self.movies_file])
        return tuple(names)


_SPECS = [
    DatasetSpec(
        name="ml-100k",
        url=f"{GROUPLENS}/ml-100k.zip",
        archive_folder="ml-100k",
        checksums={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
        },
        size_bytes=4_924_029,
        format="ml100k",
        ratings_file="u.data",
        movies_file="u.item",
        encoding="iso-8859-1",
        rating_scale=(1.0, 5.0),
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
        checksums={"ratings.dat": None, "movies.dat": None, "users.dat": None},
        size_bytes=5_900_000,
        format="dat",
        ratings_file="ratings.dat",
        movies_file="movies.dat",
        encoding="iso-8859-1",
        rating_scale=(1.0, 5.0),
        n_ratings=1_000_209,
        n_users=6_040,
        n_movies=3_883,
        description="MovieLens 1M (2003): '::'-separated .dat, Latin-1",
    ),
    DatasetSpec(
        name="ml-10m",
        url=f"{GROUPLENS}/ml-10m.zip",
        archive_folder="ml-10M100K",
        checksums={"ratings.dat": None, "movies.dat": None},
        size_bytes=63_000_000,
        format="dat",
        ratings_file="ratings.dat",
        movies_file="movies.dat",
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


def get_dataset(name: str) -> DatasetSpec:
    """The spec registered as ``name``; raises :class:`ConfigError` listing the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        valid = ", ".join(DATASETS)
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {valid}") from None


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` to the registry (e.g. a private mirror); refuses to overwrite by default."""
    if spec.name in DATASETS and not replace:
        raise ConfigError(f"dataset {spec.name!r} is already registered")
    DATASETS[spec.name] = spec
    return spec
