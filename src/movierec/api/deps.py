"""Dependencies of the routes (``Annotated`` style, as in full-stack-fastapi-template)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from movierec.api.service import Serving
from movierec.models.base import Recommender


async def get_serving(request: Request) -> Serving:
    """The process-wide :class:`Serving` built by :func:`movierec.api.app.create_app`."""
    serving: Serving = request.app.state.serving
    return serving


ServingDep = Annotated[Serving, Depends(get_serving)]


async def get_model(serving: ServingDep) -> Recommender:
    """The model loaded once at start-up."""
    return serving.model


ModelDep = Annotated[Recommender, Depends(get_model)]


async def get_session(serving: ServingDep) -> AsyncIterator[Session | None]:
    """A read session on the store (``None`` without a store); it connects lazily.

    The dependencies are ``async`` so they run on the event loop (no thread hop per request);
    the store queries themselves are short, indexed, synchronous reads.
    """
    engine = serving.store.engine
    if engine is None:
        yield None
        return
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session | None, Depends(get_session)]

T = TypeVar("T")
_limiter: anyio.CapacityLimiter | None = None


async def run_model(fn: Callable[..., T], *args: Any) -> T:
    """Run CPU-bound model code in a worker thread, one call at a time per process.

    Serialising model calls avoids GIL and BLAS-thread thrashing under concurrent load (scale
    out with ``--workers`` instead) while the event loop keeps answering cheap requests.
    """
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(1)
    return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=_limiter)
