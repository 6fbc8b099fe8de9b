"""A living home for API tests and benchmarks: the real ml-100k imported into the store
(as ``movierec import`` does) and model files registered as versions (as ``retrain``
does), without the minutes of a real retrain."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from movierec.config import Layout
from movierec.interactions import Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.retrain import save_version
from movierec.store import ensure_schema, import_ratings, make_engine

MOVIEREC = [sys.executable, "-m", "movierec"]


def import_ml100k(url: str, ml100k: tuple[Interactions, ItemCatalog]) -> float:
    """Import ml-100k into the store at ``url``; returns the time it was read as of."""
    engine = make_engine(url)
    try:
        ensure_schema(engine)
        data, catalog = ml100k
        import_ratings(engine, data.to_frame(), catalog)
    finally:
        engine.dispose()
    return time.time()


def register(home: Path, url: str, model: Recommender, ratings_as_of: float | None) -> int:
    """Save ``model`` as ``models/versions/<name>-<sha12>.npz`` and register it (the
    function ``movierec retrain`` uses); its id."""
    engine = make_engine(url)
    try:
        info = save_version(Layout(home), engine, model, metrics={}, ratings_as_of=ratings_as_of)
    finally:
        engine.dispose()
    return info.id


def start_serve(
    home: Path,
    port: int,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``movierec serve`` on 127.0.0.1:``port``, answering ``/ready`` (60 s at most); its
    output goes to ``log`` (``<home>/serve.log`` by default: a pipe nobody reads would
    block a server that logs every request)."""
    log = log or home / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*MOVIEREC, "serve", "--home", str(home), "--port", str(port), *(args or [])],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            out = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"movierec serve exited with {proc.returncode}: {out}")
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("movierec serve was not ready within 60 s")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
