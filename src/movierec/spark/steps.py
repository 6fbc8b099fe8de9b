"""``--engine spark``: the engine-dependent pipeline steps on Apache Spark.

:class:`SparkEngine` implements :class:`movierec.engines.Engine`; download, convert and
ingest are the local steps (the flow runs them first), then:

1. **transform** validates the converted ratings, writes them as Parquet
   (``data/processed/ratings.parquet``, :data:`~movierec.data.releases.RATINGS_SCHEMA`) and
   filters them on Spark with the local semantics into ``ratings_clean.parquet``;
2. **train** fits ``pyspark.ml.recommendation.ALS`` (explicit ALS-WR, or implicit with
   ``-p implicit=true``), after an RMSE on a random hold-out (``-p holdout=0.2``, a second
   fit on the rest; 0 skips it). The factors are saved twice: as a Spark ``ALSModel``
   (``models/spark-als/``, for ranking on the cluster) and as a movierec model file
   (``models/recommender.npz``: ``als`` without biases or global mean for explicit ALS,
   ``ials`` for implicit; the same scores), so ``recommend``, ``serve`` and fold-in for new
   users work as after a local run;
3. **rank_all** ranks every user on Spark (exact, seen movies excluded) and explains the
   lists with the one explanation chain (:class:`movierec.explain.Explainer`) over the
   exported model.

External MovieLens ids throughout. On a cluster (``--spark-master spark://host:7077``)
the working directory must be on a file system the executors can read.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from movierec.engines import RankedRun, TransformOutput
from movierec.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from movierec.config import Layout
    from movierec.models.base import Recommender
    from movierec.pipeline_config import PipelineConfig
    from movierec.spark.engine import ALSParams
    from movierec.topn import Recommendation

log = logging.getLogger("movierec")

SPARK_ONLY = ("holdout",)
"""``-p`` options of the Spark engine that are not ALS hyperparameters."""


def als_params(overrides: dict[str, Any]) -> tuple[ALSParams, float]:
    """``(ALSParams, holdout)`` from ``-p`` options (``rank``, ``reg``, ..., ``holdout``).

    Raises:
        ConfigError: an unknown name or an invalid value.
    """
    from movierec.spark.engine import ALSParams

    options = dict(overrides)
    holdout = options.pop("holdout", 0.2)
    unknown = sorted(set(options) - set(ALSParams.__dataclass_fields__))
    if unknown:
        valid = ", ".join([*ALSParams.__dataclass_fields__, *SPARK_ONLY])
        raise ConfigError(f"spark als has no parameter {', '.join(unknown)}; valid: {valid}")
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 <= holdout < 1:
        raise ConfigError(f"holdout must be a number in [0, 1), got {holdout!r}")
    params = ALSParams(**options)
    params.validate()
    return params, float(holdout)


def run_name(params: ALSParams) -> str:
    """How a Spark run is named in the store: ``spark-ials`` or ``spark-als``."""
    return "spark-ials" if params.implicit else "spark-als"


def _meta_path(layout: Layout) -> Any:
    return layout.models_dir / "spark-als.json"


class SparkEngine:
    """The engine-dependent steps on Spark (see the module docstring)."""

    name = "spark"

    def _session(self, cfg: PipelineConfig) -> Any:
        from movierec.spark.engine import spark_session

        return spark_session(cfg.spark_master)

    def check(self, cfg: PipelineConfig) -> None:
        from movierec.extras import require

        require("spark", "pyspark", "the Spark engine")  # before any step runs
        als_params(cfg.model_params)

    def transform(self, cfg: PipelineConfig) -> TransformOutput:
        from movierec.data.ingest import ingest
        from movierec.data.releases import RATINGS_SCHEMA, write_parquet
        from movierec.spark import engine as E

        layout = cfg.layout
        ingested = ingest(layout)
        raw = layout.processed_dir / "ratings.parquet"
        raw.parent.mkdir(parents=True, exist_ok=True)
        frame = ingested.ratings[[c for c in RATINGS_SCHEMA.names if c in ingested.ratings]]
        if "timestamp" not in frame.columns:
            frame = frame.assign(timestamp=0)
        write_parquet(frame, raw, RATINGS_SCHEMA)
        spark = self._session(cfg)
        clean, summary = E.transform(
            E.read_ratings(spark, raw), cfg.min_user_ratings, cfg.min_item_ratings
        )
        out = layout.clean_ratings_parquet
        with E.quiet_pandas():
            write_parquet(clean.toPandas(), out, RATINGS_SCHEMA)
        clean.unpersist()
        return TransformOutput(str(summary), out)

    def train(self, cfg: PipelineConfig) -> str:
        from movierec.spark import engine as E

        params, holdout = als_params(cfg.model_params)
        layout = cfg.layout
        if not layout.clean_ratings_parquet.is_file():
            raise ModelError(
                f"no {layout.clean_ratings_parquet}; run the transform step with --engine spark"
            )
        t0 = time.perf_counter()
        spark = self._session(cfg)
        clean = E.read_ratings(spark, layout.clean_ratings_parquet).cache()
        lines = []
        metrics: dict[str, Any] = {}
        if holdout > 0:
            train, test = clean.randomSplit([1.0 - holdout, holdout], seed=params.seed)
            rmse, n_test = E.evaluate_rmse(E.train_als(train, params), test)
            metrics = {"rmse": rmse, "n_test": n_test, "holdout": holdout}
            lines.append(
                f"spark ALS hold-out RMSE {rmse:.4f} on {n_test:,} ratings ({holdout:.0%})"
            )
        model = E.train_als(clean, params)
        model.write().overwrite().save(str(layout.models_dir / "spark-als"))
        local = self._export(layout, params, model)
        metrics["data_fingerprint"] = local.data_.fingerprint()
        _meta_path(layout).write_text(
            json.dumps({"params": params.__dict__, "metrics": metrics}), encoding="utf-8"
        )
        clean.unpersist()
        lines.append(
            f"trained {run_name(params)} (rank {params.rank}, {params.iterations} iterations) "
            f"on {local.data_.nnz:,} ratings on {spark.sparkContext.master} in "
            f"{time.perf_counter() - t0:.1f} s -> {layout.model_path} (as {local.name})"
        )
        return "\n".join(lines)

    def _export(self, layout: Layout, params: ALSParams, als: Any) -> Recommender:
        """The Spark factors as a movierec model, saved to ``models/recommender.npz``."""
        import pandas as pd

        from movierec.interactions import Interactions
        from movierec.models.registry import make_model
        from movierec.spark import engine as E
        from movierec.training import load_catalog

        data = Interactions.from_frame(pd.read_parquet(layout.clean_ratings_parquet))
        user_ids, U, item_ids, V = E.factors(als)
        users = np.zeros((data.n_users, params.rank), np.float32)
        items = np.zeros((data.n_items, params.rank), np.float32)
        users[data.users.index(user_ids)] = U
        items[data.items.index(item_ids)] = V
        common = {"factors": params.rank, "reg": params.reg, "iterations": params.iterations}
        if params.implicit:
            model = make_model("ials", alpha=params.alpha, binarize=False, **common)
            model.user_factors_, model.item_factors_ = users, items
            model.cold_items_ = np.bincount(data.matrix.indices, minlength=data.n_items) == 0
        else:
            model = make_model("als", biases=False, global_mean=False, **common)
            model.mu_ = 0.0  # Spark's ALS has no global mean: r̂ = xᵀy
            model.user_bias_, model.item_bias_ = np.zeros(data.n_users), np.zeros(data.n_items)
            model.user_factors_, model.item_factors_ = users.astype(float), items.astype(float)
        model.data_, model.items_catalog_ = data, load_catalog(layout)
        model.save(layout.model_path)
        return model

    def is_trained(self, cfg: PipelineConfig) -> bool:
        return False  # Spark fits are not deterministic across partitionings: always refit

    def _model(self, cfg: PipelineConfig, model: Recommender | None) -> Recommender:
        from movierec.training import load_trained

        return model if model is not None else load_trained(cfg.layout, check_data=False)

    def rank_all(self, cfg: PipelineConfig, n: int, model: Any = None) -> RankedRun:
        from pyspark.ml.recommendation import ALSModel

        from movierec.explain import Explainer
        from movierec.spark import engine as E
        from movierec.store import RunMeta

        layout = cfg.layout
        local = self._model(cfg, model)
        try:
            saved = json.loads(_meta_path(layout).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise ModelError(f"no Spark model in {layout.models_dir}; run the train step") from None
        spark = self._session(cfg)
        als = ALSModel.load(str(layout.models_dir / "spark-als"))
        seen = E.read_ratings(spark, layout.clean_ratings_parquet)
        frame = Explainer(local).frame(E.recommend_all(als, n, seen=seen))
        params = {**saved["params"], "engine": "spark", "n": n}
        metrics = {k: v for k, v in saved["metrics"].items() if k != "data_fingerprint"}
        name = "spark-ials" if params.get("implicit") else "spark-als"
        meta = RunMeta(name, params, local.data_.fingerprint())
        return RankedRun(frame, meta, local.items_catalog_, metrics)

    def recommend(self, cfg: PipelineConfig, model: Any = None) -> list[Recommendation]:
        from movierec.topn import TopN

        return TopN(self._model(cfg, model)).for_user(cfg.user, cfg.n)
