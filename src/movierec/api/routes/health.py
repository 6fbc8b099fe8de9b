"""``GET /health`` (liveness), ``GET /ready`` (readiness) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from movierec.api import metrics
from movierec.api.deps import GatesDep, ServingDep
from movierec.api.gates import Overloaded
from movierec.api.schemas import ErrorBody, Health, Ready

router = APIRouter(tags=["service"])

RUN_MAX_AGE = 1.0
"""Seconds a health answer may show an old read of the current run."""
STORE_WAIT = 0.25
"""Longest wait of ``/health`` for a store slot; then it answers from its last read."""
READY_WAIT = 1.0
"""Longest wait of ``/ready`` for a store slot; a store that busy is not ready."""


@router.get("/health", response_model=Health)
async def health(request: Request, serving: ServingDep, gates: GatesDep) -> Health:
    """Liveness: the live model and its version, the production pointer as this worker
    last read it (``swap``), the current stored run and the store (its kind and name).

    Answers at once under load: the current run is read at most once a second, waiting at
    most 0.25 s for the store; a busy store leaves the last run read in the answer.
    """
    if serving.current_run_age() > RUN_MAX_AGE:
        with contextlib.suppress(Overloaded):
            await gates.store.run_within(STORE_WAIT, serving.read_current_run)
    answer = serving.health()
    answer.swap = request.app.state.swap.info(serving)
    return answer


@router.get(
    "/ready",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "not ready: the store does not answer"}},
)
async def ready(serving: ServingDep, gates: GatesDep) -> JSONResponse:
    """Readiness: 200 when a model is loaded and the store answers a query now (or no
    store is configured), else 503."""
    try:
        store = await gates.store.run_within(READY_WAIT, serving.store.ping)
    except Overloaded:
        store = "busy"
    ok = store in ("ok", "none")
    body = Ready(ready=ok, model=serving.model.name, model_version=serving.version, store=store)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 500: {"model": ErrorBody}},
)
def prometheus_metrics() -> Response:
    """Prometheus text format: requests and latency by route, fold-in latency, store
    errors, the model version each worker serves, model swaps."""
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
