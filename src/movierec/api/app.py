"""The FastAPI application factory (``movierec serve`` runs it under uvicorn).

The model is loaded once, when the app is created; the store is opened then too (an
incompatible schema or unreachable server fails fast with a :class:`StoreError`). The API is
read-only: nothing a client sends is stored.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from movierec import __version__
from movierec.api.middleware import BodyLimitMiddleware
from movierec.api.routes import health, movies, pages, recommendations, runs, users
from movierec.api.service import FieldError, Serving
from movierec.config import Layout, Settings, get_settings
from movierec.errors import MovieRecError
from movierec.models import Recommender, load_model
from movierec.store.engine import make_engine, resolve_db_url

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
MAX_BODY_BYTES = 1_048_576


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FieldError)
    async def field_error(_: Request, exc: FieldError) -> JSONResponse:
        body = {"detail": [{"loc": exc.loc, "msg": exc.msg, "type": "value_error"}]}
        return JSONResponse(body, status_code=exc.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        phrase = HTTPStatus(exc.status_code).phrase.replace(" ", "")
        body = {"detail": str(exc.detail), "error": phrase}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(MovieRecError)
    async def movierec_error(_: Request, exc: MovieRecError) -> JSONResponse:
        body = {"detail": str(exc), "error": type(exc).__name__}
        return JSONResponse(body, status_code=exc.http_status)


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

    Raises:
        ModelError: no (compatible) model file. StoreError: unusable store.
    """
    settings = settings or get_settings()
    layout = Layout(Path(home) if home is not None else settings.home, settings.dataset)
    if model is None:
        model = load_model(Path(model_path) if model_path else layout.model_path)
    engine = None
    if use_store:
        engine = make_engine(resolve_db_url(db_url or settings.db_url, layout.home))
    try:
        serving = Serving(model, engine, Path(reports_dir) if reports_dir else layout.reports_dir)
        if warm_up:
            serving.warm_up()
    except BaseException:
        if engine is not None:
            engine.dispose()
        raise

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if engine is not None:
            engine.dispose()

    app = FastAPI(
        title="movierec",
        version=__version__,
        description="Movie recommendations on MovieLens: stored runs, new users, explanations.",
        lifespan=lifespan,
    )
    app.state.serving = serving
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    _error_handlers(app)
    for module in (health, movies, users, recommendations, runs, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    log.info("serving model %s (data %s)", model.name, model.data_.fingerprint())
    return app


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
) -> None:
    """Run the app under uvicorn until interrupted (what ``movierec serve`` calls).

    With ``workers > 1`` uvicorn starts that many processes, each loading the model once.
    Kernels run single-threaded (:func:`single_threaded_kernels`).
    """
    import uvicorn

    single_threaded_kernels()

    if workers <= 1:
        app = create_app(home=home, model_path=model_path, db_url=db_url)
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    create_app(home=home, model_path=model_path, db_url=db_url, warm_up=False)  # fail fast
    if home is not None:
        os.environ["MOVIEREC_HOME"] = str(home)
    if db_url:
        os.environ["MOVIEREC_DB_URL"] = db_url
    if model_path:
        os.environ["MOVIEREC_MODEL_PATH"] = str(model_path)
    uvicorn.run(
        "movierec.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )
