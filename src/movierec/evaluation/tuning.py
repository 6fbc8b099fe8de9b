"""``--tune``: a small, seeded Optuna (TPE) search per model on a validation split.

The validation split is carved out of a fold's *training* part only (see
:func:`validation_fold`), so the test part is never looked at; the model's shipped defaults
are enqueued as the first trial, so a tuned value is never worse on validation.
The objective is validation RMSE for models that predict ratings under a rating protocol,
and validation NDCG@K otherwise (ranking protocols, ranking-only models).

:data:`SEARCH_SPACES` declares a small space per model name. A parameter the model class does
not accept is skipped with a warning (models evolve; the space must not break them).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from movierec.errors import ConfigError
from movierec.evaluation.scoring import build_model, run_fold
from movierec.evaluation.splits import Fold, make_fold, per_user_holdout, python_stratified_split
from movierec.interactions import ItemCatalog
from movierec.models.registry import model_class

log = logging.getLogger("movierec.evaluation")

DEFAULT_TRIALS = 12
VALIDATION_FRACTION = 0.1

# name -> {param: spec}; spec is ("int", lo, hi[, step]) | ("float", lo, hi, log: bool)
# | ("cat", [choices]).
SEARCH_SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    "popularity": {"method": ("cat", ["count", "damped_mean"]), "damping": ("float", 0, 50, False)},
    "baseline": {"reg_u": ("float", 1, 30, False), "reg_i": ("float", 1, 30, False)},
    "user-knn": {
        "k": ("int", 10, 100, 10),
        "shrinkage": ("float", 0, 100, False),
        "similarity": ("cat", ["cosine", "pearson"]),
        "rating_damping": ("float", 0, 100, False),
    },
    "item-knn": {
        "k": ("int", 10, 100, 10),
        "shrinkage": ("float", 0, 200, False),
        "similarity": ("cat", ["cosine", "pearson", "pearson_baseline"]),
    },
    "svd": {
        "factors": ("int", 20, 300, 20),
        "epochs": ("int", 10, 100, 10),
        "lr": ("float", 0.002, 0.02, True),
        "reg": ("float", 0.01, 0.15, True),
    },
    "svdpp": {
        "factors": ("int", 10, 200, 10),
        "epochs": ("int", 10, 50, 5),
        "lr": ("float", 0.002, 0.02, True),
        "reg": ("float", 0.01, 0.15, True),
    },
    "als": {
        "factors": ("int", 10, 100, 10),
        "iterations": ("int", 5, 25, 5),
        "reg": ("float", 0.02, 0.5, True),
    },
    "autorec": {
        "hidden": ("int", 100, 800, 100),
        "epochs": ("int", 10, 60, 10),
        "reg": ("float", 50.0, 450.0, True),
        "lr": ("float", 0.002, 0.01, True),
    },
    "ials": {
        "factors": ("int", 16, 256, 16),
        "iterations": ("int", 5, 30, 5),
        "reg": ("float", 1e-3, 100.0, True),
        "alpha": ("float", 0.5, 50.0, True),
    },
    "bpr": {
        "factors": ("int", 16, 256, 16),
        "iterations": ("int", 20, 200, 20),
        "lr": ("float", 0.001, 0.1, True),
        "reg": ("float", 1e-4, 0.1, True),
    },
    "ease": {"reg": ("float", 10.0, 2000.0, True), "binarize": ("cat", [True, False])},
    "edlae": {"reg": ("float", 50.0, 2000.0, True), "dropout": ("float", 0.05, 0.6, False)},
    "rp3beta": {
        "alpha": ("float", 0.2, 1.5, False),
        "beta": ("float", 0.0, 1.0, False),
        "k": ("int", 50, 400, 50),
    },
    "local-ease": {
        "window": ("int", 4, 48, 2),
        "reg": ("float", 5.0, 2000.0, True),
        "overlap": ("cat", [True, False]),
    },
    "content": {
        "genre_weight": ("float", 0.0, 2.0, False),
        "year_weight": ("float", 0.0, 2.0, False),
        "title_weight": ("float", 0.0, 1.0, False),
    },
    "hybrid": {"beta": ("float", 0.5, 100.0, True)},
    "slist": {
        "reg": ("float", 50.0, 5000.0, True),
        "alpha": ("float", 0.0, 1.0, False),
        "window": ("int", 1, 20),
        "decay": ("float", 0.5, 20.0, True),
        "decay_score": ("float", 1.0, 100.0, True),
    },
}


@dataclass
class TuneOutcome:
    """Best parameters found and how."""

    model: str
    params: dict[str, Any]
    objective: str
    best_value: float | None
    n_trials: int
    validation: str
    history: list[dict[str, Any]] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)
    default_value: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "tuned": self.n_trials > 0,
            "method": "optuna TPE (seeded)",
            "objective": self.objective,
            "best_value": self.best_value,
            "n_trials": self.n_trials,
            "validation": self.validation,
            "searched": sorted(self.searched),
            "default_value": self.default_value,
        }


def search_space(name: str) -> dict[str, tuple[Any, ...]]:
    """The declared space of ``name`` restricted to parameters its class accepts."""
    accepted = set(model_class(name)._param_names())
    space = SEARCH_SPACES.get(name, {})
    skipped = sorted(set(space) - accepted)
    if skipped:
        log.warning("tuning %s: skipping unknown parameter(s) %s", name, ", ".join(skipped))
    return {p: spec for p, spec in space.items() if p in accepted}


def validation_fold(
    fold: Fold, seed: int = 42, kind: str = "rating", carve: str = "random"
) -> tuple[Fold, str]:
    """A (train', validation) fold carved from ``fold.train`` only, and its description.

    Rating protocols: a :data:`VALIDATION_FRACTION` per-user holdout, seeded random
    (``carve="random"``) or each user's newest ratings (``carve="newest"``, time-split
    protocols; :func:`~movierec.evaluation.splits.per_user_holdout`). Ranking protocols
    (``stratified-75-25``): the protocol's own split applied again to the training part
    (``python_stratified_split(train, 0.75, filter_by="item", seed=seed + 1)``) so the
    validation task looks like the test task.
    """
    train_frame = fold.train.to_frame()
    if kind == "ranking":
        sub, val = python_stratified_split(train_frame, 0.75, filter_by="item", seed=seed + 1)
        how = f"stratified 75/25 item split (seed {seed + 1}) of the training part"
    elif carve == "newest":
        sub, val = per_user_holdout(train_frame, VALIDATION_FRACTION, how="newest")
        how = (
            f"each user's newest {VALIDATION_FRACTION:.0%} of ratings held out of the training part"
        )
    else:
        sub, val = per_user_holdout(train_frame, VALIDATION_FRACTION, seed=seed)
        how = (
            f"seeded {VALIDATION_FRACTION:.0%} per-user holdout (seed {seed}) of the training part"
        )
    scale = fold.train.rating_scale
    return make_fold(f"validation({fold.name})", sub, val, scale), f"{how} of fold {fold.name}"


def tune_model(
    name: str,
    fold: Fold,
    kind: str,
    catalog: ItemCatalog | None,
    *,
    k: int = 10,
    seed: int = 42,
    n_trials: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    carve: str = "random",
) -> TuneOutcome:
    """Search ``name``'s space on a validation split of ``fold.train``.

    Args:
        name: registry model name.
        fold: the fold whose training part is split for validation.
        kind: protocol kind (``"rating"``: RMSE for rating models; else NDCG@K).
        catalog: movie metadata passed to ``fit``.
        k: K of the NDCG objective.
        seed: seeds the validation carve-out and the TPE sampler.
        n_trials: number of trials (0 disables the search; default :data:`DEFAULT_TRIALS`).
        fixed: parameters held fixed (user overrides), never searched.
        carve: how the validation part is carved (the protocol's, see
            :func:`validation_fold`).

    Returns:
        the best parameters (full ``get_params()`` dict) and the search record.
    """
    try:
        import optuna
    except ImportError:  # pragma: no cover - optuna ships in the dev extra
        raise ConfigError("--tune needs optuna: pip install 'movierec[dev]'") from None

    fixed = dict(fixed or {})
    space = {p: s for p, s in search_space(name).items() if p not in fixed}
    n_trials = DEFAULT_TRIALS if n_trials is None else int(n_trials)
    if n_trials < 0:
        raise ConfigError(f"n_trials must be >= 0, got {n_trials}")
    rating = kind == "rating" and model_class(name).predicts_ratings
    objective_name = "RMSE" if rating else f"NDCG@{k}"
    val, where = validation_fold(fold, seed, kind, carve)
    if not space or n_trials == 0:
        params = build_model(name, fixed).get_params()
        return TuneOutcome(name, params, objective_name, None, 0, where)

    history: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        params = dict(fixed)
        for p, spec in space.items():
            params[p] = _suggest(trial, p, spec)
        out = run_fold(build_model(name, params), val, catalog, k, curves=False)
        value = out.result.metrics.get(objective_name)
        if value is None:
            raise ConfigError(f"{name} produced no {objective_name} on the validation split")
        history.append({"params": params, "value": value})
        return float(value)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize" if rating else "maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    defaults = build_model(name, fixed).get_params()
    start = {p: defaults[p] for p, spec in space.items() if _in_space(defaults[p], spec)}
    if start:  # the shipped defaults are trial 0: tuning never does worse on validation
        study.enqueue_trial(start, skip_if_exists=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
        study.optimize(objective, n_trials=n_trials)
    best = {**fixed, **study.best_trial.params}
    params = build_model(name, best).get_params()
    log.info("tuned %s: %s = %.4f with %s", name, objective_name, study.best_value, best)
    default_value = history[0]["value"] if start and len(start) == len(space) else None
    return TuneOutcome(
        name,
        params,
        objective_name,
        float(study.best_value),
        n_trials,
        where,
        history,
        searched=list(space),
        default_value=default_value,
    )


def _in_space(value: Any, spec: tuple[Any, ...]) -> bool:
    """Whether a default value can be enqueued as a trial of ``spec``.

    Numbers always can (Optuna evaluates an enqueued value even outside the searched range,
    so shipped defaults tuned elsewhere stay the reference); categories must be a choice.
    """
    if spec[0] == "cat":
        return any(value == c and type(value) is type(c) for c in spec[1])
    return isinstance(value, int | float) and not isinstance(value, bool)


def _suggest(trial: Any, name: str, spec: tuple[Any, ...]) -> Any:
    kind = spec[0]
    if kind == "int":
        step = spec[3] if len(spec) > 3 else 1
        return trial.suggest_int(name, int(spec[1]), int(spec[2]), step=int(step))
    if kind == "float":
        return trial.suggest_float(name, float(spec[1]), float(spec[2]), log=bool(spec[3]))
    if kind == "cat":
        return trial.suggest_categorical(name, list(spec[1]))
    raise ValueError(f"unknown search-space kind {kind!r} for {name}")
