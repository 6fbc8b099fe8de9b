"""Running the real CLI entry point in this process (``main``), as a user's shell would."""

from __future__ import annotations

import pytest

from movierec.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``movierec ARGS`` through :func:`movierec.cli.main`: ``(exit code, stdout, stderr)``."""
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
