"""Expected API answers computed from the ratings file itself (``u.data``, read with pandas),
independently of the model objects the API serves: what the API says is checked against
the data, not against the code it calls.

The reference model is :class:`tests.store.toy.ItemCosine` written out as plain numpy in
float64: ``sim = cosine of item columns`` (zero diagonal), ``score(u) = r_u · sim``; ties go
to the lower movie id.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from tests.conftest import SHARED_DATA


@cache
def ratings() -> pd.DataFrame:
    names = ["userId", "movieId", "rating", "timestamp"]
    return pd.read_csv(SHARED_DATA / "ml-100k" / "u.data", sep="\t", names=names)


@cache
def _matrix() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = ratings()
    users = np.sort(r["userId"].unique())
    movies = np.sort(r["movieId"].unique())
    dense = np.zeros((users.size, movies.size))
    dense[np.searchsorted(users, r["userId"]), np.searchsorted(movies, r["movieId"])] = r["rating"]
    return dense, users, movies


def seen(user: int) -> set[int]:
    """The movies ``user`` rated in ``u.data``."""
    r = ratings()
    return set(r.loc[r["userId"] == user, "movieId"].tolist())


@cache
def _similarity() -> np.ndarray:
    dense, _, _ = _matrix()
    norms = np.linalg.norm(dense, axis=0)
    sim = dense.T @ dense / np.outer(norms, norms)
    np.fill_diagonal(sim, 0.0)
    return sim


def top_n(user: int, n: int) -> list[int]:
    """The ``n`` unseen movies with the highest ``r_u · sim``."""
    dense, users, movies = _matrix()
    scores = dense[np.searchsorted(users, user)] @ _similarity()
    scores[np.isin(movies, list(seen(user)))] = -np.inf
    order = np.lexsort((movies, -scores))[:n]
    return movies[order].tolist()


def similar(movie: int, n: int) -> list[int]:
    """The ``n`` movies most cosine-similar to ``movie`` (itself excluded)."""
    _, _, movies = _matrix()
    col = int(np.searchsorted(movies, movie))
    sims = _similarity()[col].copy()
    sims[col] = -np.inf
    order = np.lexsort((movies, -sims))[:n]
    return movies[order].tolist()
