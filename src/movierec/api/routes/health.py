"""``GET /health``."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter

from movierec.api.deps import GatesDep, ServingDep
from movierec.api.gates import Overloaded
from movierec.api.schemas import Health

router = APIRouter(tags=["service"])

RUN_MAX_AGE = 1.0
"""Seconds a health answer may show an old read of the current run."""
STORE_WAIT = 0.25
"""Longest wait of ``/health`` for a store slot; then it answers from its last read."""


@router.get("/health", response_model=Health)
async def health(serving: ServingDep, gates: GatesDep) -> Health:
    """The loaded model, the current stored run and the store (its kind and name).

    Answers at once under load: the current run is read at most once a second, waiting at
    most 0.25 s for the store; a busy store leaves the last run read in the answer.
    """
    if serving.current_run_age() > RUN_MAX_AGE:
        with contextlib.suppress(Overloaded):
            await gates.store.run_within(STORE_WAIT, serving.read_current_run)
    return serving.health()
