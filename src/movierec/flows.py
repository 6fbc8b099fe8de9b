"""The Prefect 3 flow: the pipeline's step functions run as tasks.

* ``download`` is the only task with retries (network I/O);
* ``convert`` and ``transform`` are cached on the fingerprint (SHA-256) of their input files
  and their parameters, so an unchanged rerun skips them; a missing output forces a rerun;
* every user's top-N is written to the store as one run (SQLite by default);
* the recommendations are published as a Prefect table artifact.

Runs without a Prefect server configured (Prefect's ephemeral mode):
``movierec pipeline`` or ``python -m movierec.flows``. ``movierec pipeline --cron "0 3 * * *"``
serves the flow on a schedule with ``flow.serve``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# no telemetry from the ephemeral server: this runs offline, and must not phone home
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, task  # noqa: E402
from prefect.artifacts import create_table_artifact  # noqa: E402
from prefect.context import TaskRunContext  # noqa: E402

from movierec import __version__  # noqa: E402
from movierec.config import Layout  # noqa: E402
from movierec.pipeline import trained_model_is_current  # noqa: E402
from movierec.recommend import Recommendation  # noqa: E402


@dataclass
class PipelineParams:
    """Every option of every step, as flow parameters."""

    home: str = "."
    source: str | None = None
    dataset: str = "ml-100k"
    user: int = 1
    n: int = 5
    model: str = "user-knn"
    model_params: dict[str, Any] = field(default_factory=dict)
    min_user_ratings: int = 5
    min_item_ratings: int = 20
    download_timeout: float = 60.0
    download_retries: int = 2
    store_n: int = 10
    db_url: str | None = None


@dataclass
class PipelineResult:
    """What the flow returns: a printable summary and the recommendations."""

    summary: str
    recommendations: list[Recommendation]
    cached_steps: list[str]


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


def _convert_inputs(layout: Layout) -> list[Path]:
    from movierec.data.datasets import get_dataset

    d = layout.dataset_dir
    return [d / name for name in get_dataset(layout.dataset).required_files]


def _convert_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    layout = Layout(Path(parameters["home"]), parameters.get("dataset", "ml-100k"))
    return f"convert-{__version__}-" + file_digest(_convert_inputs(layout))


def _transform_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    layout = Layout(Path(parameters["home"]))
    digest = file_digest([layout.ratings_csv, layout.movies_csv])
    thresholds = f"{parameters['min_user_ratings']}-{parameters['min_item_ratings']}"
    return f"transform-{__version__}-{digest}-{thresholds}"


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


@task(name="download", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_download)
def download_task(home: str, source: str | None, timeout: float, dataset: str = "ml-100k") -> str:
    from movierec.data.download import download

    return str(download(Layout(Path(home), dataset), source, timeout=timeout, retries=0))


@task(name="convert", cache_key_fn=_convert_key, persist_result=True)
def convert_task(home: str, dataset: str = "ml-100k") -> dict[str, Any]:
    from movierec.data.convert import convert

    outputs = list(convert(Layout(Path(home), dataset)))
    return {"summary": f"wrote {', '.join(map(str, outputs))}", "digest": file_digest(outputs)}


@task(name="ingest")
def ingest_task(home: str, dataset: str = "ml-100k") -> str:
    from movierec.data.ingest import ingest

    return str(ingest(Layout(Path(home), dataset)))


@task(name="transform", cache_key_fn=_transform_key, persist_result=True)
def transform_task(
    home: str, min_user_ratings: int, min_item_ratings: int, dataset: str = "ml-100k"
) -> dict[str, Any]:
    from movierec.data.ingest import ingest
    from movierec.data.transform import transform, write_clean

    layout = Layout(Path(home), dataset)
    result = transform(ingest(layout).ratings, min_user_ratings, min_item_ratings)
    path = write_clean(result.frame, layout)
    return {"summary": str(result.summary), "digest": file_digest([path])}


@task(name="train")
def train_task(
    home: str, model: str, model_params: dict[str, Any], dataset: str = "ml-100k"
) -> str:
    from movierec.pipeline import train

    return str(train(Layout(Path(home), dataset), model, model_params))


@task(name="store")
def store_task(home: str, db_url: str | None, n: int, dataset: str = "ml-100k") -> int:
    from movierec.pipeline import store

    return store(Layout(Path(home), dataset), db_url, n)


@task(name="recommend")
def recommend_task(home: str, user: int, n: int, dataset: str = "ml-100k") -> list[Recommendation]:
    from movierec.pipeline import recommend

    recs = recommend(Layout(Path(home), dataset), user, n)
    create_table_artifact(
        key=f"recommendations-user-{user}",
        table=[
            {
                "rank": r.rank,
                "movieId": r.movie_id,
                "title": r.title,
                "year": r.year,
                "genres": r.genres,
                "score": round(r.score, 4),
            }
            for r in recs
        ],
        description=f"Top-{n} movies for user {user}",
    )
    return recs


def _run_cached(task_fn: Any, outputs: list[Path], **kwargs: Any) -> tuple[str, bool]:
    """Run a cached task; return ``(summary, skipped)``.

    A cached result counts only if the task's outputs on disk are still byte-for-byte what
    that cached run wrote (the task returns their digest): a missing or since-overwritten
    output (e.g. by a run with other thresholds) forces the task to run again.
    """
    refresh = not all(p.is_file() for p in outputs)
    state = task_fn.with_options(refresh_cache=refresh)(return_state=True, **kwargs)
    result = state.result()
    stale = not isinstance(result, dict) or result.get("digest") != file_digest(outputs)
    if state.name == "Cached" and stale:
        state = task_fn.with_options(refresh_cache=True)(return_state=True, **kwargs)
        result = state.result()
    return result["summary"], state.name == "Cached"


@flow(name="movierec-pipeline", log_prints=False)
def movierec_pipeline(
    home: str = ".",
    source: str | None = None,
    dataset: str = "ml-100k",
    user: int = 1,
    n: int = 5,
    model: str = "user-knn",
    model_params: dict[str, Any] | None = None,
    min_user_ratings: int = 5,
    min_item_ratings: int = 20,
    download_timeout: float = 60.0,
    download_retries: int = 2,
    store_n: int = 10,
    db_url: str | None = None,
) -> PipelineResult:
    """download -> convert -> ingest -> transform -> train -> store -> recommend."""
    layout = Layout(Path(home), dataset)
    cached: list[str] = []
    download_task.with_options(retries=download_retries)(
        home, source, download_timeout, dataset=dataset
    )
    _, hit = _run_cached(
        convert_task, [layout.ratings_csv, layout.movies_csv], home=home, dataset=dataset
    )
    cached += ["convert"] if hit else []
    ingest_summary = ingest_task(home, dataset)
    transform_summary, hit = _run_cached(
        transform_task,
        [layout.clean_ratings_csv],
        home=home,
        min_user_ratings=min_user_ratings,
        min_item_ratings=min_item_ratings,
        dataset=dataset,
    )
    cached += ["transform"] if hit else []
    if trained_model_is_current(layout, model, model_params):
        cached.append("train")
        train_summary = f"model {layout.model_path} is current ({model}); training skipped"
    else:
        train_summary = train_task(home, model, model_params or {}, dataset)
    lines = [ingest_summary, transform_summary, train_summary]
    if store_n > 0:
        run_id = store_task(home, db_url, store_n, dataset)
        lines.append(f"stored run {run_id}: top-{store_n} for every user")
    recs = recommend_task(home, user, n, dataset)
    summary = "\n".join(lines)
    if cached:
        summary += f"\n(cached, skipped: {', '.join(cached)})"
    return PipelineResult(summary=summary, recommendations=recs, cached_steps=cached)


def run_pipeline(params: PipelineParams) -> PipelineResult:
    """Run the flow once with ``params``."""
    return movierec_pipeline(**asdict(params))


def serve_pipeline(params: PipelineParams, cron: str) -> None:
    """Serve the flow on a cron schedule (blocks until interrupted)."""
    from movierec.errors import ConfigError

    try:
        from prefect.client.schemas.schedules import CronSchedule

        CronSchedule(cron=cron)
    except Exception as exc:
        raise ConfigError(f"invalid --cron expression {cron!r}: {exc}") from None
    movierec_pipeline.serve(name="movierec-pipeline", cron=cron, parameters=asdict(params))


if __name__ == "__main__":  # pragma: no cover
    import sys

    from movierec.cli import main

    main(["pipeline", *sys.argv[1:]])
