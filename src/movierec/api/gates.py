"""Admission to the two scarce resources of a server process: model time and store
connections. No request can starve the others:

* model work (the live path of ``GET /users/{id}/recommendations``, ``POST
  /recommendations``, similar movies) runs in worker threads, ``model_slots`` at a time;
  at most ``model_queue`` more wait, each at most ``model_wait`` seconds; beyond that the
  request gets ``503`` with ``Retry-After`` at once instead of hanging;
* every store read and rating write runs in a worker thread holding a pooled connection
  only for that read or transaction (never across model work or an ``await``),
  ``store_slots`` at a time; the engine's pool has exactly ``store_slots`` connections, so
  a read never waits for the pool (the model swap's pointer poll goes through this gate);
* the event loop itself only parses, routes and serialises, so ``/health`` and other cheap
  requests keep answering while the model is busy.

Every request also has a deadline (:class:`movierec.api.middleware.TimeoutMiddleware`), and
uvicorn cuts off clients that hold partial headers (:mod:`movierec.api.protocol`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio

from movierec.errors import MovieRecError

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """The service's limits (per server process; ``--workers N`` multiplies them).

    Attributes:
        request_timeout: seconds a request may take, body included (then 408 if the body
            was still arriving, else 503).
        model_slots: model calls at once (1: numba/BLAS kernels already use the core; scale
            with ``--workers``).
        model_queue: model calls that may wait for a slot; one more gets 503 at once.
        model_wait: seconds a model call may wait for a slot before it gets 503.
        store_slots: concurrent store reads = the connection pool's size.
        store_queue, store_wait: as for the model, for store reads.
        header_timeout: seconds a client has to send a request's headers (slow clients
            holding partial headers are cut off).
        keep_alive: seconds an idle keep-alive connection stays open.
        max_url_bytes: longest request target (path and query) accepted; longer: 414.
        max_body_bytes: largest request body accepted; larger: 413.
    """

    request_timeout: float = 10.0
    model_slots: int = 1
    model_queue: int = 64
    model_wait: float = 4.0
    store_slots: int = 4
    store_queue: int = 256
    store_wait: float = 4.0
    header_timeout: float = 10.0
    keep_alive: int = 5
    max_url_bytes: int = 8192
    max_body_bytes: int = 1_048_576


class Overloaded(MovieRecError):
    """The server is at capacity: ``503`` with a ``Retry-After`` (seconds) header."""

    exit_code = 1
    http_status = 503

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Gate:
    """At most ``slots`` calls run at once in worker threads; at most ``queue`` more wait,
    each at most ``wait`` seconds; anything beyond raises :class:`Overloaded`.

    Args:
        name: what is guarded (in messages): ``"model"`` or ``"store"``.
    """

    def __init__(self, name: str, slots: int, queue: int, wait: float) -> None:
        if slots < 1 or queue < 0 or wait <= 0:
            raise ValueError(f"{name} gate: slots >= 1, queue >= 0, wait > 0")
        self.name = name
        self.slots = slots
        self.queue = queue
        self.wait = wait
        self.waiting = 0
        self.running = 0
        self.mean_seconds = 0.05  # moving average of a call's duration (for Retry-After)
        self._admit: anyio.CapacityLimiter | None = None
        self._threads: anyio.CapacityLimiter | None = None

    def retry_after(self) -> int:
        """Seconds until a new call would likely get a slot (1-60)."""
        ahead = self.waiting + self.running
        return max(1, min(60, math.ceil(ahead * self.mean_seconds / self.slots)))

    def _refuse(self, why: str) -> Overloaded:
        return Overloaded(
            f"the server is busy ({self.name}: {why}); retry later", self.retry_after()
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread once a slot is free.

        Raises:
            Overloaded: ``queue`` calls already wait, or no slot freed within ``wait`` s.
        """
        return await self.run_within(self.wait, fn, *args)

    async def run_within(self, wait: float, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`run`, waiting at most ``wait`` seconds for a slot."""
        if self._admit is None or self._threads is None:
            self._admit = anyio.CapacityLimiter(self.slots)
            self._threads = anyio.CapacityLimiter(self.slots)
        admit, threads = self._admit, self._threads
        if admit.available_tokens == 0 and self.waiting >= self.queue:
            raise self._refuse(f"{self.waiting} requests already waiting")
        self.waiting += 1
        try:
            with anyio.fail_after(wait):
                await admit.acquire()
        except TimeoutError:
            raise self._refuse(f"no free slot within {wait:g} s") from None
        finally:
            self.waiting -= 1
        self.running += 1
        started = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(partial(fn, *args), limiter=threads)
        finally:
            self.running -= 1
            admit.release()
            took = time.perf_counter() - started
            self.mean_seconds = 0.9 * self.mean_seconds + 0.1 * took


@dataclass(frozen=True)
class Gates:
    """The gates of one server process (one per resource)."""

    model: Gate
    store: Gate

    @classmethod
    def of(cls, limits: Limits) -> Gates:
        return cls(
            model=Gate("model", limits.model_slots, limits.model_queue, limits.model_wait),
            store=Gate("store", limits.store_slots, limits.store_queue, limits.store_wait),
        )
