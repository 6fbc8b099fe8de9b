"""The large-scale synthetic generator, checked at small sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.data.releases import load_release
from movierec.data.synth import GENRES, parse_count, synthesize
from movierec.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("25M", 25_000_000),
        ("162k", 162_000),
        ("62K", 62_000),
        ("1.5m", 1_500_000),
        ("62,423", 62_423),
        ("1e6", 1_000_000),
        (" 7 ", 7),
        (42, 42),
    ],
)
def test_parse_count(text: str | int, value: int) -> None:
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "M", "-5", "1.5", "0", "ten", "5 MB", "1.2345k"])
def test_parse_count_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_count(text)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    out = tmp_path_factory.mktemp("synth")
    summary = synthesize(60_000, 400, 3_000, seed=3, out_dir=out, chunk_ratings=7_000)
    assert summary.n_ratings == 60_000 and summary.ratings_path == out / "ratings.csv"
    ratings, movies = load_release("ml-25m", out)  # validates pairs and movie ids
    return out, ratings, movies


def test_shape_and_format(small: tuple[Path, pd.DataFrame, pd.DataFrame]) -> None:
    out, ratings, movies = small
    assert len(ratings) == 60_000
    assert sorted(ratings["userId"].unique()) == list(range(1, 401))
    assert len(movies) == 3_000 and movies["movieId"].is_unique
    assert movies["movieId"].max() <= 9_000  # sparse ids in 1..3 n_movies
    assert not ratings.duplicated(["userId", "movieId"]).any()
    keys = ratings["userId"].astype(np.int64) * 10**6 + ratings["movieId"]
    assert keys.is_monotonic_increasing  # sorted by userId, movieId like ml-25m
    assert set(ratings["rating"].unique()) <= {k / 2 for k in range(1, 11)}
    lines = (out / "ratings.csv").read_text().splitlines()
    assert lines[0] == "userId,movieId,rating,timestamp"
    assert lines[1].count(",") == 3 and lines[1].split(",")[2] in {
        f"{k / 2:.1f}" for k in range(11)
    }
    head = (out / "movies.csv").read_text().splitlines()[0]
    assert head == "movieId,title,genres"
    ts = pd.to_datetime(ratings["timestamp"], unit="s")
    assert ts.min() >= pd.Timestamp("1996-01-01") and ts.max() <= pd.Timestamp("2019-11-21")
    genres = {g for gs in movies["genres"] for g in gs.split("|") if g}
    assert genres <= set(GENRES) and len(genres) >= 15
    assert movies["year"].notna().all()


def test_heavy_tails(small: tuple[Path, pd.DataFrame, pd.DataFrame]) -> None:
    _, ratings, _ = small
    per_user = ratings["userId"].value_counts().to_numpy()
    per_movie = ratings["movieId"].value_counts().to_numpy()
    assert per_user.min() >= 20  # ml-25m's floor
    assert per_user.max() > 6 * np.median(per_user)
    top = np.sort(per_movie)[::-1]
    assert top[: len(top) // 10].sum() > 0.4 * len(ratings)  # top 10% of movies: >40% of ratings
    assert np.median(per_movie) < 0.5 * per_movie.mean()
    mean, std = ratings["rating"].mean(), ratings["rating"].std()
    assert 3.2 < mean < 3.9 and 0.8 < std < 1.2
    whole = (ratings["rating"] % 1 == 0).mean()
    assert 0.6 < whole < 0.9  # whole stars dominate, as in MovieLens


def test_ratings_carry_learnable_structure(tmp_path: Path) -> None:
    """Biases beat the global mean, and a rank-8 ALS on the residuals beats the biases."""
    synthesize(40_000, 300, 400, seed=5, out_dir=tmp_path)
    ratings, _ = load_release("ml-25m", tmp_path)
    users, u = np.unique(ratings["userId"], return_inverse=True)
    items, i = np.unique(ratings["movieId"], return_inverse=True)
    r = ratings["rating"].to_numpy(np.float64)
    test = np.random.default_rng(0).random(r.size) < 0.2
    tr = ~test
    mu = r[tr].mean()
    bu = np.bincount(u[tr], r[tr] - mu, users.size) / (np.bincount(u[tr], None, users.size) + 5)
    res = r[tr] - mu - bu[u[tr]]
    bi = np.bincount(i[tr], res, items.size) / (np.bincount(i[tr], None, items.size) + 5)
    base = mu + bu[u] + bi[i]

    dense = np.zeros((users.size, items.size))
    mask = np.zeros_like(dense, dtype=bool)
    dense[u[tr], i[tr]] = r[tr] - base[tr]
    mask[u[tr], i[tr]] = True
    rng = np.random.default_rng(1)
    p = rng.normal(0, 0.1, (users.size, 8))
    q = rng.normal(0, 0.1, (items.size, 8))
    for _ in range(10):  # explicit ALS, lambda = 5 per row
        for x, y, d, m in ((p, q, dense, mask), (q, p, dense.T, mask.T)):
            gram = np.einsum("uj,jk,jl->ukl", m, y, y) + 5 * np.eye(8)
            x[:] = np.linalg.solve(gram, (d @ y)[..., None])[..., 0]
    pred = base + np.einsum("nk,nk->n", p[u], q[i])

    def rmse(pr: np.ndarray) -> float:
        return float(np.sqrt(np.mean((pr[test] - r[test]) ** 2)))

    assert rmse(base) < rmse(np.full(r.size, mu)) - 0.05
    assert rmse(pred) < rmse(base) - 0.02


def test_deterministic_under_seed(tmp_path: Path) -> None:
    a = synthesize(5_000, 100, 300, seed=7, out_dir=tmp_path / "a", chunk_ratings=1_000)
    b = synthesize(5_000, 100, 300, seed=7, out_dir=tmp_path / "b", chunk_ratings=1_000)
    c = synthesize(5_000, 100, 300, seed=8, out_dir=tmp_path / "c", chunk_ratings=1_000)
    assert a.ratings_path.read_bytes() == b.ratings_path.read_bytes()
    assert a.movies_path.read_bytes() == b.movies_path.read_bytes()
    assert a.ratings_path.read_bytes() != c.ratings_path.read_bytes()


def test_small_mean_and_counts_as_text(tmp_path: Path) -> None:
    summary = synthesize("1k", "200", "50", seed=0, out_dir=tmp_path)  # 5 ratings a user
    ratings, _ = load_release("ml-25m", tmp_path)
    assert summary.n_ratings == len(ratings) == 1_000
    assert ratings["userId"].nunique() == 200


def test_impossible_sizes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="need more than 5 movies per user"):
        synthesize(1_000, 10, 10, seed=0, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="cannot cover 100 users"):
        synthesize(50, 100, 10, seed=0, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="not a count"):
        synthesize("lots", 100, 10, seed=0, out_dir=tmp_path)
    assert not (tmp_path / "ratings.csv").exists()
