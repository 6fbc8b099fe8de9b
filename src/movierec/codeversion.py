"""The code version a model version or tracked run records: the package version, plus the
git commit of the source tree when movierec runs from a git checkout."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from movierec import __version__


def _git(*args: str) -> str:
    """``git ARGS`` run in this package's folder; its stripped output."""
    src = Path(__file__).resolve().parent
    done = subprocess.run(
        ["git", "-C", str(src), *args], capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


@functools.cache
def git_commit() -> str | None:
    """The short commit of the checkout holding this package (with ``+dirty`` when the
    tracked files differ from it), or ``None`` (not a checkout, or no git)."""
    try:
        commit = _git("rev-parse", "--short=12", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if commit and dirty else commit or None


def code_version() -> str:
    """``"0.1.0"`` or ``"0.1.0+g1a2b3c4d5e6f"`` (``…+dirty`` for uncommitted changes)."""
    commit = git_commit()
    return __version__ if commit is None else f"{__version__}+g{commit}"
