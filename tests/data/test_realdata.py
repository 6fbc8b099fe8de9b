"""The data steps on the real MovieLens 100k (``../shared/data``), through the real code paths.

``ml-100k.zip`` is served from a loopback HTTP server so that download exercises httpx
streaming, extraction and the registry's SHA-256 checks exactly as against GroupLens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from movierec.config import Layout
from movierec.data.convert import convert
from movierec.data.datasets import get_dataset
from movierec.data.download import download
from movierec.data.ingest import IngestResult, ingest, load_ratings
from movierec.data.ml100k import read_u_data
from movierec.data.transform import TransformResult, to_interactions, transform, write_clean
from tests.data.conftest import LoopbackServer, loopback_server

pytestmark = pytest.mark.realdata

ZIP_PATH = "/datasets/movielens/ml-100k.zip"
COLD_FEVER = "Á köldum klaka (Cold Fever) (1994)"


@dataclass
class Run:
    layout: Layout
    server: LoopbackServer
    ingested: IngestResult
    transformed: TransformResult


@pytest.fixture(scope="module")
def run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """download (loopback HTTP) -> convert -> ingest -> transform -> write_clean, once."""
    with loopback_server() as server:
        url = server.serve(ZIP_PATH, (shared_data / "ml-100k.zip").read_bytes())
        layout = Layout(tmp_path_factory.mktemp("real") / "home")
        download(layout, url, progress=False)
        convert(layout)
        ingested = ingest(layout)
        transformed = transform(ingested.merged, 5, 20)
        write_clean(transformed.frame, layout)
        yield Run(layout, server, ingested, transformed)


def test_download_verified_checksums(run: Run, ml100k_dir: Path):
    spec = get_dataset("ml-100k")
    assert run.server.requests == [ZIP_PATH]
    for name, digest in spec.checksums.items():
        data = (run.layout.dataset_dir / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest
    extracted = sorted(p.name for p in run.layout.dataset_dir.iterdir())
    assert extracted == sorted(p.name for p in ml100k_dir.iterdir())  # all 24 files


def test_second_download_does_no_network_io(run: Run):
    url = run.server.url(ZIP_PATH)
    assert download(run.layout, url) == run.layout.dataset_dir
    assert download(run.layout) == run.layout.dataset_dir  # default GroupLens URL: not used
    assert len(run.server.requests) == 1


def test_converted_counts_and_quirks(run: Run):
    ratings = pd.read_csv(run.layout.ratings_csv)
    assert len(ratings) == 100_000
    assert (ratings["userId"].nunique(), ratings["movieId"].nunique()) == (943, 1682)
    movies = pd.read_csv(run.layout.movies_csv, keep_default_na=False, dtype=str)
    movies = movies.set_index("movieId")
    assert len(movies) == 1682
    assert movies.at["1633", "title"] == COLD_FEVER
    unknown = movies.loc["267"]
    assert (unknown["title"], unknown["year"], unknown["release_date"]) == ("unknown", "", "")
    assert movies.at["1", "genres"] == "Animation|Children's|Comedy"
    assert movies.at["23", "year"] == "1976"  # Taxi Driver: title year, not the 1996 re-release


def test_ingest(run: Run):
    r = run.ingested
    assert len(r.ratings) == len(r.merged) == 100_000
    assert r.rating_scale == (1.0, 5.0)
    assert set(r.merged.loc[r.merged["movieId"] == 1633, "title"]) == {COLD_FEVER}
    assert set(r.merged.loc[r.merged["movieId"] == 267, "title"]) == {"unknown"}


def test_transform_exact_counts(run: Run):
    s = run.transformed.summary
    assert (s.ratings_before, s.users_before, s.movies_before) == (100_000, 943, 1682)
    assert (s.ratings_after, s.users_after, s.movies_after) == (94_968, 943, 939)
    fix = transform(run.ingested.ratings, 5, 20, iterate=True).summary
    assert (fix.ratings_after, fix.users_after, fix.movies_after) == (94_968, 943, 939)
    clean = load_ratings(run.layout.clean_ratings_csv, get_dataset("ml-100k").scale)
    assert len(clean) == 94_968
    data = to_interactions(clean)
    assert data.shape == (943, 939) and data.nnz == 94_968


def test_canonical_split_reader(ml100k_dir: Path):
    base, test = read_u_data(ml100k_dir / "u1.base"), read_u_data(ml100k_dir / "u1.test")
    assert (len(base), len(test)) == (80_000, 20_000)


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_local_sources(shared_data: Path, tmp_path: Path, kind: str):
    layout = Layout(tmp_path / "home")
    source = shared_data / ("ml-100k" if kind == "folder" else "ml-100k.zip")
    path = download(layout, str(source))
    for name in ("u.data", "u.item", "u1.base"):
        assert (path / name).read_bytes() == (shared_data / "ml-100k" / name).read_bytes()
    (path / "u.data").unlink()  # the copy is writable and independent of the source
    assert (shared_data / "ml-100k" / "u.data").is_file()


def test_ml_latest_small_folder_source(shared_data: Path, tmp_path: Path):
    layout = Layout(tmp_path / "home", "ml-latest-small")
    path = download(layout, str(shared_data / "ml-latest-small"))
    assert path == tmp_path / "home" / "data" / "raw" / "ml-latest-small"
    ratings = load_ratings(path / "ratings.csv", get_dataset("ml-latest-small").scale)
    assert (len(ratings), ratings["userId"].nunique()) == (100_836, 610)
