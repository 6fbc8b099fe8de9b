"""The run log: one JSON line per step run in ``logs/runs.jsonl`` under the working directory."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("movierec")


@contextmanager
def logged_step(log_path: Path, step: str, **details: Any) -> Iterator[dict[str, Any]]:
    """Time a step and append ``{"step", "started", "seconds", "status", ...}`` to ``log_path``.

    The yielded dict can be filled with more details by the step. The line is written whether
    the step succeeds (``status: ok``) or fails (``status: failed``, ``error``); a failure to
    write the log never hides the step's own error.
    """
    record: dict[str, Any] = {
        "step": step,
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **details,
    }
    t0 = time.perf_counter()
    try:
        yield record
        record["status"] = "ok"
    except BaseException as exc:
        record["status"] = "failed"
        record["error"] = str(exc) or type(exc).__name__
        raise
    finally:
        record["seconds"] = round(time.perf_counter() - t0, 4)
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, default=str) + "\n")
        except OSError:  # pragma: no cover - a full disk must not mask the real error
            log.warning("could not append to run log %s", log_path)
