"""The FastAPI application factory (``movierec serve`` runs it under uvicorn).

The model is loaded when the app is created: the store's production version when there is
one (:mod:`movierec.store.versions`), else ``models/recommender.npz``; the store is opened
then too (an incompatible schema or unreachable server fails fast with a
:class:`StoreError`, a damaged model file with a :class:`ModelFileError`: the server then
refuses to start). Afterwards each process follows the production pointer and swaps its
model without a restart (:mod:`movierec.api.swap`). Ratings written through the API go to
the store (:mod:`movierec.store.ratings`). What the service guarantees under load is in
:mod:`movierec.api.gates`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from movierec import __version__
from movierec.api import metrics
from movierec.api.gates import Gates, Limits, Overloaded
from movierec.api.logs import log_config
from movierec.api.middleware import RequestLimitMiddleware, TimeoutMiddleware
from movierec.api.protocol import GuardedHttpProtocol
from movierec.api.routes import health, movies, pages, recommendations, runs, users
from movierec.api.service import FieldError, Serving
from movierec.api.storehandle import StoreHandle
from movierec.api.swap import ModelSwap, load_version
from movierec.config import Layout, Settings, get_settings
from movierec.data.datasets import RatingScale, get_dataset
from movierec.errors import AuthError, MovieRecError
from movierec.models import Recommender, load_model
from movierec.store.engine import make_engine, resolve_db_url
from movierec.store.versions import VersionInfo, get_version, production_pointer

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
MAX_ERRORS = 20
"""A 422 lists at most this many errors (a 1,000-rating body could have 2,000)."""
EXCERPT = 40
"""A 422 quotes at most this many characters of a bad value or field name."""


def _excerpt(value: Any) -> Any:
    """A short scalar as is; a long string cut to :data:`EXCERPT` characters; else None."""
    if isinstance(value, str):
        return value if len(value) <= EXCERPT else value[:EXCERPT] + "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    return None


def compact_errors(errors: Any) -> dict[str, Any]:
    """FastAPI's validation errors without echoing the input: each names its field
    (``loc``), says what is wrong (``msg``, ``type``) and quotes at most a short excerpt."""
    errors = list(errors)
    detail = []
    for e in errors[:MAX_ERRORS]:
        item = {
            "loc": [p if isinstance(p, int) else _excerpt(str(p)) for p in e.get("loc", ())],
            "msg": str(e.get("msg", ""))[:200],
            "type": str(e.get("type", "")),
        }
        excerpt = _excerpt(e.get("input"))
        if excerpt is not None:
            item["input"] = excerpt
        detail.append(item)
    body: dict[str, Any] = {"detail": detail}
    if len(errors) > MAX_ERRORS:
        body["more_errors"] = len(errors) - MAX_ERRORS
    return body


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(compact_errors(exc.errors()), status_code=422)

    @app.exception_handler(FieldError)
    async def field_error(_: Request, exc: FieldError) -> JSONResponse:
        body = {"detail": [{"loc": exc.loc, "msg": exc.msg, "type": "value_error"}]}
        return JSONResponse(body, status_code=exc.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        phrase = HTTPStatus(exc.status_code).phrase.replace(" ", "")
        body = {"detail": str(exc.detail), "error": phrase}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        body = {"detail": str(exc), "error": "ServiceUnavailable"}
        headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(body, status_code=exc.http_status, headers=headers)

    @app.exception_handler(MovieRecError)
    async def movierec_error(_: Request, exc: MovieRecError) -> JSONResponse:
        body = {"detail": str(exc), "error": type(exc).__name__}
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
        return JSONResponse(body, status_code=exc.http_status, headers=headers)


def dataset_scale(dataset: str, bounds: tuple[float, float]) -> RatingScale:
    """The rating scale of ``dataset`` (writes must be on it) when the model's training
    ratings span the same bounds; else whole or half stars between the model's bounds."""
    try:
        scale = get_dataset(dataset).scale
    except MovieRecError:
        scale = None
    if scale is not None and scale.bounds == tuple(bounds):
        return scale
    lo, hi = bounds
    return RatingScale(lo, hi, 1.0 if float(lo).is_integer() else 0.5)


def _production(store: StoreHandle) -> VersionInfo | None:
    """The production version, if the store has one (read at start-up)."""
    if store.engine is None or not store.check():
        return None
    with store.session() as db:
        pointer = production_pointer(db)
        return None if pointer is None else get_version(db, pointer)


def create_app(
    settings: Settings | None = None,
    *,
    home: str | Path | None = None,
    model_path: str | Path | None = None,
    db_url: str | None = None,
    model: Recommender | None = None,
    reports_dir: str | Path | None = None,
    use_store: bool = True,
    warm_up: bool = True,
    limits: Limits | None = None,
) -> FastAPI:
    """Build the app around one fitted model.

    Args:
        settings: defaults (``MOVIEREC_*`` environment when ``None``).
        home: working directory (``models/``, ``db/``, ``reports/``); ``settings.home`` if None.
        model_path: saved model; ``<home>/models/recommender.npz`` if None.
        db_url: store URL; ``MOVIEREC_DB_URL`` or ``<home>/db/movierec.db`` if None.
        model: an already fitted model (tests, notebooks); skips loading ``model_path``.
        reports_dir: evaluation reports; ``<home>/reports`` if None.
        use_store: ``False`` serves from the live model only.
        warm_up: run each model path once now (compiles numba kernels before traffic).
        limits: concurrency, queue, timeout and size limits (:class:`Limits` defaults).

    Raises:
        ModelError: no (compatible) model file. ModelFileError: a damaged model file.
        StoreError: unusable store.
    """
    settings = settings or get_settings()
    limits = limits or Limits()
    layout = Layout(Path(home) if home is not None else settings.home, settings.dataset)
    engine = None
    if use_store:
        url = resolve_db_url(db_url or settings.db_url, layout.home)
        engine = make_engine(url, pool_size=limits.store_slots, pool_timeout=limits.store_wait)
    store = StoreHandle(engine)
    reports = Path(reports_dir) if reports_dir else layout.reports_dir

    def build(fitted: Recommender, info: VersionInfo | None) -> Serving:
        made = Serving(
            fitted,
            store,
            reports,
            scale=dataset_scale(layout.dataset, fitted.data_.rating_scale),
            version=None if info is None else info.id,
            ratings_as_of=None if info is None else info.ratings_as_of,
            admin_token=settings.admin_token or None,
        )
        if warm_up:
            made.warm_up()
        return made

    try:
        production = None
        if model is None:
            production = None if model_path else _production(store)
            if production is not None:
                model = load_version(production, layout.home)
            else:
                model = load_model(Path(model_path) if model_path else layout.model_path)
        serving = build(model, production)
        seen = production.id if production is not None else None
        if seen is None and store.ok:
            with store.session() as db:
                seen = production_pointer(db)
    except BaseException:
        store.dispose()
        raise
    gates = Gates.of(limits)

    def publish(new: Serving) -> None:
        app.state.serving = new

    swap = ModelSwap(store, gates.store, build, layout.home, settings.swap_poll, seen, publish)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(swap.run()) if swap.enabled else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            store.dispose()

    app = FastAPIOffline(
        title="movierec",
        version=__version__,
        description="Movie recommendations on MovieLens: stored runs, new users, their "
        "ratings, explanations. Writes need `Authorization: Bearer <token>` (from POST /users).",
        lifespan=lifespan,
        favicon_url="/favicon.ico",
        redoc_url=None,
    )
    app.state.serving = serving
    app.state.gates = gates
    app.state.swap = swap
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    metrics.set_model_version(serving.version)
    app.add_middleware(
        RequestLimitMiddleware,
        max_bytes=limits.max_body_bytes,
        max_url_bytes=limits.max_url_bytes,
    )
    app.add_middleware(TimeoutMiddleware, seconds=limits.request_timeout)
    app.add_middleware(metrics.MetricsMiddleware)  # outermost: counts every answer
    _error_handlers(app)
    for module in (health, movies, users, recommendations, runs, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    log.info(
        "serving model %s version %s (data %s)",
        model.name,
        serving.version,
        model.data_.fingerprint(),
    )
    return app


WORKER_HEALTHCHECK = 60
"""Seconds uvicorn's supervisor waits for a worker's answer before it kills the worker as
hung. Its default (5 s) kills workers that are still loading the model and compiling its
kernels on a busy machine (they then restart in a loop) and workers whose answering
thread waits for the GIL behind long model calls."""

_THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded_kernels() -> None:
    """One thread per numba/BLAS kernel in this process and in worker processes it starts.

    A server parallelises across requests (``--workers``); per-request thread teams only
    oversubscribe the cores (and OpenBLAS threads spin), so they are capped at one unless
    the environment already sets them.
    """
    for var in _THREAD_VARS:
        os.environ.setdefault(var, "1")
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]))
    if "numba" in sys.modules:
        import numba

        available = int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))
        numba.set_num_threads(min(int(os.environ["NUMBA_NUM_THREADS"]), available))


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory movierec.api.app:app_from_env`` (worker processes).

    Reads ``MOVIEREC_HOME``, ``MOVIEREC_DB_URL`` and ``MOVIEREC_MODEL_PATH`` (optional).
    """
    return create_app(model_path=os.environ.get("MOVIEREC_MODEL_PATH") or None)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    home: str | Path | None = None,
    model_path: str | Path | None = None,
    db_url: str | None = None,
    workers: int = 1,
    log_level: str = "warning",
    access_log: bool = False,
    json_logs: bool = False,
    announce: Callable[[], None] | None = None,
) -> None:
    """Run the app under uvicorn until interrupted (what ``movierec serve`` calls).

    The model is loaded (and the store opened) before anything listens: a missing or
    damaged model file raises here. ``announce`` is called once that has worked. With
    ``workers > 1`` uvicorn starts that many processes, each loading the model once and
    following the production pointer on its own; their metrics go to a fresh
    ``PROMETHEUS_MULTIPROC_DIR`` so ``/metrics`` adds them up. Kernels run single-threaded
    (:func:`single_threaded_kernels`). Connections: request headers within 10 s
    (:mod:`movierec.api.protocol`), idle keep-alive 5 s (:class:`Limits`).

    Args:
        log_level: ``critical|error|warning|info|debug`` (uvicorn's and movierec's loggers).
        access_log: one line per request (uvicorn's access log).
        json_logs: every log line as one JSON object (:mod:`movierec.api.logs`).
    """
    import uvicorn

    single_threaded_kernels()
    limits = Limits()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": None,  # the levels are in log_config (uvicorn would reset access's)
        "access_log": access_log,
        "log_config": log_config(log_level, json_logs, access_log),
        "http": GuardedHttpProtocol,
        "timeout_keep_alive": limits.keep_alive,
    }
    if workers <= 1:
        logging.config.dictConfig(options["log_config"])
        app = create_app(home=home, model_path=model_path, db_url=db_url, limits=limits)
        if announce is not None:
            announce()
        uvicorn.run(app, **options)
        return
    create_app(home=home, model_path=model_path, db_url=db_url, warm_up=False)  # fail fast
    if home is not None:
        os.environ["MOVIEREC_HOME"] = str(home)
    if db_url:
        os.environ["MOVIEREC_DB_URL"] = db_url
    if model_path:
        os.environ["MOVIEREC_MODEL_PATH"] = str(model_path)
    with tempfile.TemporaryDirectory(prefix="movierec-metrics-") as folder:
        os.environ.setdefault(metrics.MULTIPROC_ENV, folder)
        if announce is not None:
            announce()
        uvicorn.run(
            "movierec.api.app:app_from_env",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK,
            **options,
        )
