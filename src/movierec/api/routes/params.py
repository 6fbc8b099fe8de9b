"""Shared, bounded path/query parameters (ids fit a 32-bit SQL integer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from movierec.api.schemas import MAX_ID, MAX_N

UserId = Annotated[int, Path(ge=0, le=MAX_ID, description="MovieLens userId")]
MovieId = Annotated[int, Path(ge=0, le=MAX_ID, description="MovieLens movieId")]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="run id (see GET /runs)")]
N = Annotated[int, Query(ge=1, le=MAX_N, description="how many movies (1-100)")]
