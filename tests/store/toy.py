"""Test helpers shared by tests/store and tests/api: real ml-100k loaders and tiny models
(synthetic data: :func:`movierec.testing.taste_clusters`).

``ItemCosine`` is a small but real item-based model (score = ratings · cosine similarity) that
implements every optional ability (fold-in, explain, similar items); ``ScoreOnly`` implements
nothing optional, to exercise the API's fallbacks.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender, top_k

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def load_ml100k(folder: Path) -> tuple[Interactions, ItemCatalog]:
    """``u.data`` as :class:`Interactions` and ``u.item`` (ISO-8859-1) as :class:`ItemCatalog`."""
    ratings = pd.read_csv(
        folder / "u.data", sep="\t", names=["userId", "movieId", "rating", "timestamp"]
    )
    items = pd.read_csv(
        folder / "u.item",
        sep="|",
        encoding="ISO-8859-1",
        header=None,
        names=["movieId", "title", "date", "video", "url", *GENRES],
    )
    flags = items[GENRES].to_numpy(dtype=bool)
    names = np.array(GENRES, dtype=object)
    genres = ["|".join(n for n in names[row] if n != "unknown") for row in flags]
    released = pd.to_datetime(items["date"], format="%d-%b-%Y", errors="coerce").dt.year
    year = items["title"].str.extract(r"\((\d{4})\)\s*$")[0].astype("Int64").fillna(released)
    movies = pd.DataFrame(
        {"movieId": items["movieId"], "title": items["title"], "year": year, "genres": genres}
    )
    return Interactions.from_frame(ratings), ItemCatalog.from_frame(movies)


class ItemCosine(Recommender):
    """Item-based top-N: ``score(u, i) = Σ_j r_uj · cos(j, i)`` over the user's rated items."""

    name = "test-item-cosine"
    declared_abilities = frozenset({"fold_in", "explain", "similar_items"})

    def __init__(self, shrink: float = 0.0) -> None:
        self.shrink = shrink

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        r = sp.csc_matrix(data.matrix, dtype=np.float64)
        norms = np.sqrt(np.asarray(r.multiply(r).sum(axis=0)).ravel())
        dots = (r.T @ r).toarray()
        denom = np.outer(norms, norms) + self.shrink
        sim = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        np.fill_diagonal(sim, 0.0)
        self.similarity_ = sim.astype(np.float32)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.data_.matrix[user_rows] @ self.similarity_, dtype=np.float32)

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        cols = self.data_.items.index(list(ratings))
        vals = np.array(list(ratings.values()), dtype=np.float32)
        return (vals @ self.similarity_[cols]).astype(np.float32)

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        cols = self.data_.items.index(np.atleast_1d(item_ids))
        sims = self.similarity_[cols].copy()
        sims[np.arange(cols.size), cols] = -np.inf
        top = top_k(sims, n)
        return self.data_.items.ids[top], np.take_along_axis(sims, top, axis=1)

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        row = int(self.data_.users.index([user_id])[0])
        m = self.data_.matrix
        cols = m.indices[m.indptr[row] : m.indptr[row + 1]]
        vals = m.data[m.indptr[row] : m.indptr[row + 1]]
        out = []
        for col in self.data_.items.index(np.atleast_1d(item_ids)):
            contrib = vals * self.similarity_[cols, col]
            j = int(np.argmax(contrib))
            movie = int(self.data_.items.ids[cols[j]])
            out.append(f"similar to movie {movie} you rated {vals[j]:g}")
        return out


class ScoreOnly(Recommender):
    """Item popularity (rating counts) with no optional ability: exercises API fallbacks."""

    name = "test-score-only"

    def __init__(self) -> None:
        pass

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        self.counts_ = np.diff(sp.csc_matrix(data.matrix).indptr).astype(np.float32)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.tile(self.counts_, (len(user_rows), 1))


PG_URL = os.environ.get("MOVIEREC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_reachable(url: str = PG_URL) -> str | None:
    """``None`` if the test PostgreSQL server answers, else the reason it does not."""
    import psycopg
    from sqlalchemy import make_url

    u = make_url(url)
    try:
        with psycopg.connect(
            host=u.host, port=u.port, user=u.username, dbname=u.database, connect_timeout=3
        ):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL test server unreachable at {u.host}:{u.port}: {exc}".strip()


@contextlib.contextmanager
def pg_schema_url(url: str = PG_URL) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema, dropped (with its tables) afterwards."""
    import psycopg
    from sqlalchemy import make_url

    u = make_url(url)
    schema = f"movierec_test_{uuid.uuid4().hex[:12]}"
    params = {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database}
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def write_model_run(
    url: Any,
    model: Recommender,
    frame: pd.DataFrame,
    metrics: Mapping[str, Any] | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    make_current: bool = True,
) -> int:
    """:func:`movierec.store.write_run` for a fitted model: its meta and its catalogue."""
    from movierec.store import RunMeta, write_run

    meta = RunMeta.of(model, **dict(params or {}))
    return write_run(
        url, meta, frame, metrics, catalog=model.items_catalog_, make_current=make_current
    )
