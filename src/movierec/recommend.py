"""Top-N recommendations with titles and explanations, for one user, a new user, or everyone.

Everything here speaks external MovieLens ids; models are any fitted
:class:`~movierec.models.base.Recommender`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from movierec.errors import ConfigError, DataError, NotSupportedError
from movierec.interactions import ItemCatalog
from movierec.models.base import Recommender, top_k


@dataclass(frozen=True)
class Recommendation:
    """One ranked movie for one user."""

    rank: int
    movie_id: int
    title: str
    year: int | None
    genres: str
    score: float
    explanation: str
    predicted_rating: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with camelCase keys (``movieId``, ``predictedRating``)."""
        d = asdict(self)
        return {
            "rank": d["rank"],
            "movieId": d["movie_id"],
            "title": d["title"],
            "year": d["year"],
            "genres": d["genres"],
            "predictedRating": d["predicted_rating"],
            "score": d["score"],
            "explanation": d["explanation"],
        }


def check_n(n: int) -> int:
    """``n`` as an int, or :class:`ConfigError` if it is not a positive integer."""
    if int(n) < 1:
        raise ConfigError(f"n must be a positive integer, got {n}")
    return int(n)


def _describe(
    movie_ids: np.ndarray,
    scores: np.ndarray,
    explanations: list[str],
    catalog: ItemCatalog | None,
    predicted: np.ndarray | None = None,
) -> list[Recommendation]:
    out: list[Recommendation] = []
    rated = [None] * len(movie_ids) if predicted is None else [float(x) for x in predicted]
    rows = zip(movie_ids, scores, explanations, rated, strict=True)
    for rank, (mid, score, why, rating) in enumerate(rows, 1):
        title, year, genres = f"movie {int(mid)}", None, ""
        if catalog is not None and int(mid) in catalog:
            row = catalog.frame.loc[int(mid)]
            title = str(row["title"])
            year = None if pd.isna(row["year"]) else int(row["year"])
            genres = str(row["genres"])
        out.append(Recommendation(rank, int(mid), title, year, genres, float(score), why, rating))
    return out


def _explain(model: Recommender, user_id: int | None, movie_ids: np.ndarray) -> list[str]:
    """The model's own explanations, or a generic (still true) one if it cannot explain."""
    if user_id is not None:
        try:
            reasons = model.explain(user_id, movie_ids)
            if len(reasons) == len(movie_ids):
                return [str(r) for r in reasons]
        except NotSupportedError:
            pass
    return [
        f"ranked #{i} of the catalogue for you by the {model.name} model"
        for i in range(1, len(movie_ids) + 1)
    ]


def recommend_for_user(
    model: Recommender,
    user_id: int,
    n: int = 10,
    catalog: ItemCatalog | None = None,
    explain: bool = True,
) -> list[Recommendation]:
    """Top-``n`` unseen movies for a known user (external ``user_id``), best first.

    Raises:
        UnknownIdError: the user is not in the model's training data.
        ConfigError: ``n`` < 1.
    """
    n = check_n(n)
    ids, scores = model.recommend([user_id], n=n, exclude_seen=True)
    keep = ids[0] >= 0
    movie_ids, movie_scores = ids[0][keep], scores[0][keep]
    reasons = _explain(model, user_id, movie_ids) if explain else [""] * len(movie_ids)
    predicted = None
    if model.predicts_ratings and movie_ids.size:
        predicted = model.predict(user_id, movie_ids)
    return _describe(movie_ids, movie_scores, reasons, catalog or model.items_catalog_, predicted)


def recommend_for_ratings(
    model: Recommender,
    ratings: Mapping[int, float],
    n: int = 10,
    catalog: ItemCatalog | None = None,
) -> list[Recommendation]:
    """Top-``n`` movies for someone not in the training data, from ``{movieId: rating}``.

    Uses the model's ``fold_in`` (no retraining); rated movies are excluded.
    """
    n = check_n(n)
    if not ratings:
        raise DataError("at least one rating is needed to recommend for a new user")
    items = model.data_.items
    known = items.contains(list(ratings))
    if not np.all(known):
        bad = [m for m, k in zip(ratings, known, strict=True) if not k]
        raise DataError(f"unknown movie id(s) in ratings: {', '.join(map(str, bad[:5]))}")
    scores = np.array(model.fold_in(ratings), dtype=np.float32, copy=True).reshape(1, -1)
    scores[np.isnan(scores)] = -np.inf
    scores[0, items.index(list(ratings))] = -np.inf
    top = top_k(scores, min(n, items.ids.size))[0]
    top_scores = scores[0, top]
    keep = np.isfinite(top_scores)
    movie_ids = items.ids[top][keep]
    reasons = _explain_new(model, ratings, movie_ids)
    return _describe(movie_ids, top_scores[keep], reasons, catalog or model.items_catalog_)


def _explain_new(
    model: Recommender, ratings: Mapping[int, float], movie_ids: np.ndarray
) -> list[str]:
    explain_ratings = getattr(model, "explain_ratings", None)
    if explain_ratings is not None:
        try:
            reasons = explain_ratings(ratings, movie_ids)
            if len(reasons) == len(movie_ids):
                return [str(r) for r in reasons]
        except NotSupportedError:
            pass
    return _explain(model, None, movie_ids)


def recommend_all(
    model: Recommender,
    n: int = 10,
    user_ids: Any | None = None,
    batch_size: int = 2048,
) -> pd.DataFrame:
    """Top-``n`` for every user (or ``user_ids``) in batches.

    Returns:
        Long frame ``userId, rank, movieId, score`` (external ids; rank starts at 1),
        ``n`` rows per user unless fewer unseen movies exist.
    """
    n = check_n(n)
    users = model.data_.users.ids if user_ids is None else np.asarray(user_ids, dtype=np.int64)
    ids, scores = model.recommend(users, n=n, exclude_seen=True, batch_size=batch_size)
    ranks = np.tile(np.arange(1, ids.shape[1] + 1, dtype=np.int32), users.size)
    frame = pd.DataFrame(
        {
            "userId": np.repeat(users, ids.shape[1]),
            "rank": ranks,
            "movieId": ids.ravel(),
            "score": scores.ravel(),
        }
    )
    return frame[frame["movieId"] >= 0].reset_index(drop=True)
