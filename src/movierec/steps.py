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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movierec import threads
from movierec.engines import Engine, engine_for
from movierec.pipeline_config import PipelineConfig, model_for_size

if TYPE_CHECKING:  # heavy modules load only when a step runs
    from movierec.data.ingest import IngestResult
    from movierec.models.base import Recommender
    from movierec.recommend import Recommendation

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


def transform(cfg: PipelineConfig) -> Any:
    """Drop sparse users, then sparse movies (the engine's transform)."""
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
    """Fit the configured model on the cleaned ratings and save it (the engine's train),
    with at most ``cfg.threads`` threads (0: every core)."""
    with threads.limit(cfg.threads):
        return engine(cfg).train(cfg)


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


def store(cfg: PipelineConfig, model: Recommender | None = None) -> StoreResult:
    """Write every user's top-``store_n``, explained, into the store as one current run.

    The run is written in one transaction and becomes current only once complete (see
    :func:`movierec.store.writer.write_run`).
    """
    from movierec.recommend import check_n
    from movierec.store import resolve_db_url, write_run

    n = check_n(cfg.store_n)
    with threads.limit(cfg.threads) as used:
        ranked = engine(cfg).rank_all(cfg, n, model=model)
    url = resolve_db_url(cfg.database_url, cfg.home)
    run_id = write_run(url, ranked.meta, ranked.frame, ranked.metrics, catalog=ranked.catalog)
    log.info("stored run %d: %d recommendations", run_id, len(ranked.frame))
    return StoreResult(run_id, n, len(ranked.frame), used)


def recommend(cfg: PipelineConfig, model: Recommender | None = None) -> list[Recommendation]:
    """Top-``cfg.n`` explained recommendations for ``cfg.user`` from the trained model."""
    return engine(cfg).recommend(cfg, model=model)


def engine(cfg: PipelineConfig) -> Engine:
    """The engine ``cfg.engine`` names."""
    return engine_for(cfg.engine)
