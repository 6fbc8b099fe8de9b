"""The top-N service: ranked, explained movies for a known user, for a new user from a few
ratings, and for everyone in batches. The CLI, the Python API, the HTTP API, the store
writer and the Spark engine all go through :class:`TopN`, so they rank and explain alike.

Everything here speaks external MovieLens ids; models are any fitted
:class:`~movierec.models.base.Recommender`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from movierec.errors import ConfigError, DataError
from movierec.explain import CoRatings, Explainer
from movierec.interactions import ItemCatalog, display_title
from movierec.models.base import Recommender, top_k

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Recommendation:
    """One ranked movie for one user.

    ``score`` is the model's raw ranking score (comparable only within one list);
    ``predicted_rating`` is on the rating scale, for models that predict ratings.
    """

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


@dataclass(frozen=True)
class NewUserResult:
    """Recommendations for someone outside the training data.

    Attributes:
        recommendations: best first.
        method: ``"fold-in"`` (the model's own), ``"item-neighbourhood"`` (co-rating cosine,
            for models without fold-in) or ``"popularity"`` (no rated movie is known).
        ignored: rated movie ids the model was not trained on (they cannot inform it).
    """

    recommendations: list[Recommendation]
    method: str
    ignored: list[int] = field(default_factory=list)


def check_n(n: int) -> int:
    """``n`` as an int, or :class:`ConfigError` if it is not a positive integer."""
    if int(n) < 1:
        raise ConfigError(f"n must be a positive integer, got {n}")
    return int(n)


def describe(
    movie_ids: np.ndarray,
    scores: np.ndarray,
    explanations: list[str],
    catalog: ItemCatalog | None,
    predicted: np.ndarray | None = None,
) -> list[Recommendation]:
    """:class:`Recommendation` rows (rank from 1) with titles (natural word order, as
    :func:`~movierec.interactions.display_title`), years and genres."""
    out: list[Recommendation] = []
    ids = [int(m) for m in movie_ids]
    rated = [None] * len(ids) if predicted is None else [float(x) for x in predicted]
    facts = catalog.facts(ids) if catalog is not None else [None] * len(ids)
    rows_in = zip(ids, scores, explanations, rated, facts, strict=True)
    for rank, (mid, score, why, rating, fact) in enumerate(rows_in, 1):
        title, year, genres = f"movie {mid}", None, ""
        if fact is not None:
            title, year, genres = display_title(fact[0]), fact[1], fact[2]
        out.append(Recommendation(rank, mid, title, year, genres, float(score), why, rating))
    return out


class TopN:
    """Top-N over one fitted model (build once, ask many times).

    Args:
        model: a fitted model.
        catalog: titles/genres; defaults to the model's catalogue.
        co: co-rating statistics of the model's training data (built on first use).
    """

    def __init__(
        self, model: Recommender, catalog: ItemCatalog | None = None, co: CoRatings | None = None
    ) -> None:
        model._check_fitted()
        self.model = model
        self.catalog = catalog if catalog is not None else model.items_catalog_
        self.explainer = Explainer(model, self.catalog, co)

    # ------------------------------------------------------------------ known users
    def ranked(self, user_id: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The model's top-``n`` unseen movies of a training user: ``(movie_ids, scores)``."""
        ids, scores = self.model.recommend([user_id], n=check_n(n), exclude_seen=True)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def for_user(self, user_id: int, n: int = 10, explain: bool = True) -> list[Recommendation]:
        """Top-``n`` unseen movies for a known user (external ``user_id``), best first.

        Raises:
            UnknownIdError: the user is not in the model's training data.
            ConfigError: ``n`` < 1.
        """
        movie_ids, scores = self.ranked(user_id, n)
        reasons = self.explainer.for_user(user_id, movie_ids) if explain else [""] * movie_ids.size
        predicted = None
        if self.model.predicts_ratings and movie_ids.size:
            predicted = self.model.predict(user_id, movie_ids)
        return describe(movie_ids, scores, reasons, self.catalog, predicted)

    # ------------------------------------------------------------------ new users
    def new_user_scores(self, ratings: Mapping[int, float]) -> tuple[np.ndarray, str, list[int]]:
        """Scores over the model's items for ``{movieId: rating}``, without retraining.

        Returns:
            ``(scores, method, ignored)``: float32 shape ``(n_items,)`` with ``-inf`` for the
            rated movies, the method used (see :class:`NewUserResult`), and the rated movie
            ids outside the training data (which cannot inform the scores).
        """
        if not ratings:
            raise DataError("at least one rating is needed to recommend for a new user")
        return self._scores(ratings)

    def _scores(self, ratings: Mapping[int, float]) -> tuple[np.ndarray, str, list[int]]:
        """:meth:`new_user_scores`, also for no ratings at all (popularity)."""
        items = self.model.data_.items
        known_mask = items.contains(list(ratings))
        ignored = [int(m) for m, k in zip(ratings, known_mask, strict=True) if not k]
        known = {
            int(m): float(r) for (m, r), k in zip(ratings.items(), known_mask, strict=True) if k
        }
        if not known:
            scores = np.log1p(self.explainer.co.n_raters).astype(np.float32)
            return scores, "popularity", ignored
        cols = items.index(list(known))
        if "fold_in" in self.model.abilities:
            scores = np.array(self.model.fold_in(known), dtype=np.float32, copy=True)
            method = "fold-in"
        else:
            values = np.fromiter(known.values(), dtype=np.float32, count=len(known))
            scores = self.explainer.co.neighbourhood_scores(cols, values)
            method = "item-neighbourhood"
        scores = scores.reshape(-1)
        scores[np.isnan(scores)] = -np.inf
        scores[cols] = -np.inf
        return scores, method, ignored

    def for_ratings(self, ratings: Mapping[int, float], n: int = 10) -> NewUserResult:
        """Top-``n`` movies for someone not in the training data, from ``{movieId: rating}``.

        Uses the model's ``fold_in`` (no retraining), else item-neighbourhood scoring; rated
        movies are never recommended; movies the model was not trained on are ignored (and
        listed in :attr:`NewUserResult.ignored`).
        """
        if not ratings:
            raise DataError("at least one rating is needed to recommend for a new user")
        return self._ranked(ratings, n, predict=True)

    def for_history(self, ratings: Mapping[int, float], n: int = 10) -> NewUserResult:
        """Top-``n`` from a person's current ratings ``{movieId: rating}``, which may be
        none: :meth:`for_ratings` (fold-in, no retraining), or the most rated movies
        (``method`` ``"popularity"``, score ``log(1 + raters)``) when no rated movie is
        known. What the service answers for a user whose ratings changed after the model
        was trained (:mod:`movierec.store.ratings`) and for ``POST /recommendations``.

        Unlike :meth:`for_ratings` it leaves ``predicted_rating`` empty: the HTTP answers do
        not show it, and for the kNN models it is a second fold-in (β = γ = 0), as costly
        as the first."""
        return self._ranked(ratings, n, predict=False)

    def _ranked(self, ratings: Mapping[int, float], n: int, predict: bool) -> NewUserResult:
        n = check_n(n)
        scores, method, ignored = self._scores(ratings)
        top = top_k(scores[None, :], min(n, scores.size))[0]
        top = top[np.isfinite(scores[top])]
        movie_ids = self.model.data_.items.ids[top]
        reasons = self.explainer.for_ratings(ratings, movie_ids)
        predicted = None
        if predict and method == "fold-in" and "fold_in_ratings" in self.model.abilities:
            known = {m: r for m, r in ratings.items() if int(m) not in ignored}
            predicted = self.model.fold_in_ratings(known)[top]
        recs = describe(movie_ids, scores[top], reasons, self.catalog, predicted)
        return NewUserResult(recs, method, ignored)

    # ------------------------------------------------------------------ everyone
    def for_all(
        self,
        n: int = 10,
        user_ids: Any | None = None,
        batch_size: int = 2048,
        explain: bool = True,
    ) -> pd.DataFrame:
        """Top-``n`` for every training user (or ``user_ids``), in batches.

        Returns:
            Long frame ``userId, rank, movieId, score[, explanation]`` (external ids; rank
            from 1), ``n`` rows per user unless fewer unseen movies exist.
        """
        frame = ranked_frame(self.model, n, user_ids, batch_size)
        return self.explainer.frame(frame) if explain else frame


def ranked_frame(
    model: Recommender, n: int = 10, user_ids: Any | None = None, batch_size: int = 2048
) -> pd.DataFrame:
    """Top-``n`` of every user (or ``user_ids``) as a long frame ``userId, rank, movieId,
    score`` without explanations (see :meth:`TopN.for_all`)."""
    import pandas as pd

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


# ---------------------------------------------------------------------- one-call helpers
def recommend_for_user(
    model: Recommender,
    user_id: int,
    n: int = 10,
    catalog: ItemCatalog | None = None,
    explain: bool = True,
) -> list[Recommendation]:
    """:meth:`TopN.for_user` in one call."""
    return TopN(model, catalog).for_user(user_id, n, explain)


def recommend_for_ratings(
    model: Recommender,
    ratings: Mapping[int, float],
    n: int = 10,
    catalog: ItemCatalog | None = None,
) -> list[Recommendation]:
    """:meth:`TopN.for_ratings` in one call (the recommendations only)."""
    return TopN(model, catalog).for_ratings(ratings, n).recommendations


def recommend_all(
    model: Recommender,
    n: int = 10,
    user_ids: Any | None = None,
    batch_size: int = 2048,
    explain: bool = True,
) -> pd.DataFrame:
    """:meth:`TopN.for_all` in one call."""
    return TopN(model).for_all(n, user_ids, batch_size, explain)
