"""Test-only models and a synthetic ml-100k folder for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data.synthetic import ML100K_GENRES
from movierec.errors import ConfigError, NotSupportedError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender

GENRE_FLAGS = len(ML100K_GENRES)


class UserMean(Recommender):
    """Rating model: predicts the user's training mean plus ``shift``; ranks by item mean."""

    name = "test-mean"
    declared_abilities = frozenset({"predict"})

    def __init__(self, shift: float = 0.0, k: int = 5) -> None:
        self.shift = shift
        self.k = k

    def _validate(self) -> None:
        if int(self.k) < 1:
            raise ConfigError(f"test-mean: k must be >= 1, got {self.k}")

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        self.user_mean_ = data.user_means()
        counts = np.diff(data.matrix.tocsc().indptr)
        sums = np.asarray(data.matrix.sum(axis=0)).ravel()
        self.item_score_ = (sums / np.maximum(counts, 1)).astype(np.float32)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.tile(self.item_score_, (len(user_rows), 1))

    def predict_rows(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        return self.user_mean_[user_rows] + float(self.shift)


class RankOnly(Recommender):
    """Ranking-only model: item popularity; ``predict`` is not supported."""

    name = "test-rank"

    def __init__(self, boost: float = 1.0) -> None:
        self.boost = boost

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        self.counts_ = np.diff(data.matrix.tocsc().indptr).astype(np.float32) * float(self.boost)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.tile(self.counts_, (len(user_rows), 1))


class ClaimsRatings(RankOnly):
    """Says it predicts ratings but raises NotSupportedError (must be handled, not crash)."""

    name = "test-claims"
    declared_abilities = frozenset({"predict"})

    def predict_rows(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        raise NotSupportedError("test-claims only ranks")


class Broken(RankOnly):
    """Fails while fitting (to check that no partial report is left)."""

    name = "test-broken"

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        raise RuntimeError("boom")


TEST_MODELS = {
    "test-mean": "tests.evaluation.helpers:UserMean",
    "test-rank": "tests.evaluation.helpers:RankOnly",
    "test-claims": "tests.evaluation.helpers:ClaimsRatings",
    "test-broken": "tests.evaluation.helpers:Broken",
}


def synthetic_ratings(n_users: int = 60, n_items: int = 80, seed: int = 0) -> pd.DataFrame:
    """Random ratings: every user rates 12-30 movies, ids start at 1 like MovieLens."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, n_users + 1):
        items = rng.choice(np.arange(1, n_items + 1), size=rng.integers(12, 31), replace=False)
        for i in items:
            rows.append((u, int(i), int(rng.integers(1, 6)), int(8.8e8 + rng.integers(0, 1e7))))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def write_ml100k(folder: Path, ratings: pd.DataFrame, n_items: int = 80, splits: int = 5) -> Path:
    """Write u.data, u.item, u.genre and u{1..splits}.base/.test (5-fold by row) into
    ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings.to_csv(folder / "u.data", sep="\t", header=False, index=False)
    genres = "".join(f"{name}|{i}\n" for i, name in enumerate(ML100K_GENRES))
    (folder / "u.genre").write_text(genres, encoding="iso-8859-1")
    rng = np.random.default_rng(1)
    lines = []
    for i in range(1, n_items + 1):
        flags = ["0"] * GENRE_FLAGS
        for g in rng.choice(np.arange(1, GENRE_FLAGS), size=rng.integers(1, 4), replace=False):
            flags[int(g)] = "1"
        lines.append(f"{i}|Movie {i} (199{i % 10})|01-Jan-199{i % 10}||http://x|" + "|".join(flags))
    (folder / "u.item").write_text("\n".join(lines) + "\n", encoding="iso-8859-1")
    part = np.arange(len(ratings)) % 5
    for s in range(1, splits + 1):
        ratings[part != s - 1].to_csv(folder / f"u{s}.base", sep="\t", header=False, index=False)
        ratings[part == s - 1].to_csv(folder / f"u{s}.test", sep="\t", header=False, index=False)
    return folder


def half_star_ratings(n_users: int = 60, n_items: int = 80, seed: int = 0) -> pd.DataFrame:
    """:func:`synthetic_ratings` on the half-star grid 0.5-5 (about half the ratings x.5,
    some 0.5), in the order of a CSV release (by user, then movie)."""
    data = synthetic_ratings(n_users, n_items, seed)
    rng = np.random.default_rng(seed + 1)
    halves = np.clip(data["rating"] - 0.5 * rng.integers(0, 2, len(data)), 0.5, 5.0)
    data["rating"] = halves.astype(float)
    return data.sort_values(["userId", "movieId"], ignore_index=True)


def write_csv_release(folder: Path, ratings: pd.DataFrame, n_items: int = 80) -> Path:
    """Write ``ratings.csv`` and ``movies.csv`` laid out like ml-latest-small into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings.to_csv(folder / "ratings.csv", index=False, float_format="%.1f")
    movies = pd.DataFrame(
        {
            "movieId": np.arange(1, n_items + 1),
            "title": [f"Movie {i} (20{i % 10:02d})" for i in range(1, n_items + 1)],
            "genres": ["Drama|Comedy" if i % 2 else "(no genres listed)" for i in range(n_items)],
        }
    )
    movies.to_csv(folder / "movies.csv", index=False)
    return folder
