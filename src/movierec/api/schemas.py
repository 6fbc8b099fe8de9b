"""Request and response bodies of the HTTP API (pydantic v2). All ids are MovieLens ids."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_N = 100
MAX_RATINGS = 1000
MAX_ID = 2_147_483_647  # ids are 32-bit SQL integers in the store


class ErrorBody(BaseModel):
    """Every non-validation error: ``{"detail": "...", "error": "UnknownIdError"}``."""

    detail: str
    error: str


class Movie(BaseModel):
    """A movie of the catalogue with its reception in the training data."""

    id: int = Field(description="MovieLens movieId")
    title: str
    year: int | None = None
    genres: list[str] = Field(default_factory=list)
    n_ratings: int = Field(default=0, description="ratings in the training data")
    mean_rating: float | None = Field(
        default=None, description="mean training rating (null if none)"
    )


class MovieList(BaseModel):
    total: int = Field(description="how many movies matched (before offset and limit)")
    offset: int = Field(default=0, description="how many matches were skipped")
    movies: list[Movie]


class RecommendedMovie(BaseModel):
    """One recommendation: rank 1 is the best; the explanation is short and true."""

    rank: int
    movie: Movie
    score: float
    explanation: str


class SimilarMovie(BaseModel):
    movie: Movie
    score: float = Field(description="similarity (model's own, or co-rating cosine)")
    explanation: str


class SimilarMovies(BaseModel):
    movie: Movie
    method: str = Field(description="'model' or 'co-rating cosine'")
    similar: list[SimilarMovie]


class UserRecommendations(BaseModel):
    user_id: int
    source: Literal["store", "live", "fold-in"] = Field(
        description="'store': the stored run; 'live': computed by the loaded model; "
        "'fold-in': from the user's current ratings in the store (they changed after the "
        "model was trained), without retraining"
    )
    model: str
    model_version: int | None = Field(
        default=None, description="the registered model version that answered (live/fold-in)"
    )
    method: str | None = Field(
        default=None, description="for 'fold-in': 'fold-in', 'item-neighbourhood' or 'popularity'"
    )
    run_id: int | None = None
    recommendations: list[RecommendedMovie]


class RatingBody(BaseModel):
    """The body of ``PUT /users/{id}/ratings/{movieId}``. Strict: ``"4"`` or ``true`` is
    not a rating; on the dataset's scale (e.g. 1-5 in whole stars for ml-100k)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"rating": 4}]}
    )

    rating: float = Field(description="on the dataset's rating scale (see GET /health)")


class NewUser(BaseModel):
    """A user created by ``POST /users``. The token is shown once (only its SHA-256 is
    stored): send it as ``Authorization: Bearer <token>`` to write this user's ratings."""

    id: int
    token: str
    token_type: Literal["bearer"] = "bearer"


class StoredRatingOut(BaseModel):
    """A rating as the store holds it after a committed write."""

    user_id: int
    movie_id: int
    rating: float
    updated: float = Field(description="Unix seconds of the write")


class RatingIn(BaseModel):
    """One rating by the (new) user. Types are strict: ``"5"`` or ``true`` is not a rating."""

    model_config = ConfigDict(extra="forbid", strict=True)

    movieId: int = Field(  # noqa: N815
        ge=0, le=MAX_ID, description="MovieLens movieId, must be in the training data"
    )
    rating: float = Field(description="on the rating scale of the model (e.g. 1-5)")


class NewUserRequest(BaseModel):
    """A few ratings of someone who is not in the training data."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"ratings": [{"movieId": 50, "rating": 5}, {"movieId": 1, "rating": 4}]}]
        },
    )

    ratings: list[RatingIn] = Field(min_length=1, max_length=MAX_RATINGS)
    n: int = Field(default=10, ge=1, le=MAX_N)


class NewUserRecommendations(BaseModel):
    model: str
    method: str = Field(
        description="how the scores were computed: 'fold-in' (the model's own), "
        "'item-neighbourhood' (co-rating cosine) or 'popularity' (no rated movie is known)"
    )
    ignored: list[int] = Field(
        default_factory=list,
        description="rated movies without training ratings: they cannot inform the model",
    )
    recommendations: list[RecommendedMovie]


class RatedMovie(BaseModel):
    movie: Movie
    rating: float
    timestamp: int | None = None


class UserHistory(BaseModel):
    user_id: int
    source: Literal["store", "training"] = Field(
        default="training",
        description="'store': the user's current ratings in the store; 'training': the "
        "loaded model's training ratings (a store without this user)",
    )
    n_ratings: int
    ratings: list[RatedMovie] = Field(description="best rated first, then most recent")


class ModelInfo(BaseModel):
    name: str
    params: dict[str, Any]
    data_fingerprint: str
    n_users: int
    n_items: int
    rating_scale: tuple[float, float]
    abilities: list[str]
    version: int | None = Field(
        default=None,
        description="the registered model version loaded (null: models/recommender.npz)",
    )
    ratings_as_of: float | None = Field(
        default=None, description="Unix time its training ratings were read from the store"
    )


class RunOut(BaseModel):
    id: int
    model: str
    params: dict[str, Any]
    data_fingerprint: str
    metrics: dict[str, Any]
    n_users: int
    n_recommendations: int
    created: str
    status: str
    is_current: bool


class StoreInfo(BaseModel):
    """The store, named without a path, host, user or password."""

    kind: str = Field(description="'sqlite', 'postgresql', or '' without a store")
    name: str = Field(description="the database's name (a SQLite file's name)")
    available: bool
    detail: str = ""


class SwapInfo(BaseModel):
    """This worker's view of the production pointer (it polls it every ``poll`` s)."""

    poll: float = Field(description="seconds between polls of the pointer (0: off)")
    production_version: int | None = Field(
        description="the version the pointer named at the last poll"
    )
    in_sync: bool = Field(description="this worker serves the production version")
    swaps: int = Field(description="model swaps done by this worker")
    error: str = Field(default="", description="why the last swap failed (then: old model)")
    worker: int = Field(description="the worker's process id")
    workers: dict[int, int | None] = Field(
        default_factory=dict,
        description="every live worker's process id -> the version it serves (null: "
        "unregistered model file); with one worker, this one",
    )
    all_in_sync: bool = Field(
        default=True, description="every live worker serves the production version"
    )


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    model: ModelInfo
    run: RunOut | None
    store: StoreInfo
    swap: SwapInfo | None = None


class Ready(BaseModel):
    """``GET /ready``: 200 when a model is loaded and the store answers, else 503."""

    ready: bool
    model: str
    model_version: int | None
    store: str = Field(description="'ok', 'none' (no store configured) or why not")


class Leaderboard(BaseModel):
    protocol: str
    run_id: int | None = None
    leaderboard: Any = Field(description="reports/<protocol>/leaderboard.json as written")
    plots: list[str] = Field(description="URLs of the protocol's PNG plots")


class LeaderboardIndex(BaseModel):
    protocols: list[str]
