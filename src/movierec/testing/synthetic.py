"""Seeded synthetic ratings and catalogues for tests, examples and benchmarks.

Two generators:

* :func:`synthetic_interactions` / :func:`synthetic_frame` / :func:`synthetic_catalog`: the
  model contract's data, 30 users × 42 movies in two taste groups, non-contiguous external
  ids (:func:`user_id`, :func:`item_id`, to catch id/index mix-ups), two movies nobody
  rated, timestamps;
* :func:`taste_clusters`: a larger random matrix (ids from 1) with two parity clusters and
  a catalogue, used by the store and API tests.

Everything is a pure function of its arguments (``numpy.random.default_rng(seed)``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec.interactions import Interactions, ItemCatalog, Vocabulary

__all__ = [
    "N_RATED_ITEMS",
    "N_UNRATED_ITEMS",
    "N_USERS",
    "item_id",
    "synthetic_catalog",
    "synthetic_frame",
    "synthetic_interactions",
    "taste_clusters",
    "user_id",
]

N_USERS = 30
N_RATED_ITEMS = 40
N_UNRATED_ITEMS = 2  # columns in the vocabulary that nobody rated (cold items)


def user_id(i: int) -> int:
    """External id of synthetic user ``i`` (non-contiguous to catch id/index mix-ups)."""
    return 100 + 3 * i


def item_id(j: int) -> int:
    """External id of synthetic movie ``j``."""
    return 1000 + 7 * j


def synthetic_frame(seed: int = 0) -> pd.DataFrame:
    """Seeded ratings with structure: users 0–14 like movies 0–19, users 15–29 movies 20–39.

    Every user rates 8–16 movies (1–5 stars, integer), every rated movie gets ≥ 2 ratings.
    """
    rng = np.random.default_rng(seed)
    user_bias = rng.normal(0.0, 0.4, N_USERS)
    item_bias = rng.normal(0.0, 0.4, N_RATED_ITEMS)
    rows: list[tuple[int, int, float, int]] = []
    for u in range(N_USERS):
        n = int(rng.integers(8, 17))
        for j in rng.choice(N_RATED_ITEMS, size=n, replace=False):
            rows.append((u, int(j), 0.0, 0))
    # make sure every movie has at least two raters
    counts = np.bincount([r[1] for r in rows], minlength=N_RATED_ITEMS)
    pairs = {(r[0], r[1]) for r in rows}
    for j in np.flatnonzero(counts < 2):
        for u in rng.permutation(N_USERS):
            if (int(u), int(j)) not in pairs:
                rows.append((int(u), int(j), 0.0, 0))
                pairs.add((int(u), int(j)))
                counts[j] += 1
                if counts[j] >= 2:
                    break
    out = []
    for t, (u, j, _, _) in enumerate(rows):
        match = (u < N_USERS // 2) == (j < N_RATED_ITEMS // 2)
        mean = 3.0 + (1.1 if match else -1.1) + user_bias[u] + item_bias[j]
        rating = float(np.clip(np.rint(mean + rng.normal(0.0, 0.6)), 1, 5))
        out.append((user_id(u), item_id(j), rating, 880_000_000 + 3600 * t))
    return pd.DataFrame(out, columns=["userId", "movieId", "rating", "timestamp"])


def synthetic_interactions(seed: int = 0) -> Interactions:
    """:func:`synthetic_frame` as :class:`Interactions`; the item vocabulary also holds
    ``N_UNRATED_ITEMS`` movies with no rating (all-zero columns)."""
    frame = synthetic_frame(seed)
    all_items = Vocabulary(
        np.array([item_id(j) for j in range(N_RATED_ITEMS + N_UNRATED_ITEMS)]), kind="movie"
    )
    return Interactions.from_frame(frame, items=all_items)


def synthetic_catalog() -> ItemCatalog:
    """Catalogue for every synthetic movie: group A movies are Action/Sci-Fi, group B
    Drama/Romance, with Comedy/Thriller sprinkled in; movie 5 has no year and no genres."""
    records = []
    for j in range(N_RATED_ITEMS + N_UNRATED_ITEMS):
        group = ["Action", "Sci-Fi"] if j < N_RATED_ITEMS // 2 else ["Drama", "Romance"]
        genres = [group[j % 2]] + (["Comedy"] if j % 3 == 0 else [])
        genres += ["Thriller"] if j % 5 == 0 else []
        year: int | None = 1950 + (j * 7) % 50
        word = "Star" if j < N_RATED_ITEMS // 2 else "Love"
        title = f"{word} Movie {j} ({year})"
        if j == 5:
            year, genres, title = None, [], "unknown"
        records.append(
            {"movieId": item_id(j), "title": title, "year": year, "genres": "|".join(genres)}
        )
    return ItemCatalog.from_frame(pd.DataFrame(records))


def taste_clusters(
    n_users: int = 60, n_items: int = 40, density: float = 0.25, seed: int = 0
) -> tuple[Interactions, ItemCatalog]:
    """Random ratings with two taste clusters, ids from 1 like MovieLens, and a catalogue.

    Each (user, movie) pair is rated with probability ``density``: 4-5 stars where the
    parities of the user and movie numbers match (odd users like odd movies), 1-2 stars
    otherwise; titles ``Film <i> (<year>)``, odd movies Sci-Fi|Action, even Drama|Romance.
    """
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    taste = (np.arange(n_users)[:, None] % 2) == (np.arange(n_items)[None, :] % 2)
    values = np.where(taste, rng.integers(4, 6, mask.shape), rng.integers(1, 3, mask.shape))
    rows, cols = np.nonzero(mask)
    frame = pd.DataFrame(
        {
            "userId": rows + 1,
            "movieId": cols + 1,
            "rating": values[rows, cols].astype(float),
            "timestamp": 880_000_000 + rows * 1000 + cols,
        }
    )
    movies = pd.DataFrame(
        {
            "movieId": np.arange(1, n_items + 1),
            "title": [f"Film {i} ({1990 + i % 10})" for i in range(1, n_items + 1)],
            "year": [1990 + i % 10 for i in range(1, n_items + 1)],
            "genres": ["Sci-Fi|Action" if i % 2 else "Drama|Romance" for i in range(n_items)],
        }
    )
    return Interactions.from_frame(frame), ItemCatalog.from_frame(movies)
