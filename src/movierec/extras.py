"""Optional extras: which ``pip install 'movierec[EXTRA]'`` a feature needs.

The core (data, models, evaluation, CLI, store) installs without Prefect, FastAPI, Spark or
MLflow. A command that needs one of them calls :func:`require` first and, when it is
missing, stops with one line naming the extra.
"""

from __future__ import annotations

import importlib.util

from movierec.errors import ConfigError

EXTRAS: dict[str, str] = {
    "flow": "Prefect (flows, schedules)",
    "serve": "FastAPI and uvicorn (the HTTP API and web page)",
    "spark": "PySpark (--engine spark)",
    "track": "MLflow (tracked experiments)",
}
"""Extra name -> what it brings."""


def installed(module: str) -> bool:
    """True when ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(extra: str, module: str, what: str | None = None) -> None:
    """Raise :class:`ConfigError` (one line) when ``module`` of ``extra`` is not installed.

    Args:
        extra: a key of :data:`EXTRAS`.
        module: the top-level module to look for (``prefect``, ``fastapi``, ``mlflow``).
        what: the feature that needs it, for the message (default: the extra's own line).
    """
    if installed(module):
        return
    feature = what or EXTRAS[extra]
    raise ConfigError(f"{feature} needs the [{extra}] extra: pip install 'movierec[{extra}]'")
