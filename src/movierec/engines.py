"""Compute engines: where transform -> train -> rank everyone -> recommend run.

:class:`Engine` is the interface the pipeline steps (:mod:`movierec.steps`) call;
:class:`LocalEngine` runs in this process (numpy/scipy/numba/``implicit``), and the Spark
engine (:class:`movierec.spark.steps.SparkEngine`, ``pip install 'movierec[spark]'``) runs
the same steps on Apache Spark. Both keep their state on disk under the working directory,
so every step can run alone (a CLI command, a Prefect task) and a pipeline can resume.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from movierec.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from movierec.data.transform import TransformResult
    from movierec.interactions import ItemCatalog
    from movierec.models.base import Recommender
    from movierec.pipeline_config import PipelineConfig
    from movierec.store import RunMeta
    from movierec.topn import Recommendation


@dataclass
class RankedRun:
    """Every user's top-N, ready for the store.

    Attributes:
        frame: long frame ``userId, rank, movieId, score, explanation`` (external ids).
        meta: what produced it (model name, parameters, data fingerprint).
        catalog: the movies to upsert with it (titles, years, genres).
        metrics: figures to keep with the run (e.g. a hold-out RMSE).
    """

    frame: pd.DataFrame
    meta: RunMeta
    catalog: ItemCatalog | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    """The engine-dependent steps of the pipeline (see the module docstring)."""

    name: str

    def check(self, cfg: PipelineConfig) -> None:
        """Raise :class:`ConfigError` for a model or parameters this engine cannot train."""

    def transform(self, cfg: PipelineConfig) -> TransformOutput:
        """Filter the converted ratings and write them under ``data/processed/``."""

    def train(self, cfg: PipelineConfig) -> Any:
        """Fit and save the model; the result's ``str()`` is the summary."""

    def is_trained(self, cfg: PipelineConfig) -> bool:
        """True when the saved model is what :meth:`train` would produce now."""

    def rank_all(self, cfg: PipelineConfig, n: int, model: Any = None) -> RankedRun:
        """Every user's explained top-``n``."""

    def recommend(self, cfg: PipelineConfig, model: Any = None) -> list[Recommendation]:
        """``cfg.user``'s explained top-``cfg.n``."""


@dataclass(frozen=True)
class TransformOutput:
    """What an engine's transform wrote.

    Attributes:
        summary: before -> after counts, printable.
        path: the filtered ratings it wrote (``ratings_clean.csv`` or ``.parquet``).
        result: the local filter's full result (``None`` on Spark).
    """

    summary: str
    path: Path
    result: TransformResult | None = None

    def __str__(self) -> str:
        return f"{self.summary}\nwrote {self.path}"


class LocalEngine:
    """The pipeline in this process; the model is ``models/recommender.npz``."""

    name = "local"

    def check(self, cfg: PipelineConfig) -> None:
        from movierec.models.registry import make_model

        make_model(cfg.model, **cfg.model_params).validate()

    def transform(self, cfg: PipelineConfig) -> TransformOutput:
        from movierec.data.ingest import ingest
        from movierec.data.transform import transform, write_clean

        if cfg.from_store:
            from movierec.store import resolve_db_url
            from movierec.store.ratings import store_ratings

            ratings = store_ratings(resolve_db_url(cfg.database_url, cfg.home))
        else:
            ratings = ingest(cfg.layout).ratings
        result = transform(ratings, cfg.min_user_ratings, cfg.min_item_ratings)
        path = write_clean(result.frame, cfg.layout)
        return TransformOutput(str(result.summary), path, result)

    def train(self, cfg: PipelineConfig) -> Any:
        from movierec.training import fit_model

        return fit_model(cfg.layout, cfg.model, cfg.model_params)

    def is_trained(self, cfg: PipelineConfig) -> bool:
        from movierec.training import trained_model_is_current

        return trained_model_is_current(cfg.layout, cfg.model, cfg.model_params)

    def _model(self, cfg: PipelineConfig, model: Recommender | None) -> Recommender:
        from movierec.training import load_trained

        return model if model is not None else load_trained(cfg.layout)

    def rank_all(self, cfg: PipelineConfig, n: int, model: Recommender | None = None) -> RankedRun:
        from movierec.store import RunMeta
        from movierec.topn import TopN

        model = self._model(cfg, model)
        frame = TopN(model).for_all(n)
        return RankedRun(frame, RunMeta.of(model, n=n), model.items_catalog_)

    def recommend(
        self, cfg: PipelineConfig, model: Recommender | None = None
    ) -> list[Recommendation]:
        from movierec.topn import TopN

        return TopN(self._model(cfg, model)).for_user(cfg.user, cfg.n)


ENGINES: dict[str, str] = {
    "local": "movierec.engines:LocalEngine",
    "spark": "movierec.spark.steps:SparkEngine",
}
"""Engine name -> ``"module:Class"``; a module is imported only when its engine is used."""


def engine_for(name: str) -> Engine:
    """A new engine of kind ``name`` (``local`` or ``spark``).

    Raises:
        ConfigError: an unknown name.
    """
    try:
        module, _, cls = ENGINES[name].partition(":")
    except KeyError:
        raise ConfigError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}") from None
    engine: Engine = getattr(importlib.import_module(module), cls)()
    return engine
