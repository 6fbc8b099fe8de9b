"""``POST /recommendations``: recommendations for someone outside the training data."""

from __future__ import annotations

from fastapi import APIRouter

from movierec.api.deps import GatesDep, ServingDep
from movierec.api.schemas import ErrorBody, NewUserRecommendations, NewUserRequest

router = APIRouter(tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=NewUserRecommendations,
    responses={
        400: {"model": ErrorBody, "description": "body is not parseable (e.g. not UTF-8)"},
        413: {"model": ErrorBody, "description": "body larger than 1 MB"},
        415: {"model": ErrorBody, "description": "body is not application/json"},
        503: {"model": ErrorBody, "description": "busy: retry after Retry-After seconds"},
    },
)
async def recommend_new_user(
    body: NewUserRequest, serving: ServingDep, gates: GatesDep
) -> NewUserRecommendations:
    """Top-``n`` from a few ratings, without retraining (fold-in or item neighbourhood).

    Nothing sent is stored. Ratings must be on the model's scale and name movies of the
    catalogue; a movie may be rated once. Rated movies the model was not trained on cannot
    inform it: they are listed in ``ignored`` (with none known, ``method`` is popularity).
    """
    return await gates.model.run(serving.new_user_recommendations, body.ratings, body.n)
