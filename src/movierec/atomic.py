"""Atomic file writes: write to a temporary sibling, then ``os.replace`` it into place.

A failed or interrupted write (exception, Ctrl-C, full disk) leaves the previous file intact
and removes the temporary file.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from movierec.errors import MovieRecError


class DiskFullError(MovieRecError):
    """The disk filled up while writing; the previous artifact was kept."""

    exit_code = 28


_PENDING: set[Path] = set()
"""Temporary paths being written now (removed by :func:`discard_pending` on a hard stop)."""


def _tmp_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def discard_pending() -> None:
    """Remove every temporary path still being written (before the process stops at once:
    the targets keep their previous version)."""
    for path in list(_PENDING):
        _remove(path)


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it onto ``target``.

    Works for a file or a directory written at the yielded path.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(target)
    _PENDING.add(tmp)
    try:
        yield tmp
        if tmp.is_dir() and target.is_dir():
            old = _tmp_sibling(target)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"disk full while writing {target}; the previous version was kept"
            ) from exc
        raise
    except BaseException:
        _remove(tmp)
        raise
    finally:
        _PENDING.discard(tmp)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(target)
