"""Logging of ``movierec serve``: uvicorn's loggers and movierec's, plain or JSON lines.

``--json-logs`` writes every record as one JSON object per line (``time`` in ISO 8601 UTC,
``level``, ``logger``, ``message``, and for access lines ``client``, ``method``, ``path``,
``status``), which log shippers read without parsing patterns.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from typing import Any

LEVELS = ("critical", "error", "warning", "info", "debug")


class JsonFormatter(logging.Formatter):
    """One JSON object per record (no newline inside: messages are escaped by ``json``)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            args = record.args
            if len(args) == 5:  # uvicorn: client, method, path, http version, status
                out.update(client=args[0], method=args[1], path=args[2], status=int(str(args[4])))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def log_config(
    level: str = "warning", json_lines: bool = False, access: bool = False
) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn and movierec at ``level``; with
    ``access``, one access line per request whatever the level.

    Raises:
        ValueError: an unknown level.
    """
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    upper = level.upper()
    if json_lines:
        formatters: dict[str, Any] = {
            "default": {"()": "movierec.api.logs.JsonFormatter"},
            "access": {"()": "movierec.api.logs.JsonFormatter"},
        }
    else:
        formatters = {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(name)s: %(message)s",
                "use_colors": None,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        }
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {
            "default": {**handler, "formatter": "default"},
            "access": {**handler, "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {
                "handlers": ["access"] if access else [],
                "level": "INFO" if access else upper,
                "propagate": False,
            },
            "movierec": {"handlers": ["default"], "level": upper, "propagate": False},
        },
    }
