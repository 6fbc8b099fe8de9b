"""Seeded synthetic feedback on real movies: what "ml-100k plus 1,000 new ratings" means in
the retrain tests and benchmarks.

:func:`new_ratings` draws ``n`` ratings, half by ``n_new_users`` new users (ids after the
largest existing one, in order, as :func:`movierec.store.create_user` hands them out) and
half by existing users, each on a movie the user has not rated. Movies are drawn in
proportion to their number of ratings (popular movies get more new ratings, as in the
data), and each rating is the movie's mean rating plus Gaussian noise (sd 1), rounded and
clipped to the scale's grid. Same seed, same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec.interactions import ITEM_COL, RATING_COL, USER_COL


def new_ratings(
    ratings: pd.DataFrame,
    n: int = 1000,
    *,
    n_new_users: int = 20,
    scale: tuple[float, float, float] = (1.0, 5.0, 1.0),
    seed: int = 0,
) -> pd.DataFrame:
    """``n`` new ``userId, movieId, rating`` rows (see the module docstring).

    Args:
        ratings: the existing ratings (``userId, movieId, rating``).
        n: how many rows (``n // 2`` by new users, the rest by existing users).
        n_new_users: how many new users share the first half.
        scale: ``(lo, hi, step)`` of the release.
        seed: the random seed.

    Returns:
        Rows in write order; new users' ids are ``max(userId) + 1 …``.
    """
    rng = np.random.default_rng(seed)
    lo, hi, step = scale
    stats = ratings.groupby(ITEM_COL)[RATING_COL].agg(["mean", "size"])
    movies = stats.index.to_numpy()
    weights = stats["size"].to_numpy(dtype=np.float64)
    weights /= weights.sum()
    seen = set(zip(ratings[USER_COL].to_numpy(), ratings[ITEM_COL].to_numpy(), strict=True))
    first_new = int(ratings[USER_COL].max()) + 1
    existing = np.unique(ratings[USER_COL].to_numpy())
    n_by_new = n // 2
    users = np.concatenate(
        [
            first_new + np.arange(n_by_new) % n_new_users,
            rng.choice(existing, size=n - n_by_new),
        ]
    )
    rows: list[tuple[int, int, float]] = []
    for user in users:
        while True:
            movie = int(rng.choice(movies, p=weights))
            if (int(user), movie) not in seen:
                break
        seen.add((int(user), movie))
        raw = float(stats.at[movie, "mean"]) + rng.normal(0.0, 1.0)
        rating = float(np.clip(np.round(raw / step) * step, lo, hi))
        rows.append((int(user), movie, rating))
    return pd.DataFrame(rows, columns=[USER_COL, ITEM_COL, RATING_COL])
