"""Dependencies of the routes (``Annotated`` style, as in full-stack-fastapi-template)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from movierec.api.service import Serving
from movierec.models.base import Recommender


def get_serving(request: Request) -> Serving:
    """The process-wide :class:`Serving` built by :func:`movierec.api.app.create_app`."""
    serving: Serving = request.app.state.serving
    return serving


ServingDep = Annotated[Serving, Depends(get_serving)]


def get_model(serving: ServingDep) -> Recommender:
    """The model loaded once at start-up."""
    return serving.model


ModelDep = Annotated[Recommender, Depends(get_model)]


def get_session(serving: ServingDep) -> Iterator[Session | None]:
    """A read session on the store (``None`` without a store); it connects lazily."""
    engine = serving.store.engine
    if engine is None:
        yield None
        return
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session | None, Depends(get_session)]
