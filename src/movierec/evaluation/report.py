"""The leaderboard value type and its writers (Markdown, CSV, JSON, PNG plots).

A report directory ``reports/<protocol>/`` holds::

    leaderboard.md    table: mean ± std over folds per model, times, params, tuning
    leaderboard.csv   one row per model: <metric>_mean, <metric>_std, times
    leaderboard.json  everything, including per-fold figures and P/R@K curves
    metrics.png       bars of each metric with ±std error bars
    accuracy_vs_time.png   NDCG@K (and RMSE) against fit time
    precision_recall_at_k.png   Precision@K and Recall@K for K = 1..20

:func:`write_report` renders everything into a temporary directory and renames it into
place, so a failure never leaves a partial report (the previous one is kept).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movierec.atomic import atomic_path
from movierec.evaluation.stats import INTERVAL, PAIRED, paired_test, per_user_mean, t_interval
from movierec.jsonable import json_safe
from movierec.models.registry import ENSEMBLES

TIME_COLUMNS = ["fit_s", "predict_s", "recommend_s"]


@dataclass
class FoldResult:
    """Figures of one model on one fold.

    Attributes:
        model / fold: names.
        metrics: metric name -> value (``RMSE``/``MAE`` absent for ranking-only models).
        fit_s / predict_s / recommend_s: wall-clock seconds (predict: the test pairs;
            recommend: top-``max(K, 20)`` lists for every test user).
        curves: ``{"precision": [P@1..P@20], "recall": [R@1..R@20]}``.
        n_test / n_cold / n_users: test rows, rows with a user or movie unknown to
            training, users ranked.
        seed: the protocol's seed for this run (``None``: a protocol that is not random).
        per_user: ``{metric: (user ids, values)}`` — each test user's ``NDCG@K`` and, for
            rating models, ``MSE`` (the user's mean squared error), for the paired tests
            (:mod:`movierec.evaluation.stats`); kept in memory, not written to the JSON.
    """

    model: str
    fold: str
    metrics: dict[str, float]
    fit_s: float
    predict_s: float | None
    recommend_s: float
    curves: dict[str, list[float]] = field(default_factory=dict)
    n_test: int = 0
    n_cold: int = 0
    n_users: int = 0
    seed: int | None = None
    per_user: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON view (every field but ``per_user``)."""
        out = {k: v for k, v in vars(self).items() if k != "per_user"}
        return dict(out)


@dataclass
class Leaderboard:
    """Every figure of one ``evaluate`` run.

    Attributes:
        protocol: protocol name (see :mod:`movierec.evaluation.splits`).
        dataset: the release evaluated on (a :mod:`movierec.data.datasets` name).
        kind: ``"rating"`` or ``"ranking"``.
        k: list length of the @K metrics.
        models: model names in request order.
        folds: fold names.
        results: one :class:`FoldResult` per (fold, model).
        params: model -> hyperparameters used (after tuning).
        tuning: model -> ``{"tuned": bool, "objective", "validation", "n_trials",
            "best_value"}``.
        info: protocol options, seed, data source, package version, creation time.
        ensembles: names of models built from others (not "single" models in the tests).
    """

    protocol: str
    dataset: str
    kind: str
    k: int
    models: list[str]
    folds: list[str]
    results: list[FoldResult]
    params: dict[str, dict[str, Any]]
    tuning: dict[str, dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    ensembles: frozenset[str] = ENSEMBLES

    # ------------------------------------------------------------------ views
    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for r in self.results:
            names.update(dict.fromkeys(r.metrics))
        first = [m for m in ("RMSE", "MAE") if m in names]
        return first + [m for m in names if m not in first]

    def seeds(self) -> list[int]:
        """The distinct protocol seeds of the runs (empty for a protocol that is not random)."""
        return sorted({r.seed for r in self.results if r.seed is not None})

    def summary(self) -> pd.DataFrame:
        """One row per model: ``<metric>_mean`` / ``<metric>_std`` (sample std, ddof=1, over
        the runs — seeds × folds; NaN with one run or when the model lacks the metric),
        ``<metric>_ci_low`` / ``<metric>_ci_high`` (Student-t 95 % interval of the mean,
        :func:`~movierec.evaluation.stats.t_interval`), mean times. ``n_folds`` counts the
        runs (seeds × folds), ``n_seeds`` the seeds."""
        rows = []
        n_seeds = max(1, len(self.seeds()))
        for model in self.models:
            res = [r for r in self.results if r.model == model]
            row: dict[str, Any] = {"model": model, "n_folds": len(res), "n_seeds": n_seeds}
            for name in self.metric_names():
                vals = np.array([r.metrics.get(name, np.nan) for r in res], dtype=float)
                row[f"{name}_mean"], row[f"{name}_std"] = _mean_std(vals)
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = t_interval(vals)
            for col in TIME_COLUMNS:
                vals = np.array([_nan(getattr(r, col)) for r in res], dtype=float)
                row[col] = float(np.mean(vals)) if np.isfinite(vals).any() else np.nan
            rows.append(row)
        return pd.DataFrame(rows)

    def headline(self) -> str:
        """The metric the leaderboard is sorted by (RMSE for rating protocols if present)."""
        if self.kind == "rating" and "RMSE" in self.metric_names():
            return "RMSE"
        return f"NDCG@{self.k}"

    def sorted_summary(self) -> pd.DataFrame:
        """:meth:`summary`, best first by :meth:`headline`; the top row also carries its
        paired tests (:meth:`paired_tests`): ``vs_runner_up_*`` and ``vs_best_single_*``
        (``model``, ``diff``, ``p``)."""
        s = self.summary()
        key = f"{self.headline()}_mean"
        if key in s:
            s = s.sort_values(key, ascending=self.headline() == "RMSE", na_position="last")
        s = s.reset_index(drop=True)
        tests = self.paired_tests()
        for label in ("runner_up", "best_single"):
            for col in ("model", "diff", "p"):
                s[f"vs_{label}_{col}"] = pd.Series([None] * len(s), dtype=object)
            test = tests.get(f"vs_{label}")
            if test is not None and len(s):
                s.loc[0, f"vs_{label}_model"] = test["against"]
                s.loc[0, f"vs_{label}_diff"] = test["mean_diff"]
                s.loc[0, f"vs_{label}_p"] = test["p"]
        return s

    def per_user_key(self) -> tuple[str, bool]:
        """The per-user metric behind the paired tests and whether higher is better:
        ``("MSE", False)`` when sorted by RMSE, else ``("NDCG@K", True)``."""
        return ("MSE", False) if self.headline() == "RMSE" else (f"NDCG@{self.k}", True)

    def paired_tests(self) -> dict[str, dict[str, Any]]:
        """Paired tests over users of the top model (by :meth:`headline`) against the
        runner-up and against the best single model (not an ensemble), when it is another
        model: ``{"vs_runner_up": {...}, "vs_best_single": {...}}`` with the fields of
        :func:`~movierec.evaluation.stats.paired_test` plus ``model``, ``against``,
        ``metric``, ``method``. ``mean_diff`` is top minus other on the per-user metric
        (:meth:`per_user_key`)."""
        key, _ = self.per_user_key()
        head = f"{self.headline()}_mean"
        s = self.summary()
        if head not in s:
            return {}
        s = s[np.isfinite(s[head].to_numpy(dtype=float))]
        s = s.sort_values(head, ascending=self.headline() == "RMSE").reset_index(drop=True)
        names = [m for m in s["model"] if self._per_user(m, key)]
        if len(names) < 2:
            return {}
        top, out = names[0], {}
        pairs = [("vs_runner_up", names[1])]
        singles = [m for m in names[1:] if m not in self.ensembles]
        if top in self.ensembles and singles:
            pairs.append(("vs_best_single", singles[0]))
        for label, other in pairs:
            out[label] = self.paired(top, other, key)
        return out

    def paired(self, model: str, other: str, key: str | None = None) -> dict[str, Any]:
        """Paired t-test over users of ``model`` against ``other`` on the per-user metric
        ``key`` (default :meth:`per_user_key`), averaged over the runs: the fields of
        :func:`~movierec.evaluation.stats.paired_test` (``mean_diff`` = model − other)."""
        key = key or self.per_user_key()[0]
        test = paired_test(self._per_user(model, key), self._per_user(other, key))
        return {"model": model, "against": other, "metric": key, "method": PAIRED, **test}

    def _per_user(self, model: str, key: str) -> dict[int, float]:
        runs = [r.per_user[key] for r in self.results if r.model == model and key in r.per_user]
        return per_user_mean(runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "dataset": self.dataset,
            "kind": self.kind,
            "k": self.k,
            "models": self.models,
            "folds": self.folds,
            "params": self.params,
            "tuning": self.tuning,
            "info": self.info,
            "seeds": self.seeds(),
            "interval": INTERVAL,
            "summary": json_safe(self.sorted_summary().to_dict(orient="records")),
            "paired_tests": json_safe(self.paired_tests()),
            "results": json_safe([r.to_dict() for r in self.results]),
        }

    def to_markdown(self) -> str:
        """The leaderboard as a Markdown document (mean ± std over folds)."""
        s = self.sorted_summary()
        metrics = self.metric_names()
        head = self.headline()
        seeds = self.seeds()
        runs = (
            f"{len(self.folds)} run(s) ({', '.join(self.folds)}); protocol seeds "
            f"{', '.join(map(str, seeds))}"
            if seeds
            else f"{len(self.folds)} fold(s) ({', '.join(self.folds)}); not a random protocol"
        )
        lines = [
            f"# Leaderboard — protocol `{self.protocol}` on `{self.dataset}`",
            "",
            f"{runs}; K = {self.k}; sorted by {head}. Ranking metrics: every held-out item is "
            "relevant whatever its rating, items seen in training are excluded, averaged over "
            "test users known to training. Figures are mean ± sample std over the runs "
            f"(seeds × folds); the 95 % CI column is the {INTERVAL}. An ensemble "
            "reuses the fits of its parts that this run already made on the same fold "
            "(same model and hyperparameters), so its fit time counts only the rest.",
            "",
        ]
        header = ["model", *metrics, f"95 % CI {head}", "fit s", "predict s", "recommend s"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for _, row in s.iterrows():
            cells = [str(row["model"])]
            for m in metrics:
                cells.append(_pm(row.get(f"{m}_mean"), row.get(f"{m}_std")))
            lo, hi = _fmt(row.get(f"{head}_ci_low")), _fmt(row.get(f"{head}_ci_high"))
            cells.append(f"[{lo}, {hi}]" if lo and hi else "")
            cells += [_fmt(row.get(c), 3) for c in TIME_COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
        tests = self.paired_tests()
        if tests:
            lines += ["", "## Paired tests of the top model", "", f"Method: {PAIRED}.", ""]
            for label, t in tests.items():
                what = "runner-up" if label == "vs_runner_up" else "best single model"
                lines.append(
                    f"- `{t['model']}` vs `{t['against']}` ({what}): per-user {t['metric']} "
                    f"difference {_fmt(t['mean_diff'], 5)} (95 % CI [{_fmt(t['ci_low'], 5)}, "
                    f"{_fmt(t['ci_high'], 5)}]) over {t['n_users']} users, t = "
                    f"{_fmt(t['t'], 2)}, p = {_p(t['p'])}"
                )
        lines += ["", "## Hyperparameters", ""]
        for model in self.models:
            t = self.tuning.get(model, {})
            how = (
                f"tuned ({t.get('method')}, {t.get('n_trials')} trials, objective "
                f"{t.get('objective')} = {_fmt(t.get('best_value'), 4)} vs shipped defaults "
                f"{_fmt(t.get('default_value'), 4) or 'n/a'}, on {t.get('validation')})"
                if t.get("tuned")
                else "shipped defaults (not tuned in this run)"
            )
            lines.append(f"- `{model}` — {how}: `{json.dumps(json_safe(self.params[model]))}`")
        lines += ["", "## Run", ""]
        for key, value in self.info.items():
            lines.append(f"- {key}: {value}")
        return "\n".join(lines) + "\n"


def _nan(x: float | None) -> float:
    return np.nan if x is None else float(x)


def _mean_std(vals: np.ndarray) -> tuple[float, float]:
    finite = vals[np.isfinite(vals)]
    if finite.size == 0:
        return np.nan, np.nan
    std = float(np.std(finite, ddof=1)) if finite.size > 1 else np.nan
    return float(np.mean(finite)), std


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return f"{float(x):.{digits}f}"


def _p(p: Any) -> str:
    if p is None or not math.isfinite(float(p)):
        return "n/a"
    return f"{float(p):.2g}" if float(p) < 0.001 else f"{float(p):.3f}"


def _pm(mean: Any, std: Any) -> str:
    m = _fmt(mean)
    if not m:
        return ""
    s = _fmt(std)
    return f"{m} ± {s}" if s else m


def write_report(board: Leaderboard, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``leaderboard.{md,csv,json}`` and the PNG plots into ``out_dir`` atomically.

    Everything is rendered into a temporary sibling directory first; only when every file
    is written is it renamed onto ``out_dir`` (replacing a previous report).
    """
    out = Path(out_dir)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        (tmp / "leaderboard.md").write_text(board.to_markdown(), encoding="utf-8")
        board.sorted_summary().to_csv(tmp / "leaderboard.csv", index=False)
        (tmp / "leaderboard.json").write_text(
            json.dumps(board.to_dict(), indent=2, allow_nan=False), encoding="utf-8"
        )
        write_plots(board, tmp)
    return out


def write_plots(board: Leaderboard, out: Path) -> list[Path]:
    """The three PNG figures (matplotlib Agg backend; no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    s = board.sorted_summary()
    models = list(s["model"])
    paths = []

    metrics = [m for m in board.metric_names() if np.isfinite(s[f"{m}_mean"]).any()]
    ncols = 4
    nrows = max(1, math.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    for ax, m in zip(axes.flat, metrics, strict=False):
        means = s[f"{m}_mean"].to_numpy(dtype=float)
        stds = np.nan_to_num(s[f"{m}_std"].to_numpy(dtype=float))
        ax.bar(range(len(models)), np.nan_to_num(means), yerr=stds, capsize=3, color="tab:blue")
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=8)
        ax.set_title(m, fontsize=10)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(f"{board.protocol}: mean ± std over {len(board.folds)} fold(s)")
    fig.tight_layout()
    paths.append(_save(fig, out / "metrics.png", plt))

    acc = [m for m in ("RMSE", f"NDCG@{board.k}") if m in metrics]
    fig, axes = plt.subplots(1, max(1, len(acc)), figsize=(5 * max(1, len(acc)), 4), squeeze=False)
    for ax, m in zip(axes.flat, acc, strict=False):
        x = s["fit_s"].to_numpy(dtype=float)
        y = s[f"{m}_mean"].to_numpy(dtype=float)
        ax.scatter(x, y)
        for xi, yi, name in zip(x, y, models, strict=True):
            if np.isfinite(yi):
                ax.annotate(name, (xi, yi), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("fit time per fold (s, log scale)")
        ax.set_ylabel(m)
        ax.set_title(f"{m} vs fit time")
    fig.tight_layout()
    paths.append(_save(fig, out / "accuracy_vs_time.png", plt))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for model in models:
        res = [r for r in board.results if r.model == model and r.curves]
        if not res:
            continue
        for ax, key in zip(axes, ("precision", "recall"), strict=True):
            curve = np.mean([r.curves[key] for r in res], axis=0)
            ax.plot(np.arange(1, curve.size + 1), curve, marker=".", label=model)
    for ax, key in zip(axes, ("Precision@K", "Recall@K"), strict=True):
        ax.set_xlabel("K")
        ax.set_title(key)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out / "precision_recall_at_k.png", plt))
    return paths


def _save(fig: Any, path: Path, plt: Any) -> Path:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
