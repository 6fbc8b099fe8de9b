"""Fixtures of the data-step tests: synthetic ml-100k folders/zips and a loopback HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from movierec.config import Layout
from movierec.data.synthetic import content_checksums, write_ml100k_like, zip_dataset


@dataclass
class Route:
    """What the server answers on one path.

    ``fail_first`` requests get ``fail_status`` before the body is served; ``truncate``
    announces the full Content-Length but sends only half of the body.
    """

    body: bytes
    fail_first: int = 0
    fail_status: int = 503
    truncate: bool = False


@dataclass
class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (random port) that counts its requests."""

    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, **kwargs: object) -> str:
        self.routes[path] = Route(body, **kwargs)  # type: ignore[arg-type]
        return self.url(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        state: LoopbackServer = self.server.state  # type: ignore[attr-defined]
        state.requests.append(self.path)
        route = state.routes.get(self.path)
        if route is None:
            self._empty(404)
            return
        if route.fail_first > 0:
            route.fail_first -= 1
            self._empty(route.fail_status)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.truncate:
            self.wfile.write(route.body[: len(route.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(route.body)

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def loopback_server() -> Iterator[LoopbackServer]:
    """Run a :class:`LoopbackServer` in a thread for the duration of the block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = LoopbackServer(port=httpd.server_address[1])
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A loopback HTTP server; register bodies with ``server.serve(path, bytes)``."""
    with loopback_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep httpx away from any proxy configured in the environment (loopback only)."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic ml-100k-format folder (read-only by convention: copy before editing)."""
    return write_ml100k_like(tmp_path_factory.mktemp("synth") / "ml-100k", seed=7)


@pytest.fixture(scope="session")
def synth_zip(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synth_dir`` zipped like the official archive (``ml-100k/...``)."""
    return zip_dataset(synth_dir, tmp_path_factory.mktemp("zip") / "ml-100k.zip")


@pytest.fixture(scope="session")
def synth_sums(synth_dir: Path) -> dict[str, str | None]:
    """Content checksums of ``synth_dir`` (the ``download(checksums=...)`` override)."""
    return content_checksums(synth_dir)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """A fresh working directory."""
    return Layout(tmp_path / "home")
