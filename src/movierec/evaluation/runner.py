"""``evaluate``: fit every requested model on every fold of a protocol and rank them.

The release (``dataset``) is read from ``--source`` (a zip or folder) or its installed copy
(:func:`movierec.data.archive.open_release`), split by the protocol
(:mod:`movierec.evaluation.splits`), and every (fold, model) pair is fitted and scored by
:func:`movierec.evaluation.scoring.run_fold`. The leaderboard is written to
``reports/<protocol>/`` (see :mod:`movierec.evaluation.report`), optionally with the raw
predictions and lists as CSV.
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
from movierec.data.archive import open_release
from movierec.data.datasets import get_dataset
from movierec.errors import ConfigError
from movierec.evaluation.data import read_release
from movierec.evaluation.report import Leaderboard, write_report
from movierec.evaluation.scoring import FoldOutput, build_model, run_fold
from movierec.evaluation.splits import Protocol, get_protocol, load_protocol
from movierec.evaluation.tuning import tune_model
from movierec.interactions import ITEM_COL, RATING_COL, USER_COL, ItemCatalog
from movierec.models import fitcache
from movierec.models.registry import ENSEMBLES, available_models

log = logging.getLogger("movierec.evaluation")


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


def _default_layout(layout: Layout | None) -> Layout:
    if layout is not None:
        return layout
    settings = get_settings()
    return Layout(settings.home.expanduser(), settings.dataset)


@dataclass
class Prepared:
    """Everything :func:`evaluate` needs before fitting: folds, catalogue, validated names.

    Attributes:
        dataset: the release evaluated on.
        source: where its files were read from (a zip, a folder, or the installed copy).
    """

    protocol: Protocol
    catalog: ItemCatalog | None
    dataset: str
    source: str
    models: list[str]
    overrides: dict[str, dict[str, Any]]


def prepare(
    protocol: str,
    models: str | Sequence[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    layout: Layout | None = None,
    dataset: str | None = None,
    k: int = 10,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 42,
    split_options: Mapping[str, Any] | None = None,
) -> Prepared:
    """Validate the request (dataset, protocol, names, hyperparameters, k), read the release
    and build the protocol's folds.

    ``dataset`` defaults to ``layout.dataset``. The release is read from ``data_dir`` (a
    zip, extracted into a temporary folder removed once read, or a folder) or else from
    the installed ``data/raw/<dataset>/`` of ``layout``. Every user error surfaces here,
    before any model is fitted.
    """
    layout = _default_layout(layout)
    spec = get_dataset(dataset or layout.dataset)
    protocol_spec = get_protocol(protocol, spec.name)
    if int(k) < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    names = parse_models(models)
    bad = sorted(set(params or {}) - set(names))
    if bad:
        raise ConfigError(f"parameters given for model(s) not evaluated: {', '.join(bad)}")
    overrides = {name: dict((params or {}).get(name, {})) for name in names}
    for name in names:
        build_model(name, overrides[name])
    with open_release(spec, data_dir, layout) as folder:
        source = str(data_dir) if data_dir is not None else str(folder)
        data = read_release(spec, folder, splits=protocol_spec.splits, source=source)
    proto = load_protocol(protocol, data, seed=seed, options=split_options)
    return Prepared(proto, data.catalog, spec.name, source, names, overrides)


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
        dataset=prep.dataset,
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
            "data": prep.source,
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
    dataset: str | None = None,
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
        data_dir: the release's zip or extracted folder (or its parent); default: the
            layout's ``data/raw/<dataset>``.
        layout: working-directory layout (reports go to ``layout.reports_dir/<protocol>``).
        dataset: the release (a registry name) the protocol must apply to; default:
            ``layout.dataset`` (``MOVIEREC_DATASET``, ml-100k).
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
        ConfigError: unknown dataset/protocol/model, a protocol not for the dataset, an
            invalid hyperparameter or k.
        DataError: data or split files missing.
    """
    prep = prepare(
        protocol,
        models,
        data_dir=data_dir,
        layout=layout,
        dataset=dataset,
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
        reports = _default_layout(layout).reports_dir
        target = Path(report_dir) if report_dir else reports / board.protocol
        write_outputs(board, target, outputs, predictions_out, recommendations_out)
    return board


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
    lines = [
        f"protocol {board.protocol} on {board.dataset} ({len(board.folds)} fold(s)), K={board.k}"
    ]
    lines.append(f"{'model':12s}" + "".join(f"{c:>14s}" for c in cols) + f"{'fit s':>9s}")
    for _, row in s.iterrows():
        cells = "".join(
            f"{row[f'{c}_mean']:>14.4f}" if np.isfinite(row[f"{c}_mean"]) else f"{'':>14s}"
            for c in cols
        )
        lines.append(f"{row['model']:12s}{cells}{row['fit_s']:>9.2f}")
    return "\n".join(lines)
