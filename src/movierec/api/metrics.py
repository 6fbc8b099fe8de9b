"""Prometheus metrics of the service (``GET /metrics``), through ``prometheus-client``.

What is measured (one set per process; with ``--workers N`` every worker writes its
figures to ``PROMETHEUS_MULTIPROC_DIR``, which ``movierec serve`` creates, and ``/metrics``
adds them up, whichever worker answers):

* ``movierec_requests_total{method, route, status}`` and
  ``movierec_request_seconds{method, route}``: by route template (``/users/{user_id}/…``,
  never the raw path, so the label set stays small; unmatched paths are ``<unmatched>``);
* ``movierec_fold_in_seconds{method}``: scoring a changed user's current ratings;
* ``movierec_store_errors_total{operation}``: failed store reads and writes;
* ``movierec_model_version{worker}``: the registered version each worker serves (``-1``:
  an unregistered ``models/recommender.npz``), ``movierec_model_swaps_total``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from movierec.interrupt import pid_exists

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("movierec_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "movierec_request_seconds",
    "Time from the request's arrival to its response's end",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
FOLD_IN = Histogram(
    "movierec_fold_in_seconds",
    "Scoring a changed user's current ratings (fold-in, neighbourhood or popularity)",
    ["method"],
    buckets=LATENCY_BUCKETS,
)
STORE_ERRORS = Counter("movierec_store_errors", "Store reads or writes that failed", ["operation"])
MODEL_VERSION = Gauge(
    "movierec_model_version",
    "The registered model version this worker serves (-1: models/recommender.npz)",
    ["worker"],
    multiprocess_mode="liveall",
)
SWAPS = Counter("movierec_model_swaps", "Models swapped in after a promotion or rollback")


def set_model_version(version: int | None) -> None:
    """Record the version this process serves."""
    MODEL_VERSION.labels(worker=str(os.getpid())).set(-1 if version is None else version)


def worker_versions() -> dict[int, int | None]:
    """Process id -> the model version it serves (``None``: unregistered), for every live
    worker when ``PROMETHEUS_MULTIPROC_DIR`` is set (read from the workers' metric files),
    else for this process only."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        families = list(registry.collect())
    else:
        families = list(MODEL_VERSION.collect())
    out: dict[int, int | None] = {}
    for family in families:
        if family.name != "movierec_model_version":
            continue
        for sample in family.samples:
            pid = int(sample.labels.get("worker") or sample.labels.get("pid") or 0)
            if pid_exists(pid):  # a dead worker's file stays behind
                out[pid] = None if sample.value < 0 else int(sample.value)
    return out


def exposition() -> tuple[bytes, str]:
    """``(body, content type)`` of ``GET /metrics``: this process's metrics, or every
    worker's added up when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(DEFAULT_REGISTRY), CONTENT_TYPE_LATEST


def route_label(scope: Scope) -> str:
    """The matched route's template (``/users/{user_id}/ratings``), a mount's prefix
    (``/static``), or ``<unmatched>``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    root = scope.get("root_path") or ""
    if root:
        return str(root)
    return "<unmatched>"


class MetricsMiddleware:
    """Count every HTTP request and time it, by method, route template and status; each
    response carries ``Server-Timing: app;dur=<ms>``, the server's time from the request's
    arrival to the response's start (what a client cannot tell from its own clock)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracked_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                took = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            route = route_label(scope)
            method = str(scope.get("method", ""))
            REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            LATENCY.labels(method=method, route=route).observe(time.perf_counter() - started)
