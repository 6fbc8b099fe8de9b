"""``GET /health``."""

from __future__ import annotations

from fastapi import APIRouter

from movierec.api.deps import GatesDep, ServingDep
from movierec.api.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
async def health(serving: ServingDep, gates: GatesDep) -> Health:
    """The loaded model, the current stored run and the store (its kind and name)."""
    return await gates.store.run(serving.health)
