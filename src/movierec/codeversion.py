"""The code version a model version or tracked run records: the package version, plus the
git commit of the source tree when movierec runs from a git checkout."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from movierec import __version__


@functools.cache
def git_commit() -> str | None:
    """The short commit of the checkout holding this package (with ``+dirty`` when the
    tracked files differ from it), or ``None`` (not a checkout, or no git)."""
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if commit and dirty else commit or None


def code_version() -> str:
    """``"0.1.0"`` or ``"0.1.0+g1a2b3c4d5e6f"`` (``…+dirty`` for uncommitted changes)."""
    commit = git_commit()
    return __version__ if commit is None else f"{__version__}+g{commit}"
