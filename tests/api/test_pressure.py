"""The service under pressure, on a real uvicorn on 127.0.0.1: a full model queue gets 503
with Retry-After at once, slow clients are cut off, over-long and malformed requests get
JSON errors. Bounded: at most 40 connections and a few seconds per test.

The model's work is made slow (``time.sleep`` in the serving method) so that the queue and
the deadlines are reached deterministically; everything else is the real stack.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from movierec.api.app import create_app
from movierec.api.gates import Limits
from movierec.api.protocol import GuardedHttpProtocol
from tests.api.conftest import uvicorn_thread

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


class QuickHeaders(GuardedHttpProtocol):
    header_timeout = 1.0


@pytest.fixture(scope="module")
def slow_server(cosine_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One model slot, two waiting places, 0.6 s of wait; every model call takes 0.4 s."""
    limits = Limits(model_slots=1, model_queue=2, model_wait=0.6, request_timeout=2.0)
    app = create_app(home=tmp_path_factory.mktemp("slow"), model=cosine_model, limits=limits)
    serving = app.state.serving
    live = serving.fallback_recommendations

    def slow_live(*args: Any) -> Any:
        time.sleep(0.4)
        return live(*args)

    serving.fallback_recommendations = slow_live
    with uvicorn_thread(app, http=QuickHeaders, timeout_keep_alive=1) as url:
        yield url


def raw_exchange(url: str, data: bytes, wait: float = 5.0) -> tuple[bytes, float]:
    """Send ``data`` on a new connection; (everything received until close, seconds)."""
    host, port = url.removeprefix("http://").split(":")
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        if data:
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - t0


def json_body(response: bytes) -> dict[str, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return json.loads(body)


def test_a_full_model_queue_answers_503_with_retry_after_at_once(slow_server: str) -> None:
    async def burst() -> list[tuple[int, float, httpx.Response]]:
        async with httpx.AsyncClient(base_url=slow_server, timeout=10) as client:

            async def one(user: int) -> tuple[int, float, httpx.Response]:
                t0 = time.monotonic()
                r = await client.get(f"/users/{user}/recommendations", params={"n": 5})
                return r.status_code, time.monotonic() - t0, r

            return await asyncio.gather(*(one(u) for u in range(1, 21)))

    results = asyncio.run(burst())
    codes = [c for c, _, _ in results]
    assert set(codes) == {200, 503}, codes
    assert 1 <= codes.count(200) <= 3  # one slot, two waiting places, 0.6 s of wait
    for code, seconds, r in results:
        if code == 503:
            assert r.json()["error"] == "ServiceUnavailable" and "busy" in r.json()["detail"]
            assert int(r.headers["retry-after"]) >= 1
            assert seconds < 1.5  # refused at once or after the 0.6 s wait, never hung


def test_health_answers_while_the_model_is_busy(slow_server: str) -> None:
    async def run() -> list[float]:
        async with httpx.AsyncClient(base_url=slow_server, timeout=10) as client:
            busy = [
                asyncio.create_task(client.get(f"/users/{u}/recommendations", params={"n": 5}))
                for u in range(1, 4)
            ]
            times = []
            for _ in range(5):
                t0 = time.monotonic()
                assert (await client.get("/health")).status_code == 200
                times.append(time.monotonic() - t0)
                await asyncio.sleep(0.05)
            await asyncio.gather(*busy)
            return times

    assert max(asyncio.run(run())) < 0.3


def test_a_body_that_stops_arriving_gets_408(slow_server: str) -> None:
    head = (
        b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    response, seconds = raw_exchange(slow_server, head + b'{"ratings": [')
    assert response.startswith(b"HTTP/1.1 408"), response
    assert json_body(response)["error"] == "RequestTimeout"
    assert 1.5 < seconds < 4  # the 2 s request deadline


def test_slow_headers_are_cut_off(slow_server: str) -> None:
    """Slowloris: 30 connections with half-sent headers, 10 with nothing sent; all are
    closed after the 1 s header deadline (408 for those that began a request)."""
    host, port = slow_server.removeprefix("http://").split(":")
    socks = []
    t0 = time.monotonic()
    for i in range(40):
        s = socket.create_connection((host, int(port)), timeout=5)
        if i < 30:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        socks.append(s)
    answers = []
    for s in socks:
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        answers.append(data)
        s.close()
    took = time.monotonic() - t0
    assert took < 3.5, took
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers[:30])
    assert json_body(answers[0])["detail"] == "request headers did not arrive within 1 s"
    assert all(a in (b"", answers[0]) for a in answers[30:])
    # a request that completes its headers in time is served as usual
    with httpx.Client(base_url=slow_server, timeout=5) as client:
        assert client.get("/health").status_code == 200


def test_idle_keep_alive_connections_are_closed(slow_server: str) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    response, seconds = raw_exchange(slow_server, request)
    assert response.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in response
    assert seconds < 3  # closed by the 1 s keep-alive timeout, not the 5 s socket timeout


@pytest.mark.parametrize("length", [9_000, 70_000, 1_000_000])
def test_over_long_urls_get_414_json(slow_server: str, length: int) -> None:
    target = b"/movies?query=" + b"a" * length
    response, _ = raw_exchange(slow_server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 414"), response[:80]
    assert json_body(response) == {
        "detail": "request target longer than 8192 bytes",
        "error": "RequestURITooLong",
    }


def test_malformed_requests_get_400_json(slow_server: str) -> None:
    response, _ = raw_exchange(slow_server, b"GET /health HTTP/1.1\r\nBad Header\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400")
    assert json_body(response)["error"] == "BadRequest"


def test_non_json_bodies_get_415(slow_server: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=slow_server, timeout=5) as client:
        body = '{"ratings": [{"movieId": 50, "rating": 5}]}'
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            r = client.post("/recommendations", content=body, headers={"content-type": kind})
            assert r.status_code == 415 and r.json()["error"] == "UnsupportedMediaType", kind
        for kind in ("application/json", "application/json; charset=utf-8"):
            r = client.post("/recommendations", content=body, headers={"content-type": kind})
            assert r.status_code == 200, (kind, r.text)
