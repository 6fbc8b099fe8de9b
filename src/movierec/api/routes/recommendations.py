"""``POST /recommendations``: recommendations for someone outside the training data."""

from __future__ import annotations

from fastapi import APIRouter

from movierec.api.deps import ServingDep, run_model
from movierec.api.schemas import ErrorBody, NewUserRecommendations, NewUserRequest

router = APIRouter(tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=NewUserRecommendations,
    responses={
        400: {"model": ErrorBody, "description": "body is not parseable (e.g. not UTF-8)"},
        413: {"model": ErrorBody, "description": "body larger than 1 MB"},
    },
)
async def recommend_new_user(body: NewUserRequest, serving: ServingDep) -> NewUserRecommendations:
    """Top-``n`` from a few ratings, without retraining (fold-in or item neighbourhood).

    Nothing sent is stored. Ratings must be on the model's scale and name movies of the
    training data; a movie may be rated once.
    """
    return await run_model(serving.new_user_recommendations, body.ratings, body.n)
