"""ContentBased: contract, hand-computed profile cosine, explanations, real ml-100k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.models.content import ContentBased
from movierec.testing import synthetic_catalog, synthetic_interactions
from tests.models.contract import RecommenderContract


class TestContentBased(RecommenderContract):
    def make_model(self) -> Recommender:
        return ContentBased()

    def invalid_params(self) -> list[dict]:
        return [
            {"genre_weight": -1.0},
            {"genre_weight": 0.0, "year_weight": 0.0, "title_weight": 0.0},
            {"year_smoothing": 1.5},
            {"weighting": "max"},
        ]


class TestContentLiked(RecommenderContract):
    def make_model(self) -> Recommender:
        return ContentBased(weighting="liked", title_weight=0.0, year_smoothing=0.0)


def test_needs_catalog() -> None:
    with pytest.raises(ConfigError, match="catalogue"):
        ContentBased().fit(synthetic_interactions())


def _tiny() -> tuple[Interactions, ItemCatalog]:
    movies = pd.DataFrame(
        {
            "movieId": [1, 2, 3, 4],
            "title": ["Alien (1979)", "Aliens (1986)", "Notting Hill (1999)", "Heat (1995)"],
            "year": [1979, 1986, 1999, 1995],
            "genres": ["Sci-Fi|Horror", "Sci-Fi|Action", "Romance|Comedy", "Action|Crime"],
        }
    )
    ratings = pd.DataFrame(
        {"userId": [7, 7, 7, 8, 8], "movieId": [1, 3, 4, 2, 3], "rating": [5, 1, 3, 2, 4]}
    )
    return Interactions.from_frame(ratings), ItemCatalog.from_frame(movies)


def test_profile_cosine_by_hand() -> None:
    """Genres only: x_i = genre one-hot / sqrt(#genres); p_u = Σ (r − μ_u) x_j / Σ|r − μ_u|."""
    data, items = _tiny()
    model = ContentBased(year_weight=0.0, title_weight=0.0).fit(data, items)
    genres = ["Action", "Comedy", "Crime", "Horror", "Romance", "Sci-Fi"]
    assert model.feature_names_ == [f"genre:{g}" for g in genres]
    x = {
        1: np.array([0, 0, 0, 1, 0, 1]) / np.sqrt(2),
        2: np.array([1, 0, 0, 0, 0, 1]) / np.sqrt(2),
        3: np.array([0, 1, 0, 0, 1, 0]) / np.sqrt(2),
        4: np.array([1, 0, 1, 0, 0, 0]) / np.sqrt(2),
    }
    mu = 3.0  # user 7 rated 5, 1, 3
    p = ((5 - mu) * x[1] + (1 - mu) * x[3] + (3 - mu) * x[4]) / 4.0
    expect = [x[i] @ p / np.linalg.norm(p) for i in (1, 2, 3, 4)]
    got = model.score(data.users.index([7]))[0]
    np.testing.assert_allclose(got, expect, rtol=1e-5)
    # Aliens (unseen) shares Sci-Fi with the 5-star Alien: the only positive genre term
    assert model.explain(7, [2]) == ["matches your favourite genres: Sci-Fi"]
    # fold_in of the same ratings gives the same scores
    np.testing.assert_allclose(model.fold_in({1: 5, 3: 1, 4: 3}), got, rtol=1e-6)


def test_liked_weighting_and_uniform_fallback() -> None:
    data, items = _tiny()
    model = ContentBased(weighting="liked", year_weight=0.0, title_weight=0.0).fit(data, items)
    x = model.features_.toarray()
    s = model.score(data.users.index([8]))[0]  # user 8 liked only movie 3 (rating 4)
    np.testing.assert_allclose(s, x @ x[2], rtol=1e-5)
    flat = model.fold_in({1: 3.0, 2: 3.0})  # all-equal ratings: uniform weights
    p = x[0] + x[1]
    np.testing.assert_allclose(flat, x @ (p / np.linalg.norm(p)), rtol=1e-5)


def test_cold_movies_scored_and_similar_items() -> None:
    data = synthetic_interactions()
    model = ContentBased().fit(data, synthetic_catalog())
    scores = model.score(np.arange(data.n_users))
    assert np.all(np.isfinite(scores[:, -2:])) and np.any(scores[:, -2:] != 0)
    ids, sims = model.similar_items(data.items.ids[[0]], n=3)
    x = model.features_.toarray()
    row = x @ x[0]
    row[0] = -np.inf
    order = np.lexsort((np.arange(row.size), -row))[:3]
    # the three best similarities, each reported for the movie it belongs to (near-ties in
    # float32 may order equal-valued movies differently from this float64 reference)
    np.testing.assert_allclose(sims[0], row[order], rtol=1e-5)
    np.testing.assert_allclose(row[data.items.index(ids[0])], sims[0], rtol=1e-5)
    assert data.items.ids[0] not in ids[0]


@pytest.mark.realdata
def test_content_real_ml100k(ml100k_dir: Path) -> None:
    cols = ["userId", "movieId", "rating", "timestamp"]
    ratings = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=cols)
    genre_names = [
        line.split("|")[0]
        for line in (ml100k_dir / "u.genre").read_text().splitlines()
        if line.strip()
    ]
    raw = pd.read_csv(ml100k_dir / "u.item", sep="|", header=None, encoding="latin-1")
    flags = raw.iloc[:, 5:24].to_numpy(dtype=bool)
    movies = pd.DataFrame(
        {
            "movieId": raw[0],
            "title": raw[1],
            "year": pd.to_datetime(raw[2], format="%d-%b-%Y", errors="coerce").dt.year,
            "genres": [
                "|".join(g for g, f in zip(genre_names, row, strict=True) if f and g != "unknown")
                for row in flags
            ],
        }
    )
    data = Interactions.from_frame(ratings)
    model = ContentBased().fit(data, ItemCatalog.from_frame(movies))
    assert model.features_.shape[0] == 1682
    assert sum(n.startswith("genre:") for n in model.feature_names_) == 18
    ids, _ = model.recommend(data.users.ids, n=10)
    for r in range(0, data.n_users, 37):
        assert not np.isin(ids[r], data.items.ids[data.seen_items(r)]).any()
    sim, _ = model.similar_items([50], n=5)  # Star Wars (1977)
    titles = [str(movies.set_index("movieId").at[int(m), "title"]) for m in sim[0]]
    assert any("Star Trek" in t or "Empire" in t or "Return of the Jedi" in t for t in titles)


def test_explain_ratings_matches_explain() -> None:
    data, items = synthetic_interactions(), synthetic_catalog()
    model = ContentBased().fit(data, items)
    frame = data.to_frame()
    user = int(data.users.ids[3])
    mine = frame[frame.userId == user]
    ratings = dict(zip(mine.movieId, mine.rating, strict=True))
    movies = data.items.ids[[0, 7, 21, 40]]
    assert model.explain_ratings(ratings, movies) == model.explain(user, movies)
