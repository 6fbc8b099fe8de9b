"""``GET /health``."""

from __future__ import annotations

from fastapi import APIRouter

from movierec.api.deps import ServingDep, SessionDep
from movierec.api.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
def health(serving: ServingDep, db: SessionDep) -> Health:
    """The loaded model, the current stored run and the training data fingerprint."""
    return serving.health(db)
