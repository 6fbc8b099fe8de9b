"""``movierec pipeline --engine spark``: the data steps locally, the heavy steps on Spark.

1. download and convert run locally (as for the local engine), then ingest validates
   ``data/raw/ratings.csv`` / ``movies.csv`` against the dataset's rating scale;
2. the validated ratings are written as Parquet (``data/processed/ratings.parquet``,
   :data:`~movierec.data.releases.RATINGS_SCHEMA`), the format Spark reads;
3. on Spark (:mod:`movierec.spark.engine`): transform (same filters as the local step),
   optionally an RMSE on a random hold-out of the filtered ratings (a second ALS fit on the
   rest), the ALS fit on all filtered ratings, and the exact top-``n`` unseen movies for
   every user;
4. the recommendations go to the same store as a local run (model ``spark-als`` or
   ``spark-ials``), and the chosen user's top-``n`` are returned with titles.

External MovieLens ids throughout. On a cluster (``--spark-master spark://host:7077``)
the Parquet path must be readable by the executors (shared file system), and every executor
needs numpy/pandas/pyarrow and this package.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from movierec.config import Layout
from movierec.errors import ConfigError
from movierec.recommend import Recommendation

log = logging.getLogger("movierec")


@dataclass
class SparkPipelineResult:
    """What :func:`run_spark_pipeline` produced.

    Attributes:
        summary: printable lines (ingest, transform, training, RMSE, store).
        recommendations: the user's top-``n`` (empty if the user has no factors).
        rmse / n_test: hold-out RMSE over ``n_test`` warm pairs (``None`` / 0 when skipped).
        run_id: store run id (``None`` when ``store_n`` is 0).
        seconds: wall time of the Spark part.
    """

    summary: str
    recommendations: list[Recommendation] = field(default_factory=list)
    rmse: float | None = None
    n_test: int = 0
    run_id: int | None = None
    seconds: float = 0.0


def als_params(overrides: dict[str, Any]) -> Any:
    """:class:`~movierec.spark.engine.ALSParams` with ``overrides`` (``rank``, ``reg``, ...).

    Raises:
        ConfigError: an unknown name or an invalid value.
    """
    from movierec.spark.engine import ALSParams

    unknown = sorted(set(overrides) - set(ALSParams.__dataclass_fields__))
    if unknown:
        valid = ", ".join(ALSParams.__dataclass_fields__)
        raise ConfigError(f"spark als has no parameter {', '.join(unknown)}; valid: {valid}")
    params = ALSParams(**overrides)
    params.validate()
    return params


def write_ratings_parquet(layout: Layout) -> tuple[Path, Any]:
    """Ingest (validate) the converted CSVs and write ``data/processed/ratings.parquet``.

    Returns:
        ``(parquet path, IngestResult)``.
    """
    from movierec.data.ingest import ingest
    from movierec.data.releases import RATINGS_SCHEMA, write_parquet

    result = ingest(layout)
    path = layout.processed_dir / "ratings.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [c for c in RATINGS_SCHEMA.names if c in result.ratings.columns]
    frame = result.ratings[columns]
    if "timestamp" not in frame.columns:
        frame = frame.assign(timestamp=0)
    write_parquet(frame, path, RATINGS_SCHEMA)
    return path, result


def run_spark_pipeline(
    layout: Layout,
    *,
    source: str | None = None,
    spark_master: str | None = "local[*]",
    user: int = 1,
    n: int = 5,
    params: dict[str, Any] | None = None,
    min_user_ratings: int = 5,
    min_item_ratings: int = 20,
    holdout: float = 0.2,
    store_n: int = 10,
    db_url: str | None = None,
    download_timeout: float = 60.0,
    download_retries: int = 3,
    spark: Any = None,
) -> SparkPipelineResult:
    """download -> convert -> ingest -> Parquet -> Spark transform/ALS/RMSE/top-N -> store.

    Args:
        layout: working directory and dataset.
        source: dataset source as for ``movierec download`` (``None``: the registry URL).
        spark_master: ``local[*]``, ``spark://host:7077``, ...; ignored if ``spark`` given.
        user / n: whose top-``n`` to return.
        params: ALS hyperparameters (:func:`als_params`; ``implicit=True`` for iALS).
        min_user_ratings / min_item_ratings: transform filters.
        holdout: fraction of the filtered ratings held out for the RMSE (a second fit on
            the rest; 0 skips it).
        store_n: movies per user written to the store (0: nothing stored).
        db_url: store URL (default: ``MOVIEREC_DB_URL`` or SQLite under ``layout.home``).
        spark: an existing session (tests), else one is started and left running.

    Raises:
        ConfigError: bad parameters, no pyspark / Java.
        DataError, DownloadError, ChecksumError: from the local steps.
    """
    from movierec.data.convert import convert
    from movierec.data.download import download
    from movierec.interactions import ItemCatalog
    from movierec.recommend import _describe, check_n
    from movierec.spark import engine as E
    from movierec.store import resolve_db_url

    n = check_n(n)
    als = als_params(params or {})
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    download(layout, source, timeout=download_timeout, retries=download_retries)
    convert(layout)
    parquet, ingested = write_ratings_parquet(layout)
    lines = [str(ingested), f"wrote {parquet}"]

    t0 = time.perf_counter()
    spark = spark if spark is not None else E.spark_session(spark_master)
    clean, summary = E.transform(E.read_ratings(spark, parquet), min_user_ratings,
                                 min_item_ratings)  # fmt: skip
    lines.append(str(summary))
    rmse, n_test = None, 0
    if holdout > 0:
        train, test = clean.randomSplit([1.0 - holdout, holdout], seed=als.seed)
        rmse, n_test = E.evaluate_rmse(E.train_als(train, als), test)
        lines.append(f"spark ALS hold-out RMSE {rmse:.4f} on {n_test:,} ratings ({holdout:.0%})")
    model = E.train_als(clean, als)
    recs = E.recommend_all(model, max(n, store_n), seen=clean)
    run = E.SparkRun(summary, recs, rmse, n_test, als, E.fingerprint(clean))
    clean.unpersist()
    seconds = time.perf_counter() - t0
    lines.append(
        f"trained {run.model_name} (rank {als.rank}, {als.iterations} iterations) and ranked "
        f"{recs['userId'].nunique():,} users on {spark.sparkContext.master} in {seconds:.1f} s"
    )
    catalog = ItemCatalog.from_frame(ingested.movies)
    run_id = None
    if store_n > 0:
        stored = E.SparkRun(summary, recs[recs["rank"] <= store_n], rmse, n_test, als,
                            run.data_fingerprint)  # fmt: skip
        run_id = E.write_store(resolve_db_url(db_url, layout.home), stored, catalog)
        lines.append(f"stored run {run_id}: top-{store_n} for every user")
    mine = recs[(recs["userId"] == user) & (recs["rank"] <= n)]
    why = [f"ranked #{r} for you by Spark ALS" for r in mine["rank"]]
    top = _describe(mine["movieId"].to_numpy(), mine["score"].to_numpy(), why, catalog)
    if mine.empty:
        lines.append(f"user {user} is not in the filtered ratings: no recommendations")
    return SparkPipelineResult("\n".join(lines), top, rmse, n_test, run_id, seconds)
