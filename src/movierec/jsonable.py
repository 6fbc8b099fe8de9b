"""Values made strict-JSON friendly: the one home for metrics, parameters and reports."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["json_safe"]


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars made Python, non-finite floats made ``None``, mapping
    keys made strings and any other object its ``str``, recursively through mappings,
    lists and tuples (tuples become lists): what ``json.dumps(..., allow_nan=False)``
    accepts."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
