"""``evaluate``: fit every requested model on every fold of a protocol and rank them.

For each fold and model: fit on the training part (timed); for rating-prediction models,
predict every test pair (RMSE, MAE; cold pairs get the training global mean, and
predictions are clipped to the rating scale, as Surprise does); recommend the top
``max(K, 20)`` unseen items for every test user known to training (timed) and score them
with every held-out item relevant whatever its rating (Microsoft Recommenders' protocol);
compute catalogue coverage, novelty, intra-list genre diversity and personalisation on the
top-``K`` lists. The leaderboard is written to ``reports/<protocol>/`` (see
:mod:`movierec.evaluation.report`), optionally with the raw predictions and lists as CSV.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec import __version__
from movierec.atomic import atomic_path
from movierec.config import Layout, get_settings
from movierec.errors import ConfigError, NotSupportedError
from movierec.evaluation import metrics as M
from movierec.evaluation.data import read_items, resolve_ml100k_dir
from movierec.evaluation.report import FoldResult, Leaderboard, write_report
from movierec.evaluation.splits import Fold, Protocol, load_protocol
from movierec.interactions import ITEM_COL, RATING_COL, USER_COL, ItemCatalog
from movierec.models import fitcache
from movierec.models.base import Recommender
from movierec.models.registry import ENSEMBLES, available_models, make_model

log = logging.getLogger("movierec.evaluation")

CURVE_K = 20


@dataclass
class FoldOutput:
    """A :class:`FoldResult` plus the raw rows behind it (for the CSV exports)."""

    result: FoldResult
    predictions: pd.DataFrame | None
    recommendations: pd.DataFrame


def parse_models(models: str | Sequence[str]) -> list[str]:
    """``"svd, knn"`` or ``["svd", "knn"]`` -> ``["svd", "knn"]`` (order kept, no duplicates).

    ``"all"`` means every registered model.
    """
    items = models.split(",") if isinstance(models, str) else list(models)
    names = list(dict.fromkeys(m.strip() for m in items if m and m.strip()))
    if names == ["all"]:
        return available_models()
    if not names:
        raise ConfigError("no model given; pass --models a,b,c (see 'movierec models')")
    return names


def build_model(name: str, params: Mapping[str, Any]) -> Recommender:
    """Instantiate and validate ``name`` with ``params`` (ConfigError on a bad name/value)."""
    model = make_model(name, **dict(params))
    model._validate()
    return model


def run_fold(
    model: Recommender,
    fold: Fold,
    catalog: ItemCatalog | None,
    k: int = 10,
    *,
    curves: bool = True,
    keep_rows: bool = False,
) -> FoldOutput:
    """Fit ``model`` on ``fold.train`` and compute every metric on ``fold.test``.

    Args:
        model: an unfitted recommender (it is fitted in place).
        fold: the split.
        catalog: movie metadata (genres for diversity; passed to ``fit``).
        k: list length of the @K metrics.
        curves: also compute Precision/Recall@1..20.
        keep_rows: return the raw prediction and recommendation frames.
    """
    train, test = fold.train, fold.test
    t0 = time.perf_counter()
    model = fitcache.fit(model, train, catalog)  # a fit shared within fitcache.shared_fits()
    fit_s = time.perf_counter() - t0
    values: dict[str, float] = {}

    # ---- rating prediction
    predict_s: float | None = None
    pred_frame = None
    if model.predicts_ratings:
        known = ((test["user_row"] >= 0) & (test["item_col"] >= 0)).to_numpy()
        lo, hi = train.rating_scale
        pred = np.full(len(test), float(train.matrix.data.mean()), dtype=np.float64)
        try:
            t0 = time.perf_counter()
            got = model.predict_rows(
                test["user_row"].to_numpy()[known], test["item_col"].to_numpy()[known]
            )
            predict_s = time.perf_counter() - t0
        except NotSupportedError as exc:
            log.info("%s: %s; rating metrics left blank", model.name, exc)
        else:
            pred[known] = np.asarray(got, dtype=np.float64)
            pred = np.clip(pred, lo, hi)
            truth = test[RATING_COL].to_numpy(dtype=np.float64)
            values["RMSE"] = M.rmse(truth, pred)
            values["MAE"] = M.mae(truth, pred)
            if keep_rows:
                pred_frame = pd.DataFrame(
                    {
                        USER_COL: test[USER_COL].to_numpy(),
                        ITEM_COL: test[ITEM_COL].to_numpy(),
                        RATING_COL: truth,
                        "prediction": pred,
                    }
                )

    # ---- ranking
    users = np.unique(test.loc[test["user_row"] >= 0, USER_COL].to_numpy(dtype=np.int64))
    length = max(int(k), CURVE_K if curves else int(k))
    t0 = time.perf_counter()
    rec_ids, rec_scores = model.recommend(users, n=length, exclude_seen=True)
    recommend_s = time.perf_counter() - t0
    hits, n_rel = M.hit_matrix(rec_ids, users, test[USER_COL], test[ITEM_COL])
    values[f"Precision@{k}"] = M.precision_at_k(hits, k)
    values[f"Recall@{k}"] = M.recall_at_k(hits, n_rel, k)
    values[f"NDCG@{k}"] = M.ndcg_at_k(hits, n_rel, k)
    values[f"MAP@{k}"] = M.map_at_k(hits, n_rel, k)
    values[f"MRR@{k}"] = M.mrr(hits, k)
    values[f"HitRate@{k}"] = M.hit_rate_at_k(hits, k)
    top = rec_ids[:, :k]
    cols = np.full(top.shape, -1, dtype=np.int64)
    valid = top >= 0
    cols[valid] = train.items.index(top[valid])
    counts = np.diff(train.matrix.tocsc().indptr)
    values[f"Coverage@{k}"] = M.catalogue_coverage(cols, train.n_items)
    values[f"Novelty@{k}"] = M.novelty(cols, counts / max(train.n_users, 1))
    if catalog is not None:
        genres, _ = catalog.genre_matrix(train.items.ids)
        values[f"Diversity@{k}"] = M.intra_list_diversity(cols, genres)
    values[f"Personalization@{k}"] = M.personalization(cols, train.n_items)
    curve = {}
    if curves:
        ks = range(1, CURVE_K + 1)
        curve = {
            "precision": [M.precision_at_k(hits, j) for j in ks],
            "recall": [M.recall_at_k(hits, n_rel, j) for j in ks],
        }
    rec_frame = pd.DataFrame()
    if keep_rows:
        r, c = np.nonzero(valid)
        rec_frame = pd.DataFrame(
            {
                USER_COL: users[r],
                "rank": c + 1,
                ITEM_COL: top[r, c],
                "score": rec_scores[:, :k][r, c],
            }
        )
    result = FoldResult(
        model=model.name,
        fold=fold.name,
        metrics=values,
        fit_s=fit_s,
        predict_s=predict_s,
        recommend_s=recommend_s,
        curves=curve,
        n_test=len(test),
        n_cold=fold.n_cold,
        n_users=int(users.size),
    )
    return FoldOutput(result, pred_frame, rec_frame)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None, layout: Layout | None) -> Path:
    """``data_dir`` if given, else the layout's ``data/raw/ml-100k`` (DataError if absent)."""
    if data_dir is not None:
        return resolve_ml100k_dir(data_dir)
    if layout is None:
        settings = get_settings()
        layout = Layout(settings.home.expanduser(), settings.dataset)
    return resolve_ml100k_dir(layout.dataset_dir)


@dataclass
class Prepared:
    """Everything :func:`evaluate` needs before fitting: folds, catalogue, validated names."""

    protocol: Protocol
    catalog: ItemCatalog | None
    data_dir: Path
    models: list[str]
    overrides: dict[str, dict[str, Any]]


def prepare(
    protocol: str,
    models: str | Sequence[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    layout: Layout | None = None,
    k: int = 10,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 42,
    split_options: Mapping[str, Any] | None = None,
) -> Prepared:
    """Validate the request (names, hyperparameters, k) and load the protocol's folds.

    Every user error surfaces here, before any model is fitted.
    """
    if int(k) < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    names = parse_models(models)
    bad = sorted(set(params or {}) - set(names))
    if bad:
        raise ConfigError(f"parameters given for model(s) not evaluated: {', '.join(bad)}")
    overrides = {name: dict((params or {}).get(name, {})) for name in names}
    for name in names:
        build_model(name, overrides[name])
    directory = resolve_data_dir(data_dir, layout)
    proto = load_protocol(protocol, directory, seed=seed, options=split_options)
    catalog = read_items(directory) if (directory / "u.item").is_file() else None
    return Prepared(proto, catalog, directory, names, overrides)


def choose_params(
    prep: Prepared,
    name: str,
    *,
    tune: bool = False,
    k: int = 10,
    seed: int = 42,
    n_trials: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(params, tuning record)`` for one model: its defaults + overrides, or tuned values."""
    if not tune:
        return build_model(name, prep.overrides[name]).get_params(), {"tuned": False}
    from movierec.evaluation.tuning import tune_model

    outcome = tune_model(
        name,
        prep.protocol.folds[0],
        prep.protocol.kind,
        prep.catalog,
        k=k,
        seed=seed,
        n_trials=n_trials,
        fixed=prep.overrides[name],
    )
    return outcome.params, outcome.describe()


def assemble(
    prep: Prepared,
    outputs: list[FoldOutput],
    chosen: Mapping[str, dict[str, Any]],
    tuning: Mapping[str, dict[str, Any]],
    k: int,
    seed: int,
    seconds: float,
) -> Leaderboard:
    """Gather fold results into a :class:`Leaderboard`."""
    proto = prep.protocol
    return Leaderboard(
        protocol=proto.name,
        kind=proto.kind,
        k=k,
        models=prep.models,
        folds=[f.name for f in proto.folds],
        results=[o.result for o in outputs],
        params=dict(chosen),
        tuning=dict(tuning),
        info={
            "protocol_options": proto.options,
            "seed": seed,
            "data": str(prep.data_dir),
            "test_rows": [f"{f.name}: {len(f.test)} ({f.n_cold} cold)" for f in proto.folds],
            "total_seconds": round(seconds, 2),
            "movierec": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        },
    )


def evaluate_one(
    prep: Prepared, fold_index: int, name: str, params: Mapping[str, Any], k: int, keep_rows: bool
) -> FoldOutput:
    """Fit and score model ``name`` (with ``params``) on fold ``fold_index``."""
    fold = prep.protocol.folds[fold_index]
    log.info("%s: fitting %s on fold %s", prep.protocol.name, name, fold.name)
    out = run_fold(build_model(name, params), fold, prep.catalog, k, keep_rows=keep_rows)
    out.result.model = name
    return out


def _one_fold(
    prep: Prepared, i: int, chosen: Mapping[str, Mapping[str, Any]], k: int, keep_rows: bool
) -> list[FoldOutput]:
    """Every model on fold ``i``, ensembles last so that they reuse the fits of their parts
    made earlier on the same fold (:mod:`movierec.models.fitcache`)."""
    order = sorted(prep.models, key=lambda name: name in ENSEMBLES)
    with fitcache.shared_fits():
        return [evaluate_one(prep, i, n, chosen[n], k, keep_rows) for n in order]


def _limit_threads(threads: int) -> None:
    """Worker initialiser: ``threads`` numba / BLAS / OpenMP threads in this process."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    threadpool_limits(threads)


def fold_outputs(
    prep: Prepared,
    chosen: Mapping[str, Mapping[str, Any]],
    k: int,
    keep_rows: bool,
    jobs: int = 1,
) -> list[FoldOutput]:
    """Evaluate every model on every fold, fold by fold (the order of the report).

    With ``jobs > 1`` the folds run in a pool of ``jobs`` processes (``spawn``: no forked
    thread pools) that share the cores: each gets ``cores // jobs`` numba and BLAS threads,
    so most models, single-threaded in their hot loops, keep every core busy. Models are
    seeded and folds independent, so the figures are those of a serial run (up to float
    summation order in multi-threaded BLAS). ``jobs = 0`` means one per core, at most one
    per fold. Models must be registered in :mod:`movierec.models.registry` (the workers
    import it afresh).
    """
    n_folds = len(prep.protocol.folds)
    cores = os.cpu_count() or 1
    jobs = min(int(jobs) if int(jobs) > 0 else cores, n_folds)
    if jobs <= 1:
        return [out for i in range(n_folds) for out in _one_fold(prep, i, chosen, k, keep_rows)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    threads = max(1, cores // jobs)
    with ProcessPoolExecutor(jobs, ctx, initializer=_limit_threads, initargs=(threads,)) as pool:
        futures = [
            pool.submit(_one_fold, prep, i, dict(chosen), k, keep_rows) for i in range(n_folds)
        ]
        return [out for f in futures for out in f.result()]


def evaluate(
    protocol: str,
    models: str | Sequence[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    layout: Layout | None = None,
    k: int = 10,
    tune: bool = False,
    n_trials: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    predictions_out: str | os.PathLike[str] | None = None,
    recommendations_out: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
    seed: int = 42,
    split_options: Mapping[str, Any] | None = None,
    write: bool = True,
    jobs: int = 1,
) -> Leaderboard:
    """Evaluate ``models`` under ``protocol`` and write the leaderboard.

    Args:
        protocol: a name from :data:`movierec.evaluation.splits.PROTOCOLS`.
        models: model names (list or comma-separated string).
        data_dir: extracted ml-100k folder (or its parent, or the zip); default: the
            layout's ``data/raw/ml-100k``.
        layout: working-directory layout (reports go to ``layout.reports_dir/<protocol>``).
        k: list length of the @K metrics (>= 1).
        tune: search hyperparameters first (see :mod:`movierec.evaluation.tuning`) on a
            validation split carved out of the first fold's training part.
        n_trials: trials per model when tuning (default :data:`tuning.DEFAULT_TRIALS`).
        params: ``{model: {param: value}}`` overrides (held fixed when tuning).
        predictions_out / recommendations_out: optional CSV exports (see module docstring).
        report_dir: override the report folder.
        seed: seed of random protocols and of the tuner.
        split_options: protocol options (``n_folds``, ``n_last``, ``time_cut``).
        write: write the report (False: just return the leaderboard).
        jobs: folds evaluated at once, each in its own process (``0``: one per core, at most
            one per fold); see :func:`fold_outputs`.

    Raises:
        ConfigError: unknown protocol/model, invalid hyperparameter or k.
        DataError: data or split files missing.
    """
    prep = prepare(
        protocol,
        models,
        data_dir=data_dir,
        layout=layout,
        k=k,
        params=params,
        seed=seed,
        split_options=split_options,
    )
    chosen: dict[str, dict[str, Any]] = {}
    tuning: dict[str, dict[str, Any]] = {}
    for name in prep.models:
        chosen[name], tuning[name] = choose_params(
            prep, name, tune=tune, k=k, seed=seed, n_trials=n_trials
        )
    keep_rows = predictions_out is not None or recommendations_out is not None
    started = time.perf_counter()
    outputs = fold_outputs(prep, chosen, int(k), keep_rows, jobs)
    board = assemble(prep, outputs, chosen, tuning, int(k), seed, time.perf_counter() - started)
    if write:
        target = Path(report_dir) if report_dir else _reports_root(layout) / board.protocol
        write_outputs(board, target, outputs, predictions_out, recommendations_out)
    return board


def _reports_root(layout: Layout | None) -> Path:
    if layout is None:
        settings = get_settings()
        layout = Layout(settings.home.expanduser(), settings.dataset)
    return layout.reports_dir


def write_outputs(
    board: Leaderboard,
    target: Path,
    outputs: list[FoldOutput],
    predictions_out: str | os.PathLike[str] | None,
    recommendations_out: str | os.PathLike[str] | None,
) -> None:
    """Write the CSV exports and the report; every file is renamed in place only at the end."""
    several = len(board.folds) > 1
    with ExitStack() as stack:
        if predictions_out is not None:
            frames = [
                o.predictions.assign(model=o.result.model, fold=o.result.fold)
                for o in outputs
                if o.predictions is not None
            ]
            cols = ["model", USER_COL, ITEM_COL, RATING_COL, "prediction"]
            _csv(stack, predictions_out, frames, cols + (["fold"] if several else []))
        if recommendations_out is not None:
            frames = [
                o.recommendations.assign(model=o.result.model, fold=o.result.fold) for o in outputs
            ]
            cols = ["model", USER_COL, "rank", ITEM_COL, "score"]
            _csv(stack, recommendations_out, frames, cols + (["fold"] if several else []))
        write_report(board, target)


def _csv(
    stack: ExitStack, path: str | os.PathLike[str], frames: list[pd.DataFrame], cols: list[str]
) -> None:
    tmp = stack.enter_context(atomic_path(path))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    frame.reindex(columns=cols).to_csv(tmp, index=False, float_format="%.6g")


def split_model_params(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"svd.factors": 50}`` -> ``{"svd": {"factors": 50}}`` (CLI ``--param MODEL.NAME=V``)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        model, sep, name = key.partition(".")
        if not sep or not model or not name:
            raise ConfigError(f"evaluate --param expects MODEL.NAME=VALUE, got {key!r}")
        out.setdefault(model, {})[name] = value
    return out


def summary_text(board: Leaderboard) -> str:
    """A short plain-text leaderboard for the terminal (headline metrics and fit time)."""
    s = board.sorted_summary()
    cols = [
        c for c in ("RMSE", "MAE", f"Precision@{board.k}", f"NDCG@{board.k}") if f"{c}_mean" in s
    ]
    lines = [f"protocol {board.protocol} ({len(board.folds)} fold(s)), K={board.k}"]
    lines.append(f"{'model':12s}" + "".join(f"{c:>14s}" for c in cols) + f"{'fit s':>9s}")
    for _, row in s.iterrows():
        cells = "".join(
            f"{row[f'{c}_mean']:>14.4f}" if np.isfinite(row[f"{c}_mean"]) else f"{'':>14s}"
            for c in cols
        )
        lines.append(f"{row['model']:12s}{cells}{row['fit_s']:>9.2f}")
    return "\n".join(lines)
