"""``/users``: new users, their ratings (read and write) and their recommendations.

Writes need the user's token: ``Authorization: Bearer <token>`` as returned by ``POST
/users`` (or the admin token, ``MOVIEREC_ADMIN_TOKEN``). No header: 401; another user's
token, or any user token on a user imported from MovieLens: 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from movierec.api.deps import GatesDep, ServingDep
from movierec.api.routes.params import HistoryLimit, MovieId, N, UserId
from movierec.api.schemas import (
    ErrorBody,
    NewUser,
    RatingBody,
    StoredRatingOut,
    UserHistory,
    UserRecommendations,
)
from movierec.errors import AuthError

router = APIRouter(prefix="/users", tags=["users"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "unknown user (or model)"},
    503: {"model": ErrorBody, "description": "busy: retry after Retry-After seconds"},
}
WRITE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "body is not parseable (e.g. not UTF-8)"},
    401: {"model": ErrorBody, "description": "no Authorization: Bearer <token> header"},
    403: {"model": ErrorBody, "description": "the token is not this user's"},
    404: {"model": ErrorBody, "description": "unknown user or movie"},
    413: {"model": ErrorBody, "description": "body larger than 1 MB"},
    415: {"model": ErrorBody, "description": "body is not application/json"},
    503: {"model": ErrorBody, "description": "store busy or down: nothing was written"},
}
MAX_TOKEN = 256
_bearer = HTTPBearer(auto_error=False, description="the token returned by POST /users")


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token of the request; :class:`AuthError` (401) without a usable one."""
    if credentials is None or not credentials.credentials:
        raise AuthError("writes need an 'Authorization: Bearer <token>' header (POST /users)")
    if len(credentials.credentials) > MAX_TOKEN:
        raise AuthError(f"the bearer token is longer than {MAX_TOKEN} characters")
    return credentials.credentials


Token = Annotated[str, Depends(bearer_token)]


@router.post(
    "",
    status_code=201,
    response_model=NewUser,
    responses={503: {"model": ErrorBody, "description": "store busy or down"}},
)
async def create_user(serving: ServingDep, gates: GatesDep) -> NewUser:
    """A new user: its id and its token (shown once; only a hash is stored)."""
    return await gates.store.run(serving.create_user)


@router.put("/{user_id}/ratings/{movie_id}", response_model=StoredRatingOut, responses=WRITE)
async def put_rating(
    user_id: UserId,
    movie_id: MovieId,
    body: RatingBody,
    token: Token,
    serving: ServingDep,
    gates: GatesDep,
) -> StoredRatingOut:
    """Set the user's rating of a movie (idempotent). Committed when the answer returns;
    the user's next recommendations take it into account (fold-in, no retraining)."""
    return await gates.store.run(serving.put_rating, user_id, movie_id, body.rating, token)


@router.delete(
    "/{user_id}/ratings/{movie_id}",
    status_code=204,
    response_class=Response,
    responses=WRITE,
)
async def delete_rating(
    user_id: UserId, movie_id: MovieId, token: Token, serving: ServingDep, gates: GatesDep
) -> Response:
    """Remove the user's rating of a movie (idempotent: 204 also if there was none)."""
    await gates.store.run(serving.delete_rating, user_id, movie_id, token)
    return Response(status_code=204)


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
    """Top-``n`` for a user: folded in from the user's current ratings if they changed
    after the model was trained, else the store's current run, else the live model."""
    found = await gates.store.run(serving.lookup, user_id, n, model)
    if found.changed is not None:
        return await gates.model.run(serving.folded_recommendations, user_id, found.changed, n)
    if found.stored is not None:
        return found.stored
    return await gates.model.run(serving.fallback_recommendations, user_id, n, model)


@router.get("/{user_id}/ratings", response_model=UserHistory, responses=NOT_FOUND)
async def user_ratings(
    user_id: UserId, serving: ServingDep, gates: GatesDep, limit: HistoryLimit = 50
) -> UserHistory:
    """The user's ratings, best first then most recent: the store's when it knows the
    user, else the loaded model's training ratings."""
    found = await gates.store.run(serving.stored_history, user_id, limit)
    return found if found is not None else serving.user_history(user_id, limit)
