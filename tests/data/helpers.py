"""Helpers shared by the data-step tests."""

from __future__ import annotations

from pathlib import Path


def snapshot(directory: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``directory``."""
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def leftovers(directory: Path) -> list[str]:
    """Temporary files/folders (``.name.tmp-*``, ``*.part-*``) left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name or ".part-" in p.name)
