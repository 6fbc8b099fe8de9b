"""Ctrl-C for command-line runs: stop within a moment, with one line, nothing half-written.

Libraries the pipeline runs (Prefect's engine, pydantic) catch a ``KeyboardInterrupt``
raised deep inside them and turn it into other errors, or finish the run anyway. So on the
first SIGINT the process stops itself: it removes the temporary files being written
(:func:`movierec.atomic.discard_pending`; every artifact keeps its previous version), stops
its child processes (e.g. Prefect's temporary API server), prints one line and exits 130.
A store run being written is rolled back by the database when the connection closes.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from movierec.atomic import discard_pending

EXIT_CODE = 130
MESSAGE = "error: interrupted; the previous artifacts were kept"


def proc_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after ``pid (comm)``: ``[state, ppid, ...]``
    (field ``k`` of proc(5) is at index ``k - 3``; ``[19]`` is the start time in clock
    ticks); ``None`` if there is no such process (or no ``/proc``)."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def pid_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0; one owned by another user counts)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def children(pid: int | None = None) -> list[int]:
    """Direct child process ids of ``pid`` (this process by default), from ``/proc``."""
    parent = os.getpid() if pid is None else pid
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        fields = proc_fields(int(entry.name))
        if fields is not None and len(fields) > 1 and int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def stop_children(grace: float = 1.0) -> None:
    """SIGTERM every child process (and theirs), then SIGKILL what is left after ``grace`` s."""
    pids, todo = [], children()
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children(pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if _running(p)]
            time.sleep(0.05)
        pids = alive
        if not pids:
            return


def _running(pid: int) -> bool:
    fields = proc_fields(pid)
    return fields is not None and fields[0] != "Z"  # a zombie has already exited


def _stop(signum: int, frame: FrameType | None) -> None:
    discard_pending()
    stop_children()
    sys.stderr.write(MESSAGE + "\n")
    sys.stderr.flush()
    os._exit(EXIT_CODE)


def install() -> Callable[[], None]:
    """Stop the process on the first SIGINT (see the module docstring); returns a function
    that restores the previous handler. A no-op outside the main thread or when SIGINT is
    ignored (a background job of a non-interactive shell)."""
    try:
        previous: Any = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            return lambda: None
        signal.signal(signal.SIGINT, _stop)
    except ValueError:  # not the main thread
        return lambda: None
    return lambda: signal.signal(signal.SIGINT, previous)
