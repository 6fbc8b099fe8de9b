"""Hygiene of the tracked files: no merge left half-done.

A merge that stopped on a conflict and was committed anyway leaves ``<<<<<<<`` /
``=======`` / ``>>>>>>>`` lines in a file (it happened once, in ``docs/benchmarks.md``); the
page still renders, so nothing else notices.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^(<{7}|>{7})( |$)|^={7}$", re.MULTILINE)
TEXT = (".py", ".md", ".toml", ".txt", ".yml", ".yaml", ".cfg", ".html", ".js", ".css", ".sh")


def _tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / name for name in out.splitlines() if name.endswith(TEXT) or "/" not in name]


def test_no_tracked_file_holds_merge_conflict_markers() -> None:
    files = [p for p in _tracked() if p.is_file()]
    assert len(files) > 50  # the listing worked
    bad = [
        f"{p.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
        for p in files
        for text in [p.read_text(encoding="utf-8", errors="replace")]
        for m in MARKER.finditer(text)
    ]
    assert not bad, f"merge-conflict markers left in: {bad}"


def test_the_marker_pattern_finds_a_conflict() -> None:
    sample = "a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> branch\n"
    assert len(MARKER.findall(sample)) == 3
