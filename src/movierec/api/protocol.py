"""uvicorn's HTTP/1.1 protocol (httptools) with a header deadline and JSON errors.

uvicorn times out idle keep-alive connections but never a client that holds a request's
headers half-sent: hundreds of such clients stay connected for ever (slowloris). Here each
request's headers must arrive within ``header_timeout`` seconds of the connection being
made or of the request's first byte; otherwise the server answers ``408`` and closes.

Requests the parser refuses get a JSON body too: a request target longer than
``max_url_bytes`` is ``414`` (httptools itself stops at 64 KiB with a plain-text 400),
any other malformed request ``400``.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
MAX_URL_BYTES = 8192


def error_response(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 response with the API's JSON error body; it closes the connection."""
    phrase = HTTPStatus(status).phrase
    body = json.dumps({"detail": detail, "error": phrase.replace(" ", "").replace("-", "")})
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return (head + body).encode("latin-1")


class GuardedHttpProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with a per-request header deadline and JSON parse errors.

    The limits are class attributes (uvicorn builds one instance per connection, in every
    worker process, from the class it imports by name); a subclass may change them.
    """

    header_timeout: float = HEADER_TIMEOUT
    max_url_bytes: int = MAX_URL_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._url_too_long = False
        self._refused = False

    def _refuse(self, response: bytes) -> None:
        """Send ``response`` and end the connection without resetting it: the rest of what
        the client is still sending is read and dropped for up to a second (closing a
        socket with unread data would reset the connection, and the client might lose the
        response)."""
        self._disarm_header_timer()
        self._refused = True
        self.transport.write(response)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(1.0, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            detail = f"request headers did not arrive within {self.header_timeout:g} s"
            self._refuse(error_response(408, detail))

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_url_bytes:
            self._url_too_long = True
            raise ValueError("request target too long")  # the parser stops: see below

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """What uvicorn sends when the parser refuses a request, as JSON (414 or 400)."""
        if self._url_too_long:
            self._refuse(
                error_response(414, f"request target longer than {self.max_url_bytes} bytes")
            )
        else:
            self._refuse(error_response(400, msg))
