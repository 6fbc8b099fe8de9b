"""``evaluate``: fit every requested model on every fold of a protocol and rank them.

The release (``dataset``) is read from ``--source`` (a zip or folder) or its installed copy
(:func:`movierec.data.archive.open_release`), split by the protocol
(:mod:`movierec.evaluation.splits`), and every (fold, model) pair is fitted and scored by
:func:`movierec.evaluation.scoring.run_fold`. The leaderboard is written to
``reports/<protocol>/`` (see :mod:`movierec.evaluation.report`), optionally with the raw
predictions and lists as CSV.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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
from movierec.evaluation.splits import Fold, Protocol, get_protocol, load_protocol
from movierec.evaluation.tuning import tune_model
from movierec.interactions import ITEM_COL, RATING_COL, USER_COL, ItemCatalog
from movierec.models import fitcache
from movierec.models.registry import ENSEMBLES, available_models, model_class

log = logging.getLogger("movierec.evaluation")

_T = TypeVar("_T")

Chosen = Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Mapping[str, Any]]]
"""Parameters per model, the same for every run or one mapping per run."""


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
        protocol: the protocol's folds for the first seed.
        dataset: the release evaluated on.
        source: where its files were read from (a zip, a folder, or the installed copy).
        runs: every (seed, fold) pair to evaluate, in report order (fold names carry
            ``@seed<S>`` when there are several seeds); one seed's folds for a protocol
            that is not random.
        run_seeds: the protocol seed of each run (``None``: not a random protocol).
        filtered: the counts before and after ``min_user_ratings`` / ``min_item_ratings``
            (``None``: the release as it is).
    """

    protocol: Protocol
    catalog: ItemCatalog | None
    dataset: str
    source: str
    models: list[str]
    overrides: dict[str, dict[str, Any]]
    runs: list[Fold] = field(default_factory=list)
    run_seeds: list[int | None] = field(default_factory=list)
    filtered: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if not self.runs:
            self.runs = list(self.protocol.folds)
            self.run_seeds = [None] * len(self.runs)


def resolve_seeds(
    seed: int = 42, seeds: Sequence[int] | str | None = None, repeats: int | None = None
) -> list[int]:
    """The protocol seeds of a run: ``seeds`` (a list or ``"1,2,3"``), else ``repeats``
    consecutive seeds from ``seed`` (``seed, seed+1, …``), else ``[seed]``.

    Raises:
        ConfigError: both ``seeds`` and ``repeats``, a bad seed list or ``repeats < 1``.
    """
    if seeds is not None and repeats is not None:
        raise ConfigError("give either --seeds or --repeats, not both")
    if seeds is not None:
        items = seeds.split(",") if isinstance(seeds, str) else list(seeds)
        try:
            out = [int(str(x).strip()) for x in items if str(x).strip()]
        except ValueError:
            raise ConfigError(f"--seeds expects integers like 1,2,3, got {seeds!r}") from None
        if not out or any(x < 0 for x in out):
            raise ConfigError(f"--seeds expects non-negative integers like 1,2,3, got {seeds!r}")
        return list(dict.fromkeys(out))
    if repeats is not None:
        if int(repeats) < 1:
            raise ConfigError(f"--repeats must be >= 1, got {repeats}")
        return [int(seed) + j for j in range(int(repeats))]
    return [int(seed)]


def protocol_defaults(name: str, carve: str) -> dict[str, Any]:
    """Parameters a protocol sets on a model unless the user did: the validation ``carve``
    of the models that carve their training data (the self-fitting blends)."""
    return {"carve": carve} if "carve" in model_class(name)._param_names() else {}


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
    seeds: Sequence[int] | None = None,
    min_user_ratings: int | None = None,
    min_item_ratings: int | None = None,
) -> Prepared:
    """Validate the request (dataset, protocol, names, hyperparameters, k), read the release
    and build the protocol's folds, once per seed of ``seeds`` (default ``[seed]``) for a
    random protocol, once for the others.

    ``min_user_ratings`` / ``min_item_ratings`` filter the ratings before the protocol
    splits them, exactly as the pipeline's transform step does
    (:func:`movierec.data.transform.transform`: users with fewer ratings, then movies with
    fewer; file order kept); a protocol that reads the release's own split files
    (``ml100k-u1``, ``ml100k-5fold``) cannot be filtered.

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
    overrides = {
        name: {**protocol_defaults(name, protocol_spec.carve), **(params or {}).get(name, {})}
        for name in names
    }
    for name in names:
        build_model(name, overrides[name])
    seed_list = list(seeds) if seeds else [int(seed)]
    if not protocol_spec.random and len(seed_list) > 1:
        log.warning("protocol %s is not random: the seeds give one split, run once", protocol)
    if not protocol_spec.random:
        seed_list = seed_list[:1]
    from movierec.data.transform import check_threshold, transform

    thresholds = {"min_user_ratings": min_user_ratings, "min_item_ratings": min_item_ratings}
    for key, value in thresholds.items():
        if value is not None:
            check_threshold(key, value)
    filtering = min_user_ratings is not None or min_item_ratings is not None
    if filtering and protocol_spec.splits:
        raise ConfigError(
            f"--min-user-ratings / --min-item-ratings filter the ratings before a protocol "
            f"splits them; {protocol} uses the release's own split files"
        )
    with open_release(spec, data_dir, layout) as folder:
        source = str(data_dir) if data_dir is not None else str(folder)
        data = read_release(spec, folder, splits=protocol_spec.splits, source=source)
    filtered = None
    if filtering:
        result = transform(data.ratings, min_user_ratings or 0, min_item_ratings or 0)
        data = dataclasses.replace(data, ratings=result.frame)
        filtered = dataclasses.asdict(result.summary)
    protos = [load_protocol(protocol, data, seed=s, options=split_options) for s in seed_list]
    runs: list[Fold] = []
    run_seeds: list[int | None] = []
    for s, proto in zip(seed_list, protos, strict=True):
        for fold in proto.folds:
            label = f"{fold.name}@seed{s}" if len(seed_list) > 1 else fold.name
            runs.append(dataclasses.replace(fold, name=label))
            run_seeds.append(int(proto.options.get("seed", s)) if protocol_spec.random else None)
    return Prepared(
        protos[0], data.catalog, spec.name, source, names, overrides, runs, run_seeds, filtered
    )


def choose_params(
    prep: Prepared,
    name: str,
    *,
    tune: bool = False,
    k: int = 10,
    seed: int = 42,
    n_trials: int | None = None,
    fold_index: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(params, tuning record)`` for one model on run ``fold_index``: its defaults +
    overrides, or values tuned on a validation carve of that run's training part only
    (nested tuning: every fold tunes on its own training data)."""
    if not tune:
        return build_model(name, prep.overrides.get(name, {})).get_params(), {"tuned": False}
    outcome = tune_model(
        name,
        prep.runs[fold_index],
        prep.protocol.kind,
        prep.catalog,
        k=k,
        seed=seed,
        n_trials=n_trials,
        fixed=prep.overrides.get(name, {}),
        carve=get_protocol(prep.protocol.name).carve,
    )
    return outcome.params, outcome.describe()


def choose_run(
    prep: Prepared,
    i: int,
    *,
    tune: bool = False,
    k: int = 10,
    seed: int = 42,
    n_trials: int | None = None,
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """``{model: (params, tuning record)}`` for every model on run ``i``.

    Without ``tune``: defaults + overrides. With it, every model is tuned on a carve of run
    ``i``'s training part (:func:`choose_params`), and an ensemble's parts that are a
    registered model at its defaults (:func:`~movierec.models.blend.defaulted_parts`) take
    the values tuned for that model on the same carve — tuned here if the model is not
    itself evaluated — so the ensemble is nested-tuned too; its record lists them under
    ``parts``.
    """
    from movierec.models.blend import defaulted_parts, with_tuned_parts

    if not tune:
        return {name: choose_params(prep, name, k=k, seed=seed) for name in prep.models}
    out = {}
    records: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def tuned(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if name not in records:
            records[name] = choose_params(
                prep, name, tune=True, k=k, seed=seed, n_trials=n_trials, fold_index=i
            )
        return records[name]

    for name in sorted(prep.models, key=lambda n: n in ENSEMBLES):
        params, record = tuned(name)
        parts = defaulted_parts(name, params)
        if parts:
            picked = {model: tuned(model) for model in sorted(set(parts.values()))}
            params = with_tuned_parts(name, params, {m: p for m, (p, _) in picked.items()})
            record = {
                **record,
                "tuned": bool(record.get("tuned"))
                or any(bool(rec.get("tuned")) for _, rec in picked.values()),
                "parts": {
                    label: {"model": model, "best_value": picked[model][1].get("best_value")}
                    for label, model in parts.items()
                },
            }
        out[name] = (params, record)
    return out


def split_choices(
    prep: Prepared,
    per_run: Sequence[Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]]],
    tune: bool,
) -> tuple[list[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """:func:`choose_run`'s results of every run as ``(parameters per run, one tuning record
    per model)`` (:func:`tuning_records`)."""
    chosen = [{m: dict(p) for m, (p, _) in run.items()} for run in per_run]
    return chosen, tuning_records(prep, per_run, tune)


def tuning_records(
    prep: Prepared,
    per_run: Sequence[Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]]],
    tune: bool,
) -> dict[str, dict[str, Any]]:
    """One tuning record per model: the first run's, plus ``nested`` / ``per_fold`` (every
    run's chosen values and validation score) when each of several runs was tuned on its
    own (``tune``)."""
    records = {}
    for name in prep.models:
        rec = dict(per_run[0][name][1])
        if tune and len(per_run) > 1:
            rec["nested"] = True
            rec["per_fold"] = [
                {
                    "fold": prep.runs[i].name,
                    "params": run[name][0],
                    "best_value": run[name][1].get("best_value"),
                    "default_value": run[name][1].get("default_value"),
                }  # fmt: skip
                for i, run in enumerate(per_run)
            ]
        records[name] = rec
    return records


def choose_all(
    prep: Prepared,
    *,
    tune: bool = False,
    k: int = 10,
    seed: int = 42,
    n_trials: int | None = None,
    jobs: int = 1,
) -> tuple[list[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Parameters of every model for every run, and one tuning record per model.

    Without ``tune`` every run uses the same parameters. With it, each run tunes on its own
    training part (:func:`choose_run`, in ``jobs`` processes like :func:`fold_outputs`).
    """
    if not tune:
        same = choose_run(prep, 0, k=k, seed=seed)
        per_run = [same] * len(prep.runs)
    else:
        per_run = _map_runs(
            choose_run,
            [(prep, i) for i in range(len(prep.runs))],
            {"tune": True, "k": k, "seed": seed, "n_trials": n_trials},
            jobs,
        )
    return split_choices(prep, per_run, tune)


def assemble(
    prep: Prepared,
    outputs: list[FoldOutput],
    chosen: Chosen,
    tuning: Mapping[str, dict[str, Any]],
    k: int,
    seed: int,
    seconds: float,
) -> Leaderboard:
    """Gather fold results into a :class:`Leaderboard`."""
    proto = prep.protocol
    first = chosen[0] if isinstance(chosen, list) else chosen
    seeds = sorted({s for s in prep.run_seeds if s is not None})
    return Leaderboard(
        protocol=proto.name,
        dataset=prep.dataset,
        kind=proto.kind,
        k=k,
        models=prep.models,
        folds=[f.name for f in prep.runs],
        results=[o.result for o in outputs],
        params=dict(first),
        tuning=dict(tuning),
        info={
            "protocol_options": proto.options,
            "seed": seed,
            "seeds": seeds if seeds else "not a random protocol (one split)",
            "data": prep.source,
            **({"filtered": prep.filtered} if prep.filtered else {}),
            "test_rows": [f"{f.name}: {len(f.test)} ({f.n_cold} cold)" for f in prep.runs],
            "total_seconds": round(seconds, 2),
            "movierec": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        },
    )


def evaluate_one(
    prep: Prepared, fold_index: int, name: str, params: Mapping[str, Any], k: int, keep_rows: bool
) -> FoldOutput:
    """Fit and score model ``name`` (with ``params``) on run ``fold_index``."""
    fold = prep.runs[fold_index]
    log.info("%s: fitting %s on fold %s", prep.protocol.name, name, fold.name)
    out = run_fold(build_model(name, params), fold, prep.catalog, k, keep_rows=keep_rows)
    out.result.model = name
    out.result.seed = prep.run_seeds[fold_index]
    return out


def _of_run(chosen: Chosen, i: int) -> Mapping[str, Mapping[str, Any]]:
    return chosen if isinstance(chosen, Mapping) else chosen[i]


def _one_fold(prep: Prepared, i: int, chosen: Chosen, k: int, keep_rows: bool) -> list[FoldOutput]:
    """Every model on run ``i``, ensembles last so that they reuse the fits of their parts
    made earlier on the same fold (:mod:`movierec.models.fitcache`)."""
    order = sorted(prep.models, key=lambda name: name in ENSEMBLES)
    params = _of_run(chosen, i)
    with fitcache.shared_fits():
        return [evaluate_one(prep, i, n, params[n], k, keep_rows) for n in order]


def _limit_threads(threads: int) -> None:
    """Worker initialiser: ``threads`` numba / BLAS / OpenMP threads in this process."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    threadpool_limits(threads)


def fold_outputs(
    prep: Prepared,
    chosen: Chosen,
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
    runs = _map_runs(
        _one_fold, [(prep, i, chosen, k, keep_rows) for i in range(len(prep.runs))], {}, jobs
    )
    return [out for run in runs for out in run]


def _map_runs(
    fn: Callable[..., _T], calls: Sequence[tuple[Any, ...]], kwargs: Mapping[str, Any], jobs: int
) -> list[_T]:
    """``[fn(*args, **kwargs) for args in calls]``, in a pool of ``jobs`` processes when
    ``jobs > 1`` (``0``: one per core; at most one per call). ``spawn`` workers (no forked
    thread pools) share the cores: each gets ``cores // jobs`` numba and BLAS threads."""
    cores = os.cpu_count() or 1
    jobs = min(int(jobs) if int(jobs) > 0 else cores, len(calls))
    if jobs <= 1:
        return [fn(*args, **kwargs) for args in calls]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    threads = max(1, cores // jobs)
    with ProcessPoolExecutor(jobs, ctx, initializer=_limit_threads, initargs=(threads,)) as pool:
        futures = [pool.submit(fn, *args, **kwargs) for args in calls]
        return [f.result() for f in futures]


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
    seeds: Sequence[int] | str | None = None,
    repeats: int | None = None,
    min_user_ratings: int | None = None,
    min_item_ratings: int | None = None,
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
            validation split carved out of each run's own training part (nested).
        n_trials: trials per model when tuning (default :data:`tuning.DEFAULT_TRIALS`).
        params: ``{model: {param: value}}`` overrides (held fixed when tuning).
        predictions_out / recommendations_out: optional CSV exports (see module docstring).
        report_dir: override the report folder.
        seed: seed of random protocols and of the tuner.
        seeds: several protocol seeds (a list or ``"1,2,3"``): a random protocol runs once
            per seed and every figure is a mean ± sd over seeds × folds (with a 95 %
            t-interval and paired tests of the top model, see :mod:`.stats`).
        repeats: ``seeds = seed, seed+1, …, seed+repeats-1`` (not with ``seeds``).
        min_user_ratings / min_item_ratings: filter the ratings before splitting, as the
            pipeline does (see :func:`prepare`; default: no filter).
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
        seeds=resolve_seeds(seed, seeds, repeats),
        min_user_ratings=min_user_ratings,
        min_item_ratings=min_item_ratings,
    )
    chosen, tuning = choose_all(prep, tune=tune, k=k, seed=seed, n_trials=n_trials, jobs=jobs)
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
    if board.seeds():
        lines.append(f"mean over seeds {', '.join(map(str, board.seeds()))} × folds")
    for t in board.paired_tests().values():
        lines.append(
            f"paired t-test over {t['n_users']} users, {t['model']} - {t['against']}: "
            f"{t['metric']} {t['mean_diff']:+.4f} (95 % CI {t['ci_low']:+.4f} .. "
            f"{t['ci_high']:+.4f}), p = {t['p']:.3g}"
        )
    return "\n".join(lines)
