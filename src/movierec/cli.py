"""The ``movierec`` command line: thin glue over the step functions.

Every command resolves the working directory (``--home`` / ``MOVIEREC_HOME``), calls one step
function and prints its result. A :class:`~movierec.errors.MovieRecError` becomes a one-line
``error: ...`` on stderr and a non-zero exit code; Ctrl-C exits 130 without a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from movierec import __version__, defaults
from movierec.engines import ENGINES
from movierec.errors import ConfigError, MovieRecError
from movierec.runlog import logged_step

if TYPE_CHECKING:  # loaded by the commands that need them (start-up: see docs/scale-and-spark.md)
    from movierec.config import Layout
    from movierec.pipeline_config import PipelineConfig

try:  # typer >= 0.20 vendors its own click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import ClickException

app = typer.Typer(
    name="movierec",
    help="End-to-end movie recommendations on MovieLens.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Working directory for data/, models/, logs/ (MOVIEREC_HOME)."),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source",
        help="Local copy of the dataset: a .zip, an extracted folder, or an http(s) URL "
        "(MOVIEREC_SOURCE).",
    ),
]
MinUserOpt = Annotated[
    int | None, typer.Option("--min-user-ratings", help="Drop users with fewer ratings [5].")
]
MinItemOpt = Annotated[
    int | None, typer.Option("--min-item-ratings", help="Drop movies with fewer ratings [20].")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Model name (see 'movierec models').")
]
DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset", "-d", help="MovieLens release (see 'movierec datasets') (MOVIEREC_DATASET)."
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Hyperparameter as NAME=VALUE (VALUE parsed as JSON)."),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads", min=0, help="Threads of the compiled models (MOVIEREC_THREADS) [0: all cores]."
    ),
]
DbUrlOpt = Annotated[
    str | None,
    typer.Option("--db-url", help="Store URL (MOVIEREC_DB_URL) [sqlite:///<home>/db/movierec.db]."),
]


_DEFAULT = {
    "user": defaults.USER,
    "n": defaults.N,
    "store_n": defaults.STORE_N,
    "engine": defaults.ENGINE,
    "spark_master": defaults.SPARK_MASTER,
}
"""Defaults of the options that have no ``MOVIEREC_*`` setting (:mod:`movierec.defaults`)."""


def _steps() -> Any:
    """:mod:`movierec.steps`, imported when a command runs (not for ``--help``)."""
    from movierec import steps

    return steps


def _config(**options: Any) -> PipelineConfig:
    """The one config of this command: ``MOVIEREC_*`` settings with the given options
    (those not ``None``) laid over them."""
    from movierec.pipeline_config import PipelineConfig

    return PipelineConfig.from_settings(**options)


def _layout(home: Path | None, dataset: str | None = None) -> Layout:
    """The artifact layout of ``--home`` for ``--dataset`` (unknown names: ConfigError)."""
    return _config(home=home, dataset=dataset).layout


@contextmanager
def _step(layout: Layout, name: str, **details: Any) -> Iterator[dict[str, Any]]:
    """Log the step to ``logs/runs.jsonl``; on a terminal, show a spinner with elapsed time."""
    with logged_step(layout.log_path, name, **details) as record:
        if not sys.stderr.isatty():
            yield record
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            bar.add_task(f"{name}...", total=None)
            yield record


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["k=40", "similarity=pearson"]`` -> ``{"k": 40, "similarity": "pearson"}``."""
    params: dict[str, Any] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def _print_recommendations(
    recs: list[Any], user: int, as_json: bool, verbose: bool = False
) -> None:
    """A table a person can read (rank, title, year, genres, predicted rating, why) or JSON.

    ``verbose`` adds the movie id and the model's raw ranking score.
    """
    if as_json:
        typer.echo(json.dumps({"userId": user, "recommendations": [r.to_dict() for r in recs]}))
        return
    table = Table(title=f"Top {len(recs)} movies for user {user}")
    with_rating = any(r.predicted_rating is not None for r in recs)
    columns = ["rank", *(["movieId"] if verbose else []), "title", "year", "genres"]
    columns += ["predicted"] if with_rating else []
    columns += [*(["score"] if verbose else []), "why"]
    for col in columns:
        left = col in ("title", "genres", "why")
        table.add_column(col, justify="left" if left else "right", overflow="fold")
    for r in recs:
        row = [str(r.rank), *([str(r.movie_id)] if verbose else []), r.title]
        row += ["" if r.year is None else str(r.year), r.genres.replace("|", ", ")]
        if with_rating:
            row.append("" if r.predicted_rating is None else f"{r.predicted_rating:.1f}★")
        row += [*([f"{r.score:.4g}"] if verbose else []), r.explanation]
        table.add_row(*row)
    out.print(table)


@app.command()
def download(home: HomeOpt = None, source: SourceOpt = None, dataset: DatasetOpt = None) -> None:
    """Fetch and verify a MovieLens release into data/raw/<dataset>/ (default ml-100k)."""
    cfg = _config(home=home, source=source, dataset=dataset)
    with logged_step(cfg.layout.log_path, "download"):
        path = _steps().download(cfg)
    typer.echo(f"dataset ready in {path}")


@app.command()
def convert(home: HomeOpt = None, dataset: DatasetOpt = None) -> None:
    """Convert the release files into data/raw/ratings.csv and movies.csv."""
    cfg = _config(home=home, dataset=dataset)
    with _step(cfg.layout, "convert"):
        ratings, movies = _steps().convert(cfg)
    typer.echo(f"wrote {ratings} and {movies}")


@app.command()
def ingest(home: HomeOpt = None, dataset: DatasetOpt = None) -> None:
    """Load and validate ratings.csv + movies.csv, and report what is there."""
    cfg = _config(home=home, dataset=dataset)
    with _step(cfg.layout, "ingest"):
        result = _steps().ingest(cfg)
    typer.echo(str(result))


@app.command()
def transform(
    home: HomeOpt = None,
    min_user_ratings: MinUserOpt = None,
    min_item_ratings: MinItemOpt = None,
    dataset: DatasetOpt = None,
    from_store: Annotated[
        bool,
        typer.Option(
            "--from-store", help="Read the ratings from the store (see 'movierec import')."
        ),
    ] = False,
    db_url: DbUrlOpt = None,
) -> None:
    """Filter sparse users and movies into data/processed/ratings_clean.csv."""
    cfg = _config(
        home=home,
        dataset=dataset,
        min_user_ratings=min_user_ratings,
        min_item_ratings=min_item_ratings,
        from_store=from_store,
        db_url=db_url,
    )
    with _step(cfg.layout, "transform"):
        result = _steps().transform(cfg)
    typer.echo(str(result))


@app.command("import")
def import_(home: HomeOpt = None, dataset: DatasetOpt = None, db_url: DbUrlOpt = None) -> None:
    """Load the converted ratings, their users and the movies into the store (idempotent).

    From then on the store is the source 'retrain' trains from.
    """
    cfg = _config(home=home, dataset=dataset, db_url=db_url)
    with _step(cfg.layout, "import"):
        result = _steps().import_ratings(cfg)
    typer.echo(str(result))


@app.command()
def train(
    home: HomeOpt = None,
    model: ModelOpt = None,
    param: ParamOpt = None,
    dataset: DatasetOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Train a model on the cleaned ratings and save it to models/recommender.npz."""
    cfg = _config(
        home=home, dataset=dataset, model=model, model_params=parse_params(param), threads=threads
    )
    cfg, note = _steps().choose_model(cfg)
    if note:
        typer.echo(note)
    with _step(cfg.layout, "train", model=cfg.model, note=note):
        result = _steps().train(cfg)
    typer.echo(str(result))


@app.command()
def store(
    home: HomeOpt = None,
    dataset: DatasetOpt = None,
    db_url: DbUrlOpt = None,
    n: Annotated[int, typer.Option("-n", "--n", help="Movies per user.")] = _DEFAULT["store_n"],
    threads: ThreadsOpt = None,
) -> None:
    """Write every user's explained top-N into the recommendation store as one (current) run."""
    cfg = _config(home=home, dataset=dataset, db_url=db_url, store_n=n, threads=threads)
    with _step(cfg.layout, "store"):
        result = _steps().store(cfg)
    typer.echo(str(result))


@app.command()
def recommend(
    user: Annotated[int, typer.Option("--user", "-u", help="MovieLens userId.")],
    n: Annotated[int, typer.Option("-n", "--n", help="How many movies.")] = _DEFAULT["n"],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Also show movie ids and raw ranking scores.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", hidden=True, help="(Reasons are always shown.)")
    ] = False,
    home: HomeOpt = None,
    dataset: DatasetOpt = None,
) -> None:
    """Top-N unseen movies for a user from the trained model, each with its reason."""
    cfg = _config(home=home, dataset=dataset, user=user, n=n)
    _print_recommendations(_steps().recommend(cfg), user, as_json, verbose)


models_app = typer.Typer(
    help="List the model names; model versions and the production pointer (subcommands).",
    invoke_without_command=True,
)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(ctx: typer.Context) -> None:
    """List the available model names (subcommands: versions, promote, rollback)."""
    if ctx.invoked_subcommand is not None:
        return
    from movierec.models.registry import available_models, model_class

    for name in available_models():
        doc = (model_class(name).__doc__ or "").strip().splitlines()
        typer.echo(f"{name:12s} {doc[0] if doc else ''}")


def _store_engine(home: Path | None, db_url: str | None, dataset: str | None = None) -> Any:
    """An engine on the store of ``--home`` / ``--db-url`` with its schema up to date."""
    from movierec.store import ensure_schema, make_engine, resolve_db_url

    engine = make_engine(resolve_db_url(db_url, _layout(home, dataset).home))
    ensure_schema(engine)
    return engine


@models_app.command("versions")
def models_versions(
    home: HomeOpt = None,
    db_url: DbUrlOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the registered model versions, newest first (* = in production)."""
    from movierec.store import list_versions

    engine = _store_engine(home, db_url)
    try:
        versions = list_versions(engine)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([v.as_dict() for v in versions]))
        return
    table = Table(title="Model versions")
    for col in (
        "version",
        "prod",
        "model",
        "NDCG@10",
        "RMSE",
        "ratings",
        "data",
        "code",
        "created",
    ):
        table.add_column(col)
    for v in versions:
        ndcg, rmse = v.metrics.get("candidate.NDCG@10"), v.metrics.get("candidate.RMSE")
        table.add_row(
            str(v.id),
            "*" if v.is_production else "",
            v.model,
            "" if ndcg is None else f"{ndcg:.4f}",
            "" if rmse is None else f"{rmse:.4f}",
            f"{v.n_ratings:,}",
            v.data_fingerprint,
            v.code_version,
            v.created.isoformat(timespec="seconds"),
        )
    shown = table if versions else "no model versions yet; run 'movierec retrain'"
    Console(width=max(out.width, 150)).print(shown)


@models_app.command("promote")
def models_promote(
    version: Annotated[int, typer.Argument(help="Model version id (see 'models versions').")],
    home: HomeOpt = None,
    db_url: DbUrlOpt = None,
) -> None:
    """Put a registered model version in production (the service follows the pointer)."""
    from movierec.store import promote

    engine = _store_engine(home, db_url)
    try:
        typer.echo(str(promote(engine, version, reason="movierec models promote")))
    finally:
        engine.dispose()


@models_app.command("rollback")
def models_rollback(home: HomeOpt = None, db_url: DbUrlOpt = None) -> None:
    """Put back the version that was in production before the current one."""
    from movierec.store import rollback

    engine = _store_engine(home, db_url)
    try:
        typer.echo(str(rollback(engine, reason="movierec models rollback")))
    finally:
        engine.dispose()


@app.command()
def retrain(
    home: HomeOpt = None,
    dataset: DatasetOpt = None,
    db_url: DbUrlOpt = None,
    model: ModelOpt = None,
    param: ParamOpt = None,
    min_user_ratings: MinUserOpt = None,
    min_item_ratings: MinItemOpt = None,
    margin: Annotated[
        float | None,
        typer.Option(
            "--margin",
            help="Promote unless NDCG@10 is worse by more than this "
            "(MOVIEREC_PROMOTE_MARGIN) [0.01].",
        ),
    ] = None,
    store_n: Annotated[
        int, typer.Option("--store-n", help="Movies per user stored by a promoted version.")
    ] = _DEFAULT["store_n"],
) -> None:
    """Retrain from the store, compare with production, register and maybe promote a version.

    The comparison holds out each user's newest ratings; the new version is promoted unless
    its NDCG@10 is worse by more than the margin (a Prefect flow when Prefect is installed).
    """
    cfg = _config(
        home=home,
        dataset=dataset,
        db_url=db_url,
        model=model,
        model_params=parse_params(param),
        min_user_ratings=min_user_ratings,
        min_item_ratings=min_item_ratings,
        promote_margin=margin,
        store_n=store_n,
    )
    with logged_step(cfg.layout.log_path, "retrain", model=cfg.model):
        if _flow_installed("retrain"):
            from movierec.prefect_server import flow_api

            with flow_api():  # before Prefect loads: a server of 'movierec prefect start'
                from movierec.flows import run_retrain

                result = run_retrain(cfg)
        else:
            from movierec.retrain import retrain as run

            result = run(cfg)
    typer.echo(str(result))


def _flow_installed(command: str) -> bool:
    """True when Prefect is installed; else a one-line note that ``command`` runs its steps
    in this process."""
    from movierec.extras import installed

    if installed("prefect"):
        return True
    typer.echo(
        f"note: Prefect is not installed (pip install 'movierec[flow]'): {command} runs its "
        "steps in this process",
        err=True,
    )
    return False


@app.command()
def schedule(
    cron: Annotated[str, typer.Option("--cron", help='Cron schedule, e.g. "0 3 * * *".')],
    home: HomeOpt = None,
    dataset: DatasetOpt = None,
    db_url: DbUrlOpt = None,
    model: ModelOpt = None,
    param: ParamOpt = None,
    prefect_port: Annotated[
        int,
        typer.Option(
            "--prefect-port",
            help="Port of the local Prefect server (used if one answers, else started).",
        ),
    ] = 4200,
) -> None:
    """Serve 'retrain' as a Prefect deployment on a cron schedule (Ctrl-C stops).

    Uses PREFECT_API_URL (or the server of 'movierec prefect start') when there is one, else
    a Prefect server on 127.0.0.1:PORT, started as a child of this command (and stopped
    with it) when none answers there.
    """
    from movierec.extras import require
    from movierec.prefect_server import command_server

    require("flow", "prefect", "movierec schedule")
    cfg = _config(
        home=home, dataset=dataset, db_url=db_url, model=model, model_params=parse_params(param)
    )
    with command_server(prefect_port) as url:
        from movierec.flows import check_cron, serve_retrain

        check_cron(cron)
        typer.echo(
            f"serving deployment movierec-retrain/movierec-retrain on {cron!r} "
            f"(Prefect API {url}); Ctrl-C stops"
        )
        serve_retrain(cfg, cron)


def _count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@app.command()
def datasets() -> None:
    """List the MovieLens releases that --dataset accepts."""
    from movierec.data.datasets import DATASETS

    table = Table(title="MovieLens releases (--dataset NAME)")
    for col in ("name", "size", "ratings", "users", "movies", "scale", "url"):
        table.add_column(col, justify="left" if col in ("name", "scale", "url") else "right")
    for spec in DATASETS.values():
        size = "" if spec.size_bytes is None else f"{spec.size_bytes / 1e6:,.1f} MB"
        lo, hi = spec.rating_scale
        table.add_row(
            spec.name,
            size,
            _count(spec.n_ratings),
            _count(spec.n_users),
            _count(spec.n_movies),
            f"{lo:g}-{hi:g}",
            spec.url,
        )
    Console(width=max(out.width, 140)).print(table)


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for ratings.csv + movies.csv.")],
    ratings: Annotated[str, typer.Option("--ratings", help="Ratings, e.g. 25M, 1e6.")] = "1M",
    users: Annotated[str, typer.Option("--users", help="Users, e.g. 162k.")] = "10k",
    movies: Annotated[str, typer.Option("--movies", help="Movies, e.g. 62k.")] = "5k",
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 0,
) -> None:
    """Write a synthetic MovieLens-shaped dataset in the ml-25m CSV format."""
    from movierec.data.synth import parse_count, synthesize

    counts = [parse_count(v) for v in (ratings, users, movies)]
    result = synthesize(*counts, seed=seed, out_dir=out_dir)
    typer.echo(
        f"wrote {result.n_ratings:,} ratings of {result.n_users:,} users on "
        f"{result.n_movies:,} movies to {result.ratings_path} and {result.movies_path} "
        f"in {result.seconds:.1f} s"
    )


@app.command()
def pipeline(
    home: HomeOpt = None,
    source: SourceOpt = None,
    dataset: DatasetOpt = None,
    user: Annotated[int, typer.Option("--user", "-u", help="User to recommend for.")] = _DEFAULT[
        "user"
    ],
    n: Annotated[int, typer.Option("-n", "--n", help="How many movies.")] = _DEFAULT["n"],
    model: ModelOpt = None,
    param: ParamOpt = None,
    min_user_ratings: MinUserOpt = None,
    min_item_ratings: MinItemOpt = None,
    cron: Annotated[
        str | None,
        typer.Option(
            "--cron", help="Serve the flow on this cron schedule instead of running once."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    store_n: Annotated[
        int, typer.Option("--store-n", help="Movies per user written to the store (0: skip).")
    ] = _DEFAULT["store_n"],
    db_url: DbUrlOpt = None,
    engine: Annotated[
        str,
        typer.Option("--engine", help="local (this process) or spark (ALS on Spark)."),
    ] = _DEFAULT["engine"],
    spark_master: Annotated[
        str, typer.Option("--spark-master", help="Spark master URL (--engine spark).")
    ] = _DEFAULT["spark_master"],
    threads: ThreadsOpt = None,
) -> None:
    """Run download -> convert -> ingest -> transform -> train -> store -> recommend (Prefect).

    With --engine spark, transform, ALS (hold-out RMSE) and top-N for every user run on
    Spark; -p sets ALS parameters (rank, reg, iterations, implicit, alpha, ...). Without
    Prefect installed, the same steps run in this process.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown --engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    cfg = _config(
        home=home,
        source=source,
        dataset=dataset,
        user=user,
        n=n,
        model=model,
        model_params=parse_params(param),
        min_user_ratings=min_user_ratings,
        min_item_ratings=min_item_ratings,
        store_n=store_n,
        db_url=db_url,
        engine=engine,
        spark_master=spark_master,
        threads=threads,
    )
    if cron:
        from movierec.extras import require
        from movierec.prefect_server import command_server

        require("flow", "prefect", "pipeline --cron")
        with command_server():
            from movierec.flows import serve_pipeline

            serve_pipeline(cfg, cron)
        return
    steps = _steps()
    steps.check(cfg)  # a bad model, parameter or missing engine fails before anything runs
    with logged_step(cfg.layout.log_path, "pipeline", engine=engine) as record:
        if _flow_installed("pipeline"):
            from movierec.prefect_server import flow_api

            with flow_api():  # before Prefect loads: a server of 'movierec prefect start'
                from movierec.flows import run_pipeline

                result = run_pipeline(cfg)
        else:
            result = steps.pipeline(cfg)
        record.update(model=result.model, note=result.note)
    typer.echo(result.summary)
    _print_recommendations(result.recommendations, user, as_json)


@app.command()
def evaluate(
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="ml100k-u1..u5, ml100k-5fold (ml-100k only); stratified-75-25, "
            "random-kfold, temporal, temporal-last1 (every dataset).",
        ),
    ] = "ml100k-u1",
    models: Annotated[
        str,
        typer.Option(
            "--models", help="Comma-separated model names (see 'movierec models') or 'all'."
        ),
    ] = "all",
    tune: Annotated[
        bool,
        typer.Option(
            "--tune",
            help="Search hyperparameters on a validation split of the training data first.",
        ),
    ] = False,
    trials: Annotated[int | None, typer.Option("--trials", help="Tuning trials per model.")] = None,
    k: Annotated[int, typer.Option("--k", help="List length of the @K metrics.")] = 10,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="MODEL.NAME=VALUE hyperparameter (VALUE parsed as JSON)."
        ),
    ] = None,
    predictions_out: Annotated[
        Path | None,
        typer.Option(
            "--predictions-out", help="CSV of model,userId,movieId,rating,prediction[,fold]."
        ),
    ] = None,
    recommendations_out: Annotated[
        Path | None,
        typer.Option(
            "--recommendations-out", help="CSV of model,userId,rank,movieId,score[,fold]."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            "--source",
            help="The release's zip or extracted folder; default data/raw/<dataset> under --home.",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Seed of random splits (stratified-75-25, random-kfold) and tuning; 42 is "
            "the seed of Microsoft's stratified-75-25 table.",
        ),
    ] = 42,
    seeds: Annotated[
        str | None,
        typer.Option(
            "--seeds",
            help="Several split seeds, e.g. 1,2,3: figures become mean ± sd over seeds × "
            "folds with a 95 % t-interval and paired tests of the top model.",
        ),
    ] = None,
    repeats: Annotated[
        int | None,
        typer.Option("--repeats", help="N seeds from --seed: seed, seed+1, ..., seed+N-1."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=0, help="Folds evaluated in parallel processes (0: one per core)."
        ),
    ] = 0,
    min_user_ratings: Annotated[
        int | None,
        typer.Option(
            "--min-user-ratings",
            help="Drop users with fewer ratings before splitting [no filter].",
        ),
    ] = None,
    min_item_ratings: Annotated[
        int | None,
        typer.Option(
            "--min-item-ratings",
            help="Then drop movies with fewer ratings before splitting [no filter].",
        ),
    ] = None,
    home: HomeOpt = None,
    dataset: DatasetOpt = None,
) -> None:
    """Evaluate models under a protocol; write reports/<protocol>/leaderboard.{md,csv,json}."""
    from movierec.evaluation.runner import evaluate as run
    from movierec.evaluation.runner import split_model_params, summary_text

    layout = _layout(home, dataset)
    with _step(layout, "evaluate", protocol=protocol, models=models, dataset=layout.dataset):
        board = run(
            protocol,
            models,
            data_dir=data_dir,
            layout=layout,
            dataset=layout.dataset,
            k=k,
            tune=tune,
            n_trials=trials,
            params=split_model_params(parse_params(param)),
            predictions_out=predictions_out,
            recommendations_out=recommendations_out,
            seed=seed,
            jobs=jobs,
            seeds=seeds,
            repeats=repeats,
            min_user_ratings=min_user_ratings,
            min_item_ratings=min_item_ratings,
        )
    typer.echo(summary_text(board))
    typer.echo(f"report written to {layout.reports_dir / board.protocol}")
    from movierec import tracking

    tracking.record_evaluation(layout, board, layout.reports_dir / board.protocol)


# ---------------------------------------------------------------- serving (store + API)
db_app = typer.Typer(help="The recommendation store (SQLite or PostgreSQL).", no_args_is_help=True)
app.add_typer(db_app, name="db")
prefect_app = typer.Typer(
    help="A persistent local Prefect server, so pipeline runs skip the temporary one.",
    no_args_is_help=True,
)
app.add_typer(prefect_app, name="prefect")


@prefect_app.command("start")
def prefect_start(
    port: Annotated[int, typer.Option("--port", help="TCP port on 127.0.0.1.")] = 4200,
) -> None:
    """Start a Prefect server that later 'movierec pipeline' runs use (once per machine)."""
    from movierec.prefect_server import start

    typer.echo(f"running: {start(port)}")


@prefect_app.command("stop")
def prefect_stop() -> None:
    """Stop the server started by 'movierec prefect start'."""
    from movierec.prefect_server import stop

    info = stop()
    typer.echo(f"stopped {info}" if info else "no server was running")


@prefect_app.command("status")
def prefect_status() -> None:
    """Say which Prefect API 'movierec pipeline' will use."""
    from movierec.prefect_server import status

    typer.echo(status())


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.")] = 1,
    home: HomeOpt = None,
    db_url: DbUrlOpt = None,
    dataset: DatasetOpt = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="critical, error, warning, info or debug.")
    ] = "warning",
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="One log line per request.")
    ] = False,
    json_logs: Annotated[
        bool, typer.Option("--json-logs", help="Log lines as JSON objects (one per line).")
    ] = False,
) -> None:
    """Serve the HTTP API (docs at /docs, offline), the web page (/), /health, /ready and
    /metrics with uvicorn; each worker follows the production model version."""
    import os

    from movierec.errors import ConfigError
    from movierec.extras import require

    require("serve", "fastapi", "movierec serve")
    from movierec.api.app import serve as run
    from movierec.api.logs import LEVELS

    if log_level.lower() not in LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LEVELS)}, not {log_level!r}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")

    layout = _layout(home, dataset)
    os.environ["MOVIEREC_DATASET"] = layout.dataset  # the app and its workers read Settings

    def announce() -> None:
        typer.echo(f"serving on http://{host}:{port}/ (API docs at /docs); Ctrl-C stops")

    run(
        host,
        port,
        home=layout.home,
        db_url=db_url,
        workers=workers,
        log_level=log_level.lower(),
        access_log=access_log,
        json_logs=json_logs,
        announce=announce,
    )


@db_app.command("runs")
def db_runs(home: HomeOpt = None, db_url: DbUrlOpt = None, dataset: DatasetOpt = None) -> None:
    """List the stored runs, newest first (runs whose writer died are marked failed)."""
    from movierec.store import resolve_db_url, runs_table

    runs = runs_table(resolve_db_url(db_url, _layout(home, dataset).home))
    table = Table(title="Stored runs")
    for col in ("id", "model", "version", "status", "current", "users", "rows", "created", "data"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            str(r.id),
            r.model,
            "" if r.model_version is None else str(r.model_version),
            r.status,
            "*" if r.is_current else "",
            str(r.n_users),
            str(r.n_recommendations),
            r.created.isoformat(timespec="seconds"),
            r.data_fingerprint,
        )
    Console(width=max(out.width, 120)).print(table if runs else "no runs stored yet")


@db_app.command("prune")
def db_prune(home: HomeOpt = None, db_url: DbUrlOpt = None, dataset: DatasetOpt = None) -> None:
    """Delete failed runs (also those whose writer died mid-write) and their rows."""
    from movierec.store import prune_runs, resolve_db_url

    pruned = prune_runs(resolve_db_url(db_url, _layout(home, dataset).home))
    ids = ", ".join(map(str, pruned.runs))
    typer.echo(
        f"removed {len(pruned.runs)} failed run(s){f' ({ids})' if ids else ''} and "
        f"{pruned.recommendations} recommendation row(s)"
    )


@db_app.command("export")
def db_export(
    run: Annotated[int, typer.Option("--run", help="Run id (see 'movierec db runs').")],
    out_path: Annotated[Path, typer.Option("--out", help="Output file.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or parquet [from the file extension].")
    ] = None,
    home: HomeOpt = None,
    db_url: DbUrlOpt = None,
    dataset: DatasetOpt = None,
) -> None:
    """Write one run's recommendations (with titles) to CSV or Parquet."""
    from movierec.store import export_run, resolve_db_url

    url = resolve_db_url(db_url, _layout(home, dataset).home)
    path, n = export_run(url, run, out_path, fmt)  # type: ignore[arg-type]
    typer.echo(f"wrote {n} recommendations of run {run} to {path}")


# ---------------------------------------------------------------- tracked runs (MLflow)
runs_app = typer.Typer(help="Tracked runs (MLflow): list, compare.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list(
    home: HomeOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 20,
) -> None:
    """The newest tracked evaluate / train / retrain runs."""
    from movierec import tracking

    runs = tracking.list_tracked(_layout(home), limit)
    table = Table(title="Tracked runs (MLflow)")
    for col in ("run", "kind", "started", "metrics"):
        table.add_column(col, overflow="fold")
    for r in runs:
        started = _dt_text(r.started)
        table.add_row(r.run_id, r.kind, started, str(len(r.metrics)))
    Console(width=max(out.width, 110)).print(table if runs else "no tracked runs yet")


def _dt_text(seconds: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


@runs_app.command("compare")
def runs_compare(
    a: Annotated[str, typer.Argument(help="Tracked run id (or a unique prefix).")],
    b: Annotated[str, typer.Argument(help="Tracked run id (or a unique prefix).")],
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The metrics of two tracked runs and their deltas (B - A)."""
    from movierec import tracking

    run_a, run_b, deltas = tracking.compare(_layout(home), a, b)
    if as_json:
        rows = [{"metric": d.name, "a": d.a, "b": d.b, "delta": d.delta} for d in deltas]
        typer.echo(json.dumps({"a": run_a.run_id, "b": run_b.run_id, "metrics": rows}))
        return
    table = Table(title=f"A = {run_a.kind} {run_a.run_id[:8]}, B = {run_b.kind} {run_b.run_id[:8]}")
    for col in ("metric", "A", "B", "B - A"):
        table.add_column(col, justify="left" if col == "metric" else "right")

    def cell(v: float | None, signed: bool = False) -> str:
        return "" if v is None else (f"{v:+.4g}" if signed else f"{v:.4g}")

    for d in deltas:
        table.add_row(d.name, cell(d.a), cell(d.b), cell(d.delta, signed=True))
    Console(width=max(out.width, 100)).print(table)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    if version:
        typer.echo(f"movierec {__version__}")
        raise typer.Exit()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning user errors into one-line messages.

    Ctrl-C stops any command at once with one line and exit code 130 (:mod:`movierec.interrupt`).
    """
    from movierec import interrupt

    restore = interrupt.install()
    try:
        app(args=argv, standalone_mode=False)
    except MovieRecError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort) as exc:
        if isinstance(exc.__cause__, EOFError):  # click turns any EOFError into Abort
            typer.echo(f"error: unexpected end of input ({exc.__cause__ or 'EOFError'})", err=True)
            sys.exit(1)
        typer.echo(interrupt.MESSAGE, err=True)
        sys.exit(interrupt.EXIT_CODE)
    except OSError as exc:
        typer.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        sys.exit(1)
    finally:
        restore()
