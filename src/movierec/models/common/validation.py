"""Hyperparameter checks shared by the models; each raises :class:`ConfigError` naming the
model and the parameter."""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.errors import ConfigError

__all__ = ["check_float", "check_int"]


def check_int(model: str, name: str, value: Any, minimum: int = 1) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an int ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{model}: {name} must be an integer >= {minimum}, got {value!r}")


def check_float(
    model: str, name: str, value: Any, minimum: float = 0.0, strict: bool = False
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite number ``>= minimum``
    (``> minimum`` when ``strict``)."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    ok = ok and bool(np.isfinite(value)) and (value > minimum if strict else value >= minimum)
    if not ok:
        op = ">" if strict else ">="
        raise ConfigError(f"{model}: {name} must be a finite number {op} {minimum}, got {value!r}")
