"""Shared, bounded path/query parameters (ids fit a 32-bit SQL integer).

Integers in paths and queries are plain ASCII digits: ``/movies/%201``, ``?n=+10``,
``?n=1_0`` or ``?n=10.0`` are refused with 422 instead of being read as numbers.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator

from movierec.api.schemas import MAX_ID, MAX_N

_DIGITS = re.compile(r"[0-9]{1,12}")


def plain_digits(value: object) -> object:
    """Let only a string of 1-12 ASCII digits through (other types go to int's own check)."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written with digits only")
    return value


Digits = BeforeValidator(plain_digits)

UserId = Annotated[int, Digits, Path(ge=0, le=MAX_ID, description="MovieLens userId")]
MovieId = Annotated[int, Digits, Path(ge=0, le=MAX_ID, description="MovieLens movieId")]
RunId = Annotated[int, Digits, Path(ge=1, le=MAX_ID, description="run id (see GET /runs)")]
N = Annotated[int, Digits, Query(ge=1, le=MAX_N, description="how many movies (1-100)")]
Limit = Annotated[int, Digits, Query(ge=1, le=MAX_N, description="how many movies (1-100)")]
Offset = Annotated[int, Digits, Query(ge=0, le=MAX_ID, description="matches to skip")]
HistoryLimit = Annotated[int, Digits, Query(ge=1, le=1000, description="how many ratings")]
