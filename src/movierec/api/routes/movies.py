"""``GET /movies``, ``GET /movies/{id}``, ``GET /movies/{id}/similar``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from movierec.api.deps import GatesDep, ServingDep
from movierec.api.routes.params import Limit, MovieId, N, Offset
from movierec.api.schemas import ErrorBody, Movie, MovieList, SimilarMovies

router = APIRouter(prefix="/movies", tags=["movies"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown movie"}
}


@router.get("", response_model=MovieList)
def search_movies(
    serving: ServingDep,
    query: Annotated[str | None, Query(max_length=200, description="part of the title")] = None,
    genre: Annotated[str | None, Query(max_length=50, description="e.g. Sci-Fi")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> MovieList:
    """Movies whose title contains ``query`` (case- and accent-insensitive, either word
    order: "the godfather" or "godfather, the"), most rated first; ``offset`` pages on."""
    return serving.search_movies(query, genre, limit, offset)


@router.get("/{movie_id}", response_model=Movie, responses=NOT_FOUND)
def get_movie(movie_id: MovieId, serving: ServingDep) -> Movie:
    """One movie of the catalogue."""
    return serving.movie(movie_id)


@router.get("/{movie_id}/similar", response_model=SimilarMovies, responses=NOT_FOUND)
async def similar_movies(
    movie_id: MovieId, serving: ServingDep, gates: GatesDep, n: N = 10
) -> SimilarMovies:
    """The ``n`` most similar movies (the model's similarity, or co-rating cosine)."""
    return await gates.model.run(serving.similar_movies, movie_id, n)
