"""``GET /users/{id}/recommendations`` and ``GET /users/{id}/ratings``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from movierec.api.deps import GatesDep, ServingDep
from movierec.api.routes.params import HistoryLimit, N, UserId
from movierec.api.schemas import ErrorBody, UserHistory, UserRecommendations

router = APIRouter(prefix="/users", tags=["users"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown user (or model)"},
    503: {"model": ErrorBody, "description": "busy: retry after Retry-After seconds"},
}


@router.get("/{user_id}/recommendations", response_model=UserRecommendations, responses=NOT_FOUND)
async def user_recommendations(
    user_id: UserId,
    serving: ServingDep,
    gates: GatesDep,
    n: N = 10,
    model: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_.+-]{1,64}$", description="a stored model run's name"),
    ] = None,
) -> UserRecommendations:
    """Top-``n`` for a known user: the store's current run, else the live model."""
    found = await gates.store.run(serving.stored_recommendations, user_id, n, model)
    if found is not None:
        return found
    return await gates.model.run(serving.fallback_recommendations, user_id, n, model)


@router.get("/{user_id}/ratings", response_model=UserHistory, responses=NOT_FOUND)
def user_ratings(user_id: UserId, serving: ServingDep, limit: HistoryLimit = 50) -> UserHistory:
    """The user's training ratings, best first then most recent."""
    return serving.user_history(user_id, limit)
