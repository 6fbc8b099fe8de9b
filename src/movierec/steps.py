"""The pipeline's seven steps as plain functions of one :class:`PipelineConfig`.

``download -> convert -> ingest -> transform -> train -> store -> recommend``

This is the one composition of the pipeline: the CLI commands call these functions, and
the Prefect tasks (:mod:`movierec.flows`) are one-line wrappers around them. The steps that
depend on the compute engine (transform, train, rank everyone, recommend) go through the
:class:`~movierec.engines.Engine` that ``cfg.engine`` names (local numpy/scipy, or Spark).
Each step returns a value whose ``str()`` is what the CLI prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movierec import threads
from movierec.engines import Engine, engine_for
from movierec.pipeline_config import PipelineConfig, model_for_size

if TYPE_CHECKING:  # heavy modules load only when a step runs
    from movierec.data.ingest import IngestResult
    from movierec.models.base import Recommender
    from movierec.topn import Recommendation

log = logging.getLogger("movierec")


def check(cfg: PipelineConfig) -> None:
    """Fail fast, before any work, on a model or parameters the engine cannot train."""
    engine(cfg).check(cfg)


def download(cfg: PipelineConfig, *, retries: int | None = None) -> Path:
    """Fetch and verify the release into ``data/raw/<dataset>/`` (see
    :func:`movierec.data.download.download`); ``retries`` overrides the setting (the flow
    retries the whole task instead)."""
    from movierec.data.download import download as fetch

    return fetch(
        cfg.layout,
        cfg.source,
        timeout=cfg.download_timeout,
        retries=cfg.download_retries if retries is None else retries,
    )


def convert(cfg: PipelineConfig) -> tuple[Path, Path]:
    """Release files -> ``data/raw/ratings.csv`` and ``movies.csv``."""
    from movierec.data.convert import convert as run

    return run(cfg.layout)


def ingest(cfg: PipelineConfig) -> IngestResult:
    """Load and validate the converted files."""
    from movierec.data.ingest import ingest as run

    return run(cfg.layout)


def import_ratings(cfg: PipelineConfig) -> Any:
    """Load the converted ratings, their users and the catalogue into the store (bulk,
    idempotent; see :func:`movierec.store.ratings.import_ratings`)."""
    from movierec.data.ingest import ingest as load
    from movierec.interactions import ItemCatalog
    from movierec.store import ensure_schema, make_engine, resolve_db_url
    from movierec.store import import_ratings as write

    data = load(cfg.layout)
    store = make_engine(resolve_db_url(cfg.database_url, cfg.home))
    try:
        ensure_schema(store)
        return write(store, data.ratings, ItemCatalog.from_frame(data.movies))
    finally:
        store.dispose()


def transform(cfg: PipelineConfig) -> Any:
    """Drop sparse users, then sparse movies (the engine's transform); with
    ``cfg.from_store`` the ratings come from the store instead of ``data/raw/ratings.csv``."""
    from movierec.errors import ConfigError

    if cfg.from_store and cfg.engine != "local":
        raise ConfigError("--from-store works with the local engine only")
    return engine(cfg).transform(cfg)


def choose_model(cfg: PipelineConfig) -> tuple[PipelineConfig, str | None]:
    """The config to train with: the default model switches to a scalable one above a
    stated size (:func:`movierec.pipeline_config.model_for_size`, the one home of that
    rule), counted on the cleaned ratings. Returns ``(config, note)``; the note is one line
    (``None`` when nothing changed)."""
    if cfg.model_chosen or cfg.engine != "local":
        return cfg, None
    return model_for_size(cfg, count_rows(cfg.layout.clean_ratings_csv))


def count_rows(csv: Path) -> int:
    """Data rows of a CSV file with a header line (0 when it does not exist)."""
    if not csv.is_file():
        return 0
    lines, last = 0, b"\n"
    with csv.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(0, lines + (last != b"\n") - 1)


def train(cfg: PipelineConfig) -> Any:
    """Fit the configured model on the cleaned ratings and save it (the engine's train);
    the run is tracked (:mod:`movierec.tracking`); at most ``cfg.threads`` threads (0: every
    core)."""
    with threads.limit(cfg.threads):
        result = engine(cfg).train(cfg)
    track_training(cfg, result)
    return result


def track_training(cfg: PipelineConfig, result: Any) -> str | None:
    """Record a ``train`` in MLflow: model, parameters, filters, data fingerprint, fit time
    and sizes, and the model file (whatever of these the engine's result carries)."""
    from movierec import tracking

    path = getattr(result, "path", None)
    sizes = ("seconds", "n_users", "n_items", "n_ratings")
    return tracking.record(
        "train",
        cfg.layout,
        params={
            "model": cfg.model,
            "engine": cfg.engine,
            "params": getattr(result, "params", None) or cfg.model_params,
            "min_user_ratings": cfg.min_user_ratings,
            "min_item_ratings": cfg.min_item_ratings,
        },
        metrics={name: getattr(result, name) for name in sizes if hasattr(result, name)},
        data_fingerprint=getattr(result, "fingerprint", ""),
        artifacts=[(Path(path), "model")] if path else [],
    )


def is_trained(cfg: PipelineConfig) -> bool:
    """True when the saved model is what :func:`train` would produce now (skip it)."""
    return engine(cfg).is_trained(cfg)


@dataclass(frozen=True)
class StoreResult:
    """What :func:`store` wrote."""

    run_id: int
    n: int
    n_rows: int
    threads: int = 1

    def __str__(self) -> str:
        return (
            f"stored run {self.run_id}: top-{self.n} for every user ({self.n_rows:,} rows) "
            f"on {self.threads} thread{'s' if self.threads != 1 else ''}"
        )


def store(
    cfg: PipelineConfig, model: Recommender | None = None, model_version: int | None = None
) -> StoreResult:
    """Write every user's top-``store_n``, explained, into the store as one current run.

    The run is written in one transaction and becomes current only once complete (see
    :func:`movierec.store.writer.write_run`); ``model_version`` is the registered version
    ``model`` is (``movierec retrain``), recorded with the run.
    """
    from dataclasses import replace

    from movierec.store import resolve_db_url, write_run
    from movierec.topn import check_n

    n = check_n(cfg.store_n)
    with threads.limit(cfg.threads) as used:
        ranked = engine(cfg).rank_all(cfg, n, model=model)
    meta = replace(ranked.meta, model_version=model_version)
    url = resolve_db_url(cfg.database_url, cfg.home)
    run_id = write_run(url, meta, ranked.frame, ranked.metrics, catalog=ranked.catalog)
    log.info("stored run %d: %d recommendations", run_id, len(ranked.frame))
    return StoreResult(run_id, n, len(ranked.frame), used)


def recommend(cfg: PipelineConfig, model: Recommender | None = None) -> list[Recommendation]:
    """Top-``cfg.n`` explained recommendations for ``cfg.user`` from the trained model."""
    return engine(cfg).recommend(cfg, model=model)


@dataclass
class PipelineResult:
    """What a whole pipeline run returns: a printable summary and the recommendations.

    Attributes:
        summary: one line (or a few) per step.
        recommendations: ``cfg.user``'s top-``cfg.n``.
        cached_steps: steps skipped because their output was already what they would write.
        model: the model trained (the configured one, or the default for the data's size).
        note: why the model differs from the configured default (:func:`choose_model`).
    """

    summary: str
    recommendations: list[Recommendation]
    cached_steps: list[str]
    model: str = ""
    note: str | None = None


StepCall = Callable[[PipelineConfig], tuple[str, bool]]
"""How a composition runs one step: ``cfg -> (summary line, skipped from a cache)``."""

DIRECT: dict[str, StepCall] = {
    "download": lambda cfg: (str(download(cfg)), False),
    "convert": lambda cfg: (" and ".join(map(str, convert(cfg))), False),
    "ingest": lambda cfg: (str(ingest(cfg)), False),
    "transform": lambda cfg: (transform(cfg).summary, False),
    "train": lambda cfg: (str(train(cfg)), False),
    "store": lambda cfg: (str(store(cfg)), False),
}
"""Each step called in this process."""


def pipeline(
    cfg: PipelineConfig,
    calls: Mapping[str, StepCall] | None = None,
    recommend_with: Callable[[PipelineConfig], list[Recommendation]] | None = None,
) -> PipelineResult:
    """The one composition of the seven steps, in order.

    ``movierec pipeline`` without Prefect calls the steps directly; the Prefect flow
    (:func:`movierec.flows.movierec_pipeline`) passes ``calls`` and ``recommend_with`` that
    run each step as a task (with retries and caches). The default model is chosen for the
    data's size after transform (:func:`choose_model`); training is skipped when the saved
    model is what it would produce now.
    """
    run = {**DIRECT, **(calls or {})}
    check(cfg)
    run["download"](cfg)
    _, hit = run["convert"](cfg)
    cached = ["convert"] if hit else []
    lines = [run["ingest"](cfg)[0]]
    summary, hit = run["transform"](cfg)
    lines.append(summary)
    cached += ["transform"] if hit else []
    cfg, note = choose_model(cfg)
    if note:
        lines.append(note)
    if is_trained(cfg):
        cached.append("train")
        lines.append(f"model of {cfg.model} is current; training skipped")
    else:
        lines.append(run["train"](cfg)[0])
    if cfg.store_n > 0:
        lines.append(run["store"](cfg)[0])
    recs = (recommend_with or recommend)(cfg)
    text = "\n".join(lines)
    if cached:
        text += f"\n(cached, skipped: {', '.join(cached)})"
    return PipelineResult(text, recs, cached, cfg.model, note)


def engine(cfg: PipelineConfig) -> Engine:
    """The engine ``cfg.engine`` names."""
    return engine_for(cfg.engine)
