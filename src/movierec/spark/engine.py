"""The pipeline's steps on Apache Spark: transform, MLlib ALS, evaluation, top-N for all users.

Every function takes and returns plain values: Spark DataFrames inside the engine, pandas
frames at its edges (what the store and the reports consume), external MovieLens ids
throughout (MLlib ALS uses the ids themselves as its integer keys; no index space leaks).

When Spark pays off: on one machine the local engine (numpy/scipy/``implicit``) is faster
at every MovieLens size (a JVM start-up of several seconds, Python<->JVM serialisation and
the shuffle cost more than they save); Spark is for data that does not fit one machine's
memory, or for a cluster that is already there (``--spark-master spark://host:7077`` or
``spark-submit --master yarn``).

Spark's ALS is ALS-WR (Zhou et al. 2008): the explicit objective is
``Σ_(u,i) (r_ui − x_uᵀ y_i)² + λ (Σ_u n_u ‖x_u‖² + Σ_i n_i ‖y_i‖²)`` (``regParam`` = ``λ``,
scaled by each row's rating count ``n_u``/``n_i``), without global mean or biases; the
implicit one is Hu, Koren & Volinsky (2008) with confidence ``1 + alpha·r``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.data.transform import TransformSummary
from movierec.errors import ConfigError, DataError

if TYPE_CHECKING:  # pyspark is an optional extra
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

RATINGS_COLUMNS = {"userId": "integer", "movieId": "integer", "rating": "float"}
_LOOPBACK = "127.0.0.1"
_LOG4J2 = """\
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{{HH:mm:ss}} %p %c{{1}}: %m%n
"""


# ---------------------------------------------------------------------------- session
@contextmanager
def quiet_pandas() -> Iterator[None]:
    """Silence pyspark's warnings about pandas 3 around Arrow conversions (they work)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
        warnings.filterwarnings("ignore", "The copy keyword is deprecated")
        yield


def java_available() -> bool:
    """True when a ``java`` executable is on ``PATH`` or under ``$JAVA_HOME``."""
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and (Path(home) / "bin" / "java").is_file()))


def _is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def spark_session(
    master: str | None = "local[*]",
    *,
    app_name: str = "movierec",
    shuffle_partitions: int | None = None,
    driver_memory: str = "2g",
    checkpoint_dir: str | Path | None = None,
    log_level: str = "ERROR",
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """Start (or reuse) a Spark session configured for this project.

    Local masters (``local``, ``local[N]``, ``local[*]``) bind to loopback only
    (``SPARK_LOCAL_IP`` and ``spark.driver.host`` = ``127.0.0.1``) and run with the web UI
    off. A checkpoint directory is always set: ALS truncates its RDD lineage there every
    ``checkpointInterval`` iterations (long runs overflow the JVM stack otherwise).

    Args:
        master: ``local[*]`` (default), ``local[N]``, ``spark://host:7077``, ``yarn``, ...;
            ``None``: the master ``spark-submit`` was given (``local[*]`` outside it).
        app_name: shown in the cluster UI.
        shuffle_partitions: ``spark.sql.shuffle.partitions``; default 2 per local core (small
            data pays for every empty partition), Spark's 200 on a cluster.
        driver_memory: ``spark.driver.memory`` (only honoured when the JVM starts here).
        checkpoint_dir: default: a fresh temporary directory.
        log_level: the JVM's log level (``ERROR`` keeps the console quiet).
        conf: extra ``spark.*`` settings, applied last.

    Raises:
        ConfigError: pyspark is not installed or no Java runtime is found.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - the extra is installed in dev/CI
        raise ConfigError("the Spark engine needs pyspark: pip install 'movierec[spark]'") from None
    if not java_available():
        raise ConfigError("the Spark engine needs a Java 17+ runtime (java not found)")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    ckpt = Path(checkpoint_dir or tempfile.mkdtemp(prefix="movierec-spark-"))
    ckpt.mkdir(parents=True, exist_ok=True)
    log4j = ckpt / "log4j2.properties"  # quiet from the JVM's first line, not only after start
    log4j.write_text(_LOG4J2.format(level=log_level.lower()), encoding="utf-8")
    if master is None:  # under spark-submit the JVM already runs with its --master
        master = "" if "PYSPARK_GATEWAY_PORT" in os.environ else "local[*]"
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.driver.memory": driver_memory,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
    }
    if _is_local(master):
        os.environ["SPARK_LOCAL_IP"] = _LOOPBACK
        cores = os.cpu_count() or 2
        settings |= {
            "spark.driver.host": _LOOPBACK,
            "spark.driver.bindAddress": _LOOPBACK,
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": str(shuffle_partitions or 2 * cores),
            "spark.default.parallelism": str(2 * cores),
        }
    elif shuffle_partitions:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    for key, value in (settings | (conf or {})).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    spark.sparkContext.setCheckpointDir(str(ckpt / "checkpoints"))
    log.info("spark %s session on %s (checkpoints in %s)", spark.version,
             spark.sparkContext.master, ckpt)  # fmt: skip
    return spark


# ---------------------------------------------------------------------------- input
def _check_columns(df: DataFrame, where: str) -> DataFrame:
    """Cast ``userId, movieId, rating`` (+ ``timestamp`` if present) or raise DataError."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    fields = {f.name: f.dataType for f in df.schema.fields}
    problems = []
    for name in RATINGS_COLUMNS:
        if name not in fields:
            problems.append(f"column {name} is missing")
        elif not isinstance(fields[name], NumericType):
            problems.append(f"column {name} is {fields[name].simpleString()}, expected numeric")
    if problems:
        raise DataError(f"{where}: wrong schema: {'; '.join(problems)}")
    cols = [F.col(n).cast(t).alias(n) for n, t in RATINGS_COLUMNS.items()]
    if "timestamp" in fields:
        cols.append(F.col("timestamp").cast("long").alias("timestamp"))
    return df.select(*cols)


def read_ratings(spark: SparkSession, path: str | Path) -> DataFrame:
    """Ratings from Parquet (a file or a directory of parts) or an ml-25m-style CSV.

    A CSV (header ``userId,movieId,rating,timestamp``) is validated before it is returned:
    one extra pass counts the malformed rows (wrong field count, a value that does not parse,
    a negative id, a rating off the ml-25m spec's scale and grid); only if there is one,
    :func:`_locate_bad_csv_row` finds its physical line number exactly. The validated CSV
    frame is cached (``MEMORY_AND_DISK``, filled by its first action) so later passes do not
    parse the text again; ``unpersist()`` it when done (:func:`run` does).

    Returns:
        DataFrame ``userId int, movieId int, rating float[, timestamp long]``.

    Raises:
        DataError: the path is missing, unreadable, lacks a column / has a non-numeric one,
            or (CSV) has a malformed row, naming file and line (``ratings.csv:19000001: ...``).
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    path = Path(path)
    if not path.exists():
        raise DataError(f"ratings not found: {path}")
    try:
        if path.suffix == ".csv":
            return _read_ratings_csv(spark, path)
        df = spark.read.parquet(str(path))
    except (PySparkException, Py4JJavaError) as exc:
        raise DataError(f"cannot read {path}: {_first_line(exc)}") from None
    return _check_columns(df, str(path))


_CSV_FORMAT = "ml-25m"  # the layout and rating grid of every CSV release
_CSV_HEADER = ",".join(RATINGS_COLUMNS) + ",timestamp"
_CSV_SCHEMA = "userId INT, movieId INT, rating FLOAT, timestamp LONG, _corrupt STRING"
_CSV_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"}


def _bad_csv_row() -> Any:
    """Column expression: true for a parsed CSV row that is malformed or invalid.

    Spark's PERMISSIVE parser fills ``_corrupt`` for a row with the wrong field count or a
    value that does not parse as its type; the rest is ``null`` ids/timestamp, negative
    ids, and a rating that is NaN, off ``[lo, hi]`` or off the grid (``r·2`` not whole for
    half stars, ``r`` not whole for whole stars).
    """
    from pyspark.sql import functions as F

    from movierec.data.datasets import get_dataset

    scale = get_dataset(_CSV_FORMAT).scale
    r = F.col("rating").cast("double")
    bad = F.col("_corrupt").isNotNull() | F.isnan(r) | (r < scale.lo) | (r > scale.hi)
    bad = bad | (r / scale.step != F.round(r / scale.step))
    for name in (*RATINGS_COLUMNS, "timestamp"):
        bad = bad | F.col(name).isNull()
    return bad | (F.col("userId") < 0) | (F.col("movieId") < 0)


def _read_ratings_csv(spark: SparkSession, path: Path) -> DataFrame:
    """Validated ratings of an ml-25m-style ``ratings.csv`` (see :func:`read_ratings`)."""
    from pyspark.sql import functions as F

    with path.open("rb") as fh:
        header = fh.readline().decode("utf-8", "replace").strip()
    if header != _CSV_HEADER:
        raise DataError(f"{path}:1: header must be {_CSV_HEADER}, got {header[:80]!r}")
    raw = spark.read.csv(str(path), schema=_CSV_SCHEMA, header=True, **_CSV_OPTIONS)
    if not raw.where(_bad_csv_row()).isEmpty():
        raise _locate_bad_csv_row(spark, path)
    # cached: transform reads its input several times, and a CSV parse costs more than a scan
    return raw.select(*RATINGS_COLUMNS, F.col("timestamp")).cache()


def _locate_bad_csv_row(spark: SparkSession, path: Path) -> DataError:
    """The first malformed row of ``path`` as a one-line error with its physical line number.

    Runs only when :func:`_read_ratings_csv` found a bad row. One pass on the JVM over the
    file as text lines, each parsed with ``from_csv`` (the reader's own parser and
    options) and tagged with its split (``input_file_block_start()``) and
    ``monotonically_increasing_id()`` (partition id in the upper 31 bits, record number
    within the partition in the lower 33). Per ``(split, partition)``: the line count, the
    first id, and the first bad ``(id, line)``. A split's rows are consecutive ids within
    its partition, and splits in offset order are the file in order, so the line number of
    a row is ``1 + Σ lines of earlier splits + (id − first id of its split)``: exact, with
    blank lines counted as in an editor. The first line of split 0 (the header) and blank
    lines (which the CSV reader skips) are not candidates.
    """
    from pyspark.sql import functions as F

    part = F.spark_partition_id().cast("long")
    rows = spark.read.text(str(path)).select(
        F.col("value"),
        F.from_csv(F.col("value"), _CSV_SCHEMA, _CSV_OPTIONS).alias("row"),
        F.expr("input_file_block_start()").alias("block"),
        part.alias("part"),
        F.monotonically_increasing_id().alias("mid"),
    )
    rows = rows.select("value", "row.*", "block", "part", "mid")
    header = (F.col("block") == 0) & (F.col("mid") == F.shiftleft(F.col("part"), 33))
    candidate = ~header & (F.trim(F.col("value")) != "") & _bad_csv_row()
    per_split = (
        rows.groupBy("block", "part")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.min("mid").alias("first"),
            F.min(F.when(candidate, F.struct(F.col("mid"), F.col("value")))).alias("bad"),
        )
        .collect()
    )
    offset = 0
    for split in sorted(per_split, key=lambda s: (s["block"], s["first"])):
        if split["bad"] is not None:
            line = offset + int(split["bad"]["mid"]) - int(split["first"]) + 1
            return DataError(_describe_bad_csv_line(path, line, split["bad"]["value"]))
        offset += int(split["n"])
    return DataError(f"malformed row in {path} (the line could not be located)")


def _describe_bad_csv_line(path: Path, line: int, text: str) -> str:
    """``malformed row at <path>:<line>: <why>``, worded as the local loader words it."""
    import csv

    from movierec.data.datasets import get_dataset

    fields = next(csv.reader([text]), [])
    where = f"{path}:{line}"
    if len(fields) != 4:
        return f"malformed row at {where}: Expected 4 columns, got {len(fields)}"
    kinds = (("userId", "int32", 2**31), ("movieId", "int32", 2**31),
             ("rating", "float", None), ("timestamp", "int64", 2**63))  # fmt: skip
    values: list[float] = []
    for (name, kind, bound), value in zip(kinds, fields, strict=True):
        if value == "":
            return f"malformed row at {where}: {name} is empty"
        try:
            number = float(value) if bound is None else int(value)
        except ValueError:
            return f"malformed row at {where}: column {name}: not a valid {kind}: {value!r}"
        if bound is not None and not -bound <= number < bound:
            return f"malformed row at {where}: column {name}: {value} is out of {kind} range"
        if name in RATINGS_COLUMNS and name != "rating" and number < 0:
            return f"negative id at {where}"
        values.append(number)
    spec = get_dataset(_CSV_FORMAT)
    if not spec.scale.invalid(values[2:3])[0]:  # e.g. " 2": Python parses it
        return f"malformed row at {where}: Spark cannot parse {text[:80]!r}"
    return (
        f"invalid rating at {where}: {values[2]:g} is not {spec.scale.describe()} "
        f"({spec.name} format)"
    )


def _first_line(exc: BaseException) -> str:
    """The JVM's own message (first line) rather than py4j's ``An error occurred ...``."""
    java = getattr(exc, "java_exception", None)
    text = str(java.getMessage()) if java is not None else str(exc)
    return (text.strip().splitlines() or ["unknown error"])[0]


def from_pandas(spark: SparkSession, ratings: pd.DataFrame) -> DataFrame:
    """A pandas ratings frame (external ids) as a Spark DataFrame, via Arrow."""
    cols = [c for c in ("userId", "movieId", "rating", "timestamp") if c in ratings.columns]
    frame = ratings[cols].astype(
        {"userId": "int32", "movieId": "int32", "rating": "float32"}
        | ({"timestamp": "int64"} if "timestamp" in cols else {})
    )
    with quiet_pandas():
        df = spark.createDataFrame(frame)
    return _check_columns(df, "ratings frame")


# ---------------------------------------------------------------------------- transform
def transform(
    ratings: DataFrame,
    min_user_ratings: int = 5,
    min_item_ratings: int = 20,
    *,
    iterate: bool = False,
) -> tuple[DataFrame, TransformSummary]:
    """The local transform's filters on Spark (:func:`movierec.data.transform.transform`).

    One pass in the seed's order: drop users with fewer than ``min_user_ratings`` ratings,
    then, among the remaining rows, movies with fewer than ``min_item_ratings``;
    ``iterate=True`` repeats until a fixpoint. Counts come from ``groupBy`` + left-semi joins.

    Returns:
        ``(filtered DataFrame (cached), summary)``.
    """
    from pyspark.sql import functions as F

    for name, value in (("min_user_ratings", min_user_ratings),
                        ("min_item_ratings", min_item_ratings)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")

    def keep_frequent(df: DataFrame, col: str, minimum: int) -> DataFrame:
        if minimum <= 1:
            return df
        ok = df.groupBy(col).count().where(F.col("count") >= minimum).select(col)
        return df.join(ok, on=col, how="left_semi")

    def counts(df: DataFrame) -> tuple[int, int, int]:
        row = df.agg(
            F.count(F.lit(1)).alias("n"),
            F.countDistinct("userId").alias("u"),
            F.countDistinct("movieId").alias("m"),
        ).first()
        return (int(row["n"]), int(row["u"]), int(row["m"])) if row else (0, 0, 0)

    before = counts(ratings)
    out, passes, size = ratings, 0, before[0]
    while True:
        passes += 1
        previous = out
        out = keep_frequent(keep_frequent(out, "userId", min_user_ratings),
                            "movieId", min_item_ratings).cache()  # fmt: skip
        new_size = out.count()
        if previous is not ratings:
            previous.unpersist()
        if not iterate or new_size == size:
            break
        size = new_size
    after = counts(out)
    if before[0] and not after[0]:
        raise DataError(
            f"the filters (min_user_ratings={min_user_ratings}, "
            f"min_item_ratings={min_item_ratings}) removed every rating"
        )
    summary = TransformSummary(*before, *after, min_user_ratings, min_item_ratings, passes)
    return out, summary


# ---------------------------------------------------------------------------- ALS
@dataclass(frozen=True)
class ALSParams:
    """Hyperparameters of :func:`train_als` (MLlib names in brackets).

    Attributes:
        rank: latent dimension ``k`` [rank].
        reg: ``λ`` of ALS-WR, scaled by each row's rating count [regParam].
        iterations: alternating sweeps [maxIter].
        implicit: Hu et al. implicit feedback [implicitPrefs].
        alpha: confidence ``c = 1 + alpha·r`` (implicit only) [alpha].
        nonnegative: non-negative least squares [nonnegative].
        seed: initialisation seed [seed].
        checkpoint_interval: iterations between lineage checkpoints [checkpointInterval].
        blocks: user and item blocks (``None``: Spark's default parallelism) [numUserBlocks].
    """

    rank: int = 10
    reg: float = 0.1
    iterations: int = 10
    implicit: bool = False
    alpha: float = 1.0
    nonnegative: bool = False
    seed: int = 0
    checkpoint_interval: int = 5
    blocks: int | None = None

    def validate(self) -> None:
        for name in ("rank", "iterations", "checkpoint_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"spark als: {name} must be an integer >= 1, got {value!r}")
        for name in ("reg", "alpha"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise ConfigError(f"spark als: {name} must be a number >= 0, got {value!r}")


def train_als(ratings: DataFrame, params: ALSParams | None = None, **overrides: Any) -> ALSModel:
    """Fit ``pyspark.ml.recommendation.ALS`` on ``userId, movieId, rating``.

    Args:
        ratings: training ratings (external ids as ALS's integer keys).
        params: hyperparameters; ``overrides`` replace single fields
            (``train_als(df, rank=64, implicit=True)``).

    Returns:
        The fitted ``ALSModel`` (``userFactors``/``itemFactors`` keyed by external id);
        cold users/items are dropped at prediction time (``coldStartStrategy="drop"``).
    """
    from pyspark.ml.recommendation import ALS

    params = params or ALSParams()
    if overrides:
        unknown = sorted(set(overrides) - set(ALSParams.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"spark als has no parameter {', '.join(unknown)}")
        params = ALSParams(**{**params.__dict__, **overrides})
    params.validate()
    als = ALS(
        rank=params.rank,
        maxIter=params.iterations,
        regParam=float(params.reg),
        implicitPrefs=params.implicit,
        alpha=float(params.alpha),
        nonnegative=params.nonnegative,
        seed=params.seed,
        checkpointInterval=params.checkpoint_interval,
        userCol="userId",
        itemCol="movieId",
        ratingCol="rating",
        coldStartStrategy="drop",
    )
    if params.blocks:
        als = als.setNumUserBlocks(params.blocks).setNumItemBlocks(params.blocks)
    return als.fit(ratings)


def evaluate_rmse(model: ALSModel, test: DataFrame) -> tuple[float, int]:
    """RMSE of ``model`` on the test pairs whose user and movie were both trained.

    Returns:
        ``(rmse, n)``: ``sqrt(mean((r̂ − r)²))`` over the ``n`` warm test pairs (cold pairs are
        dropped, as ``coldStartStrategy="drop"`` does).
    """
    from pyspark.sql import functions as F

    row = (
        model.transform(test)
        .agg(
            F.sqrt(F.avg((F.col("prediction") - F.col("rating")) ** 2)).alias("rmse"),
            F.count(F.lit(1)).alias("n"),
        )  # fmt: skip
        .first()
    )
    if not row or not row["n"]:
        raise DataError("no test pair has both its user and its movie in the training data")
    return float(row["rmse"]), int(row["n"])


def predict(model: ALSModel, pairs: pd.DataFrame) -> pd.DataFrame:
    """Predictions for a pandas frame of ``userId, movieId`` (warm pairs only) as pandas."""
    spark = model.userFactors.sparkSession
    with quiet_pandas():
        df = spark.createDataFrame(pairs[["userId", "movieId"]].astype("int32"))
        return model.transform(df).toPandas()


def factors(model: ALSModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(user_ids, U, item_ids, V)``: ids sorted ascending, factors float32 ``(n, k)``."""
    out = []
    for frame in (model.userFactors, model.itemFactors):
        with quiet_pandas():
            pdf = pd.DataFrame(frame.toPandas()).sort_values("id")
        ids = pdf["id"].to_numpy(np.int64)
        mat = np.stack(pdf["features"].to_numpy()).astype(np.float32) if len(pdf) else (
            np.zeros((0, model.rank), np.float32))  # fmt: skip
        out += [ids, mat]
    return out[0], out[1], out[2], out[3]


# ---------------------------------------------------------------------------- top-N
def recommend_all(
    model: ALSModel,
    n: int = 10,
    seen: DataFrame | None = None,
    *,
    batch_size: int = 2048,
) -> pd.DataFrame:
    """Exact top-``n`` movies for every user of ``model``, excluding the movies in ``seen``.

    MLlib's ``recommendForAllUsers`` cannot exclude already-rated movies, so the ranking is
    done here: the item factors ``V`` (``m × k``) are broadcast, each executor scores its
    users in batches (``S = U_b Vᵀ``, shape ``(b, m)``), sets the user's seen movies to
    ``-inf`` and keeps the ``n`` best by ``argpartition`` (``mapInPandas``).

    Args:
        model: fitted ALS model.
        n: list length (>= 1).
        seen: ratings whose ``(userId, movieId)`` pairs must not be recommended (the
            training data), or ``None``.
        batch_size: users scored per block on an executor (memory ``b × m`` float32).

    Returns:
        pandas frame ``userId, rank, movieId, score`` (rank 1 = best, external ids), sorted by
        user then rank; a user with fewer than ``n`` unseen movies gets fewer rows.
    """
    from pyspark.sql import functions as F

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, got {n!r}")
    spark = model.userFactors.sparkSession
    with quiet_pandas():
        item_pdf = pd.DataFrame(model.itemFactors.toPandas()).sort_values("id")
    item_ids = item_pdf["id"].to_numpy(np.int64)
    V = np.stack(item_pdf["features"].to_numpy()).astype(np.float32)
    bc = spark.sparkContext.broadcast((item_ids, V))
    users = model.userFactors.withColumnRenamed("id", "userId")
    if seen is not None:
        seen_lists = seen.groupBy("userId").agg(F.collect_list("movieId").alias("seen"))
        users = users.join(seen_lists, on="userId", how="left")
    else:
        users = users.withColumn("seen", F.lit(None).cast("array<int>"))
    k = int(n)

    def rank_batches(batches: Any) -> Any:
        ids, items = bc.value
        for pdf in batches:
            for start in range(0, len(pdf), batch_size):
                yield _top_n(pdf.iloc[start : start + batch_size], ids, items, k)

    schema = "userId int, rank int, movieId int, score float"
    with quiet_pandas():
        out = pd.DataFrame(users.mapInPandas(rank_batches, schema=schema).toPandas())
    bc.unpersist()
    return out.sort_values(["userId", "rank"], kind="stable").reset_index(drop=True)


def _top_n(pdf: pd.DataFrame, item_ids: np.ndarray, V: np.ndarray, n: int) -> pd.DataFrame:
    """Top-``n`` rows for a batch ``pdf`` of ``userId, features, seen`` (runs on executors)."""
    b, m = len(pdf), item_ids.size
    if b == 0 or m == 0:
        return pd.DataFrame({"userId": [], "rank": [], "movieId": [], "score": []})
    U = np.stack(pdf["features"].to_numpy()).astype(np.float32)
    scores = U @ V.T  # (b, m)
    seen = pdf["seen"].to_numpy()
    lengths = np.array([0 if s is None else len(s) for s in seen])
    if lengths.sum():
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in seen if s is not None])
        cols = np.searchsorted(item_ids, flat)
        cols = np.minimum(cols, m - 1)
        known = item_ids[cols] == flat  # seen movies without factors need no masking
        rows = np.repeat(np.arange(b), lengths)
        scores[rows[known], cols[known]] = -np.inf
    kk = min(n, m)
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    top = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    part = np.take_along_axis(part, order, axis=1)
    top = np.take_along_axis(top, order, axis=1)
    valid = np.isfinite(top)
    user = np.repeat(pdf["userId"].to_numpy(np.int32), kk).reshape(b, kk)
    rank = np.broadcast_to(np.arange(1, kk + 1, dtype=np.int32), (b, kk))
    return pd.DataFrame(
        {
            "userId": user[valid],
            "rank": rank[valid],
            "movieId": item_ids[part][valid].astype(np.int32),
            "score": top[valid].astype(np.float32),
        }
    )


def fingerprint(ratings: DataFrame) -> str:
    """Order-independent id of the ``(userId, movieId, rating)`` multiset (16 hex chars).

    ``sha256("<count>:<Σ xxhash64(userId, movieId, rating)>")``, summed exactly as a
    decimal: one pass over the data, nothing collected. Identifies the training data of a
    Spark run in the store, as :meth:`Interactions.fingerprint` does for local runs.
    """
    import hashlib

    from pyspark.sql import functions as F

    h = F.xxhash64("userId", "movieId", "rating").cast("decimal(38,0)")
    row = ratings.agg(F.count(F.lit(1)).alias("n"), F.sum(h).alias("h")).first()
    text = f"{int(row['n'])}:{row['h'] or 0}" if row else "0:0"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- one call
@dataclass(frozen=True)
class SparkRun:
    """What :func:`run` produced (pandas frames, ready for the store and the reports).

    Attributes:
        summary: transform counts before -> after.
        recommendations: ``userId, rank, movieId, score`` (see :func:`recommend_all`).
        rmse / n_test: RMSE on the warm test pairs (``None`` / 0 without a test set).
        params: the ALS hyperparameters.
        data_fingerprint: :func:`fingerprint` of the filtered training ratings.
    """

    summary: TransformSummary
    recommendations: pd.DataFrame
    rmse: float | None
    n_test: int
    params: ALSParams = ALSParams()
    data_fingerprint: str = ""

    @property
    def model_name(self) -> str:
        """``spark-ials`` or ``spark-als``: how the run is named in the store."""
        return "spark-ials" if self.params.implicit else "spark-als"


def write_store(
    db: Any, result: SparkRun, catalog: Any = None, metrics: dict[str, Any] | None = None
) -> int:
    """Store a Spark run's recommendations with :func:`movierec.store.writer.write_run`.

    Args:
        db: engine, database URL, or ``None`` for the default store.
        result: from :func:`run`.
        catalog: :class:`~movierec.interactions.ItemCatalog` of the movies to upsert.
        metrics: extra figures (the RMSE is added when known).

    Returns:
        The new run id (current, as for a local run).
    """
    from movierec.store.writer import RunMeta, write_run

    figures = dict(metrics or {})
    if result.rmse is not None:
        figures |= {"rmse": result.rmse, "n_test": result.n_test}
    n = int(result.recommendations["rank"].max()) if len(result.recommendations) else 0
    params = {**result.params.__dict__, "engine": "spark", "n": n}
    meta = RunMeta(result.model_name, params, result.data_fingerprint)
    return write_run(db, meta, result.recommendations, figures, catalog=catalog)


def run(
    spark: SparkSession,
    ratings_path: str | Path,
    *,
    min_user_ratings: int = 5,
    min_item_ratings: int = 20,
    params: ALSParams | None = None,
    n: int = 10,
    test_path: str | Path | None = None,
) -> SparkRun:
    """Parquet/CSV ratings → transform → ALS → (RMSE on ``test_path``) → top-``n`` for all."""
    ratings = read_ratings(spark, ratings_path)
    clean, summary = transform(ratings, min_user_ratings, min_item_ratings)
    ratings.unpersist()  # a CSV's cache (clean is cached on its own)
    model = train_als(clean, params)
    rmse, n_test = None, 0
    if test_path is not None:
        rmse, n_test = evaluate_rmse(model, read_ratings(spark, test_path))
    recs = recommend_all(model, n, seen=clean)
    digest = fingerprint(clean)
    clean.unpersist()
    return SparkRun(summary, recs, rmse, n_test, params or ALSParams(), digest)
