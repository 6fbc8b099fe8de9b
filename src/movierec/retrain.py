"""``movierec retrain``: read the store, evaluate against production, register, promote.

The stages, each a plain function (the Prefect flow :func:`movierec.flows.movierec_retrain`
runs each one as a task; without Prefect :func:`retrain` calls them in this process):

1. :func:`read_store`: every rating of the store (one snapshot) and the catalogue, through
   the pipeline's own filters (:func:`movierec.data.transform.transform`, same thresholds);
2. :func:`holdout`: the temporal protocol of ``evaluate`` (:func:`temporal_split`): each
   user's :data:`HOLDOUT_LAST` newest ratings are held out (users with no more ratings than
   that stay in training);
3. :func:`compare`: the configured model (the *candidate*) and the production version's
   model configuration are both fitted on the training part and scored on the hold-out by
   :func:`movierec.evaluation.scoring.run_fold` (the metrics of ``evaluate``): NDCG@10
   decides; RMSE is reported for rating models;
4. :func:`fit_all`: the candidate fitted on all the (filtered) ratings;
5. :func:`register`: its file goes to ``models/versions/<model>-<sha12>.npz`` and becomes a
   new model version (SHA-256, hold-out metrics, data fingerprint, parameters, code
   version, the time its ratings were read as of);
6. :func:`decide` and :func:`promote`: promoted when there is no production version yet,
   or when ``NDCG@10(candidate) >= NDCG@10(production) - MOVIEREC_PROMOTE_MARGIN``;
7. :func:`store_run`: a promoted version writes every user's top-N as the store's current
   run, tagged with its version;
8. :func:`track`: the whole retrain is recorded in MLflow (:mod:`movierec.tracking`).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pandas as pd

from movierec.codeversion import code_version
from movierec.config import Layout
from movierec.errors import DataError
from movierec.interactions import ItemCatalog
from movierec.pipeline_config import PipelineConfig

T = TypeVar("T")

HOLDOUT_LAST = 10
"""Newest ratings held out per user (the ``temporal`` protocol's default ``n_last``)."""
K = 10
"""List length of the deciding metric, NDCG@K."""
PRIMARY = f"NDCG@{K}"


@dataclass(frozen=True)
class StoreData:
    """The store's ratings after the pipeline's filters, and what they were read as of.

    Attributes:
        ratings: ``userId, movieId, rating, timestamp`` (filtered).
        catalog: the store's ``movies``.
        ratings_as_of: see :func:`movierec.store.ratings.ratings_frame`.
        n_read: ratings in the store before filtering.
    """

    ratings: pd.DataFrame
    catalog: ItemCatalog
    ratings_as_of: float
    n_read: int


@dataclass(frozen=True)
class Comparison:
    """Hold-out figures of the candidate and of the production configuration.

    Attributes:
        candidate / production: metric name -> value (``production`` is ``None`` when no
            version is in production).
        production_version: the version whose configuration was compared.
        n_test / n_users: held-out ratings; users ranked.
    """

    candidate: dict[str, float]
    production: dict[str, float] | None
    production_version: int | None
    n_test: int
    n_users: int

    def metrics(self) -> dict[str, float]:
        """Flat ``candidate.<metric>`` / ``production.<metric>`` figures."""
        out = {f"candidate.{k}": v for k, v in self.candidate.items()}
        out.update({f"production.{k}": v for k, v in (self.production or {}).items()})
        return out


@dataclass(frozen=True)
class Decision:
    """Whether the candidate is promoted, and why (one line)."""

    promote: bool
    reason: str


@dataclass
class RetrainResult:
    """What one retrain did (``str()`` is the CLI's summary)."""

    version: Any
    decision: Decision
    comparison: Comparison
    n_ratings: int
    n_read: int
    seconds: float
    run_id: int | None = None
    tracked: str | None = None

    def __str__(self) -> str:
        v = self.version
        head = (
            f"read {self.n_read:,} ratings from the store, {self.n_ratings:,} after the filters; "
            f"hold-out: {self.comparison.n_test:,} newest ratings of {self.comparison.n_users:,} "
            "users"
        )
        lines = [head, f"registered model version {v.id}: {v.model} -> {v.path}"]
        verdict = "promoted: " if self.decision.promote else "kept production: "
        lines.append(verdict + self.decision.reason)
        if self.run_id is not None:
            lines.append(f"stored run {self.run_id} (model version {v.id})")
        if self.tracked:
            lines.append(f"tracked as MLflow run {self.tracked}")
        lines.append(f"retrain took {self.seconds:.1f} s")
        return "\n".join(lines)


def _url(cfg: PipelineConfig) -> str:
    from movierec.store import resolve_db_url

    return resolve_db_url(cfg.database_url, cfg.home)


def _engine(cfg: PipelineConfig) -> Any:
    from movierec.store import ensure_schema, make_engine

    engine = make_engine(_url(cfg))
    ensure_schema(engine)
    return engine


# ---------------------------------------------------------------------------------- stages
def read_store(cfg: PipelineConfig) -> StoreData:
    """Every rating of the store through the transform's filters, and the catalogue.

    Raises:
        DataError: the store holds no ratings or no movies (run ``movierec import``).
    """
    from movierec.data.transform import transform
    from movierec.store.queries import load_movies
    from movierec.store.ratings import ratings_frame

    engine = _engine(cfg)
    try:
        frame, as_of = ratings_frame(engine)
        with engine.connect() as conn:
            catalog = load_movies(conn)
    finally:
        engine.dispose()
    if catalog is None:
        raise DataError("the store holds no movies; run 'movierec import' first")
    clean = transform(frame, cfg.min_user_ratings, cfg.min_item_ratings).frame
    return StoreData(clean, catalog, as_of, len(frame))


def holdout(cfg: PipelineConfig, data: StoreData) -> Any:
    """The temporal hold-out fold (each user's :data:`HOLDOUT_LAST` newest ratings)."""
    from movierec.data.datasets import get_dataset
    from movierec.evaluation.splits import make_fold, temporal_split

    train, test = temporal_split(data.ratings, n_last=HOLDOUT_LAST)
    if not len(test):
        raise DataError(
            f"no user has more than {HOLDOUT_LAST} ratings: nothing to hold out for the comparison"
        )
    return make_fold("holdout", train, test, get_dataset(cfg.dataset).rating_scale)


def _score(name: str, params: dict[str, Any], fold: Any, catalog: ItemCatalog) -> Any:
    from movierec.evaluation.scoring import build_model, run_fold

    return run_fold(build_model(name, params), fold, catalog, K).result  # as evaluate does


def compare(cfg: PipelineConfig, data: StoreData, fold: Any) -> Comparison:
    """Fit the candidate and the production configuration on the fold's training part and
    score both on its hold-out (one fit when the two configurations are the same)."""
    from movierec.evaluation.scoring import build_model
    from movierec.store.versions import production_version

    engine = _engine(cfg)
    try:
        live = production_version(engine)
    finally:
        engine.dispose()
    wanted = build_model(cfg.model, cfg.model_params).get_params()
    cand = _score(cfg.model, wanted, fold, data.catalog)
    prod = None
    if live is not None:
        same = live.model == cfg.model and live.params == wanted
        prod = cand if same else _score(live.model, live.params, fold, data.catalog)
    return Comparison(
        candidate=dict(cand.metrics),
        production=None if prod is None else dict(prod.metrics),
        production_version=None if live is None else live.id,
        n_test=cand.n_test,
        n_users=cand.n_users,
    )


def fit_all(cfg: PipelineConfig, data: StoreData) -> Any:
    """The candidate fitted on all the filtered ratings."""
    from movierec.data.datasets import get_dataset
    from movierec.evaluation.scoring import build_model
    from movierec.interactions import Interactions

    inter = Interactions.from_frame(
        data.ratings, rating_scale=get_dataset(cfg.dataset).rating_scale
    )
    return build_model(cfg.model, cfg.model_params).fit(inter, data.catalog)


def _sha256(path: os.PathLike[str] | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def register(cfg: PipelineConfig, data: StoreData, model: Any, comparison: Comparison) -> Any:
    """Save ``model`` under ``models/versions/`` (content-addressed) and register it."""
    engine = _engine(cfg)
    try:
        return save_version(
            cfg.layout,
            engine,
            model,
            metrics={**comparison.metrics(), "n_test": comparison.n_test},
            ratings_as_of=data.ratings_as_of,
        )
    finally:
        engine.dispose()


def save_version(
    layout: Layout,
    engine: Any,
    model: Any,
    *,
    metrics: dict[str, Any],
    ratings_as_of: float | None,
) -> Any:
    """Save ``model`` as ``models/versions/<name>-<sha256[:12]>.npz`` (written to a temporary
    name, then renamed) and register that file as a new model version in ``engine``'s store;
    returns the :class:`~movierec.store.versions.ModelVersion` (not promoted)."""
    from movierec.store.versions import register_version

    folder = layout.versions_dir
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".incoming-{uuid.uuid4().hex}.npz"
    try:
        model.save(tmp)
        digest = _sha256(tmp)
        final = folder / f"{model.name}-{digest[:12]}.npz"
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return register_version(
        engine,
        model=model.name,
        params=model.get_params(),
        path=str(final.relative_to(layout.home)),
        sha256=digest,
        metrics=metrics,
        data_fingerprint=model.data_.fingerprint(),
        code_version=code_version(),
        n_ratings=int(model.data_.nnz),
        ratings_as_of=ratings_as_of,
    )


def decide(cfg: PipelineConfig, comparison: Comparison) -> Decision:
    """Promote when nothing is in production, or when the candidate's NDCG@10 is not worse
    than the production configuration's by more than ``cfg.promote_margin``."""
    cand = comparison.candidate.get(PRIMARY, float("nan"))
    if comparison.production is None:
        return Decision(True, f"no version in production yet ({PRIMARY} {cand:.4f})")
    prod = comparison.production.get(PRIMARY, float("nan"))
    figures = f"{PRIMARY} {cand:.4f} vs production v{comparison.production_version} {prod:.4f}"
    rmse = ""
    if "RMSE" in comparison.candidate and "RMSE" in comparison.production:
        rmse = f"; RMSE {comparison.candidate['RMSE']:.4f} vs {comparison.production['RMSE']:.4f}"
    margin = cfg.promote_margin
    if cand >= prod - margin:
        return Decision(True, f"{figures} (margin {margin:g}){rmse}")
    return Decision(False, f"{figures}: worse by more than the margin {margin:g}{rmse}")


def promote(cfg: PipelineConfig, version: Any, decision: Decision) -> bool:
    """Point production at ``version`` when the decision says so; True if it did."""
    from movierec.store.versions import promote as point

    if not decision.promote:
        return False
    engine = _engine(cfg)
    try:
        point(engine, version.id, reason=f"retrain: {decision.reason}")
    finally:
        engine.dispose()
    return True


def store_run(cfg: PipelineConfig, model: Any, version: Any) -> int:
    """Every user's explained top-``store_n`` from ``model`` as the current run, tagged with
    ``version`` (the store step with the version's id)."""
    from movierec import steps

    return steps.store(cfg, model=model, model_version=version.id).run_id


def track(cfg: PipelineConfig, version: Any, comparison: Comparison, decision: Decision) -> Any:
    """Record the retrain in MLflow (see :mod:`movierec.tracking`)."""
    from movierec import tracking

    return tracking.record(
        "retrain",
        cfg.layout,
        params={
            "model": version.model,
            "params": version.params,
            "production_version": comparison.production_version,
            "promote_margin": cfg.promote_margin,
            "holdout_last": HOLDOUT_LAST,
            "min_user_ratings": cfg.min_user_ratings,
            "min_item_ratings": cfg.min_item_ratings,
        },
        metrics={
            **comparison.metrics(),
            "promoted": float(decision.promote),
            "version": version.id,
            "n_ratings": version.n_ratings,
        },
        data_fingerprint=version.data_fingerprint,
        artifacts=[(version.file(cfg.home), "model")],
        tags={"model_version": str(version.id)},
    )


# ---------------------------------------------------------------------------------- composition
def direct(fn: Callable[..., T], *args: Any) -> T:
    """Run a stage in this process (the default runner of :func:`retrain`)."""
    return fn(*args)


STAGES: tuple[Callable[..., Any], ...] = (
    read_store,
    holdout,
    compare,
    fit_all,
    register,
    decide,
    promote,
    store_run,
    track,
)
"""Every stage, in order (the flow makes one task of each)."""


def retrain(cfg: PipelineConfig, call: Callable[..., Any] = direct) -> RetrainResult:
    """Run every stage (see the module docstring) through ``call(stage, *args)``: in this
    process by default, as Prefect tasks in :func:`movierec.flows.movierec_retrain`."""
    from movierec import steps

    steps.check(cfg)
    t0 = time.perf_counter()
    data = call(read_store, cfg)
    fold = call(holdout, cfg, data)
    comparison = call(compare, cfg, data, fold)
    model = call(fit_all, cfg, data)
    version = call(register, cfg, data, model, comparison)
    decision = call(decide, cfg, comparison)
    promoted = call(promote, cfg, version, decision)
    run_id = call(store_run, cfg, model, version) if promoted and cfg.store_n > 0 else None
    if promoted:
        version = replace(version, is_production=True)
    tracked = call(track, cfg, version, comparison, decision)
    return RetrainResult(
        version=version,
        decision=decision,
        comparison=comparison,
        n_ratings=len(data.ratings),
        n_read=data.n_read,
        seconds=time.perf_counter() - t0,
        run_id=run_id,
        tracked=tracked,
    )
