"""ASGI middleware: request limits (414, 415, 413) and a deadline for every request.

Both answer with the API's JSON error body ``{"detail": "...", "error": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

import anyio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def send_error(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete JSON error response; the connection is closed after it."""
    error = HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    payload = json.dumps({"detail": detail, "error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def is_json(content_type: bytes) -> bool:
    """``application/json`` or ``application/<x>+json`` (parameters such as charset ok)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class RequestLimitMiddleware:
    """Refuse, before the application sees them:

    * a request target (path and query) longer than ``max_url_bytes``: ``414``;
    * a body sent with a ``Content-Type`` that is not JSON: ``415`` (no type: JSON assumed);
    * a body larger than ``max_bytes``: ``413``. A declared ``Content-Length`` above the
      limit is refused before reading; otherwise the body is read (at most ``max_bytes + 1``
      bytes, whatever the transfer encoding) and replayed to the application, so chunked
      uploads cannot bypass the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = 1_048_576, max_url_bytes: int = 8192):
        self.app = app
        self.max_bytes = max_bytes
        self.max_url_bytes = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b"")
        )
        if target > self.max_url_bytes:
            await send_error(send, 414, f"request target longer than {self.max_url_bytes} bytes")
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        has_body = b"transfer-encoding" in headers or declared not in (None, b"0")
        if scope["method"] in BODY_METHODS and has_body:
            content_type = headers.get(b"content-type")
            if content_type is not None and not is_json(content_type):
                shown = content_type.decode("latin-1")[:60]
                await send_error(send, 415, f"send application/json, not {shown!r}")
                return
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(send)
                return
        elif b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all (typical GET)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        await send_error(send, 413, f"request body larger than {self.max_bytes} bytes")


class TimeoutMiddleware:
    """Give every request ``seconds`` to complete.

    Past the deadline, a request whose response has not started is answered ``408`` if its
    body was still arriving (a slow client) and ``503`` with ``Retry-After`` otherwise (the
    server is too busy); the work it was waiting for is cancelled (a model call already in
    a worker thread finishes first, bounded by the gates).
    """

    def __init__(self, app: ASGIApp, seconds: float = 10.0) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body_done = scope["method"] not in BODY_METHODS

        async def tracked_receive() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with anyio.move_on_after(self.seconds) as deadline:
            await self.app(scope, tracked_receive, tracked_send)
        if not deadline.cancelled_caught or started:
            return
        if not body_done:
            await send_error(
                send, 408, f"the request body did not arrive within {self.seconds:g} s"
            )
        else:
            await send_error(
                send,
                503,
                f"the request did not complete within {self.seconds:g} s; retry later",
                [(b"retry-after", b"2")],
            )
