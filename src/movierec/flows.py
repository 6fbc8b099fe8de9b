"""The Prefect 3 flow: the pipeline's steps (:mod:`movierec.steps`) run as tasks.

Every task is a one-line wrapper around a step function of one :class:`PipelineConfig`:

* ``download`` is the only task with retries (and only on transient network errors);
* ``convert`` and ``transform`` are cached on the SHA-256 of their input files and their
  parameters, so an unchanged rerun skips them; a missing or overwritten output forces a
  rerun;
* ``train`` is skipped when the saved model is what training would produce now;
* every user's top-N is written to the store as one run, and the chosen user's
  recommendations are published as a Prefect table artifact.

The config is the flow's one parameter; its database URL is a secret, stored masked in
Prefect's flow-run record. A :class:`~movierec.errors.MovieRecError` (bad input, no
network, ...) ends the run with the same one-line error as the plain step: its traceback
is kept out of the terminal (:func:`quiet_expected_errors`) but stays in Prefect's run
record and ``logs/runs.jsonl``.
"""

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# no telemetry from the ephemeral server: this runs offline, and must not phone home
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, task  # noqa: E402
from prefect.artifacts import create_table_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.context import TaskRunContext  # noqa: E402

from movierec import __version__, retrain, steps  # noqa: E402
from movierec.errors import ConfigError, MovieRecError  # noqa: E402
from movierec.pipeline_config import PipelineConfig  # noqa: E402
from movierec.steps import PipelineResult  # noqa: E402
from movierec.topn import Recommendation  # noqa: E402


def file_digest(paths: list[Path]) -> str:
    """SHA-256 over the contents of ``paths`` (in order); a missing file hashes as its name."""
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.name).encode())
        if path.is_file():
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        else:
            h.update(b"<missing>")
    return h.hexdigest()


def _convert_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    from movierec.data.datasets import get_dataset

    cfg: PipelineConfig = parameters["cfg"]
    folder = cfg.layout.dataset_dir
    inputs = [folder / name for name in get_dataset(cfg.dataset).required_files]
    return f"convert-{__version__}-{cfg.dataset}-" + file_digest(inputs)


def _transform_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    cfg: PipelineConfig = parameters["cfg"]
    digest = file_digest([cfg.layout.ratings_csv, cfg.layout.movies_csv])
    thresholds = f"{cfg.min_user_ratings}-{cfg.min_item_ratings}"
    return f"transform-{__version__}-{cfg.engine}-{digest}-{thresholds}"


def _retry_download(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only on transient network trouble, not offline, a bad archive or a checksum."""
    from movierec.data.download import TransientDownloadError

    try:
        state.result()
    except TransientDownloadError:
        return True
    except Exception:
        return False
    return False


@task(name="download", retry_delay_seconds=[2, 10], retry_condition_fn=_retry_download)
def download_task(cfg: PipelineConfig) -> str:
    return str(steps.download(cfg, retries=0))


@task(name="convert", cache_key_fn=_convert_key, persist_result=True)
def convert_task(cfg: PipelineConfig) -> dict[str, Any]:
    outputs = list(steps.convert(cfg))
    return {"summary": f"wrote {', '.join(map(str, outputs))}", "digest": file_digest(outputs)}


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_task(cfg: PipelineConfig) -> str:
    return str(steps.ingest(cfg))


@task(name="transform", cache_key_fn=_transform_key, persist_result=True)
def transform_task(cfg: PipelineConfig) -> dict[str, Any]:
    out = steps.transform(cfg)
    return {"summary": out.summary, "digest": file_digest([out.path])}


@task(name="train", cache_policy=NO_CACHE)
def train_task(cfg: PipelineConfig) -> str:
    return str(steps.train(cfg))


@task(name="store", cache_policy=NO_CACHE)
def store_task(cfg: PipelineConfig) -> str:
    return str(steps.store(cfg))


@task(name="recommend", cache_policy=NO_CACHE)
def recommend_task(cfg: PipelineConfig) -> list[Recommendation]:
    recs = steps.recommend(cfg)
    create_table_artifact(
        key=f"recommendations-user-{cfg.user}",
        table=[
            {
                "rank": r.rank,
                "movieId": r.movie_id,
                "title": r.title,
                "year": r.year,
                "genres": r.genres,
                "reason": r.explanation,
            }
            for r in recs
        ],  # fmt: skip
        description=f"Top-{cfg.n} movies for user {cfg.user}",
    )
    return recs


def _run_cached(task_fn: Any, outputs: list[Path], cfg: PipelineConfig) -> tuple[str, bool]:
    """Run a cached task; return ``(summary, skipped)``.

    A cached result counts only if the task's outputs on disk are still byte-for-byte what
    that cached run wrote (the task returns their digest): a missing or since-overwritten
    output (e.g. by a run with other thresholds) forces the task to run again.
    """
    refresh = not all(p.is_file() for p in outputs)
    state = task_fn.with_options(refresh_cache=refresh)(cfg, return_state=True)
    result = state.result()
    stale = not isinstance(result, dict) or result.get("digest") != file_digest(outputs)
    if state.name == "Cached" and stale:
        state = task_fn.with_options(refresh_cache=True)(cfg, return_state=True)
        result = state.result()
    return result["summary"], state.name == "Cached"


@flow(name="movierec-pipeline", log_prints=False)
def movierec_pipeline(cfg: PipelineConfig) -> PipelineResult:
    """download -> convert -> ingest -> transform -> train -> store -> recommend, each step
    a task (:func:`movierec.steps.pipeline` is the one composition)."""
    layout = cfg.layout
    clean = layout.clean_ratings_csv if cfg.engine == "local" else layout.clean_ratings_parquet
    calls: dict[str, steps.StepCall] = {
        "download": lambda c: (download_task.with_options(retries=c.download_retries)(c), False),
        "convert": lambda c: _run_cached(convert_task, [layout.ratings_csv, layout.movies_csv], c),
        "ingest": lambda c: (ingest_task(c), False),
        "transform": lambda c: _run_cached(transform_task, [clean], c),
        "train": lambda c: (train_task(c), False),
        "store": lambda c: (store_task(c), False),
    }
    return steps.pipeline(cfg, calls, recommend_with=recommend_task)


def _expected_names() -> tuple[str, ...]:
    """Class names of every :class:`MovieRecError` (as Prefect prints them in states)."""
    names, todo = [], [MovieRecError]
    while todo:
        cls = todo.pop()
        names.append(cls.__name__)
        todo += cls.__subclasses__()
    return tuple(names)


class _ExpectedErrorFilter(logging.Filter):
    """Drops the log records about an expected error (the CLI prints it in one line): those
    carrying a :class:`MovieRecError`, and Prefect's "Finished in state Failed(...)" lines
    naming one."""

    def __init__(self) -> None:
        super().__init__()
        self.names = _expected_names()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, MovieRecError):
            return False
        if record.name.startswith("prefect") and "Failed(" in str(record.msg):
            text = record.getMessage()
            return not any(f"{name}:" in text or f"{name}(" in text for name in self.names)
        return True


@contextmanager
def quiet_expected_errors() -> Iterator[None]:
    """Keep expected errors off the terminal while a flow runs.

    The filter sits on every terminal handler (the root logger's and Prefect's console
    handlers); Prefect's API log handler (the run record) still receives everything.
    """
    from prefect.logging.handlers import APILogHandler

    filt = _ExpectedErrorFilter()
    names = [n for n in list(logging.root.manager.loggerDict) if n.startswith("prefect")]
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in names)]
    handlers = {
        h for lg in loggers for h in getattr(lg, "handlers", []) if not isinstance(h, APILogHandler)
    }
    for h in handlers:
        h.addFilter(filt)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(filt)


def run_pipeline(cfg: PipelineConfig) -> PipelineResult:
    """Run the flow once with ``cfg`` (expected errors re-raised, without console noise).

    The config is checked first, so a bad model or parameter fails before Prefect starts.
    """
    steps.check(cfg)
    with quiet_expected_errors():
        return movierec_pipeline(cfg)


def serve_pipeline(cfg: PipelineConfig, cron: str) -> None:
    """Serve the flow on a cron schedule (blocks until interrupted); the deployment stores
    :func:`deployment_parameters` (no database URL)."""
    check_cron(cron)
    if cfg.database_url:
        os.environ["MOVIEREC_DB_URL"] = cfg.database_url
    movierec_pipeline.serve(
        name="movierec-pipeline", cron=cron, parameters=deployment_parameters(cfg)
    )


# ---------------------------------------------------------------------------------- retrain
_RETRAIN_TASKS = {
    stage: task(name=stage.__name__.replace("_", "-"), cache_policy=NO_CACHE)(stage)
    for stage in retrain.STAGES
}
"""One task per retrain stage: each is the plain stage function (:mod:`movierec.retrain`)."""


def _as_task(stage: Any, *args: Any) -> Any:
    return _RETRAIN_TASKS[stage](*args)


@flow(name="movierec-retrain", log_prints=False)
def movierec_retrain(cfg: PipelineConfig) -> retrain.RetrainResult:
    """read store -> hold-out -> compare with production -> fit -> register -> promote ->
    store -> track (:func:`movierec.retrain.retrain`, each stage a task)."""
    return retrain.retrain(cfg, call=_as_task)


def run_retrain(cfg: PipelineConfig) -> retrain.RetrainResult:
    """Run the retrain flow once (expected errors re-raised, without console noise)."""
    steps.check(cfg)
    with quiet_expected_errors():
        return movierec_retrain(cfg)


def deployment_parameters(cfg: PipelineConfig) -> dict[str, Any]:
    """``cfg`` as a deployment's stored parameters: JSON, the home made absolute, and no
    database URL (a secret is never stored in Prefect; the runs read ``MOVIEREC_DB_URL``
    from the serving process's environment, which :func:`serve_retrain` sets)."""
    data = cfg.model_dump(mode="json")
    data["home"] = str(Path(cfg.home).resolve())
    data["db_url"] = None
    return {"cfg": data}


def check_cron(cron: str) -> None:
    """:class:`ConfigError` for a cron expression Prefect would refuse."""
    try:
        from prefect.client.schemas.schedules import CronSchedule

        CronSchedule(cron=cron)
    except Exception as exc:
        raise ConfigError(f"invalid --cron expression {cron!r}: {exc}") from None


def serve_retrain(cfg: PipelineConfig, cron: str) -> None:
    """Serve the retrain flow as the deployment ``movierec-retrain/movierec-retrain`` on a
    cron schedule (blocks until interrupted; Prefect's API must be configured:
    :func:`movierec.prefect_server.command_server`)."""
    from prefect.deployments.runner import EntrypointType

    check_cron(cron)
    if cfg.database_url:
        os.environ["MOVIEREC_DB_URL"] = cfg.database_url
    movierec_retrain.serve(
        name="movierec-retrain",
        cron=cron,
        parameters=deployment_parameters(cfg),
        entrypoint_type=EntrypointType.MODULE_PATH,
        print_starting_message=False,
    )
