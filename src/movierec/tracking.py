"""Tracked experiments: every ``evaluate``, ``train`` and ``retrain`` recorded in MLflow.

Each record is one MLflow run in the experiment ``movierec`` with tags ``kind``
(``evaluate`` / ``train`` / ``retrain``), ``dataset``, ``code_version`` and
``data_fingerprint``; its parameters (flattened, ``model.k``); its metrics (finite numbers
only; an evaluation logs ``<model>.<metric>`` means); and its artifacts (the report folder
with the leaderboard files and plots, the model file).

Where: ``MLFLOW_TRACKING_URI`` when set (a tracking server, or any MLflow store URI);
otherwise a local SQLite store under the home, ``mlflow/mlflow.db``, with artifacts in
``mlflow/artifacts/``. ``mlflow ui --backend-store-uri sqlite:///<home>/mlflow/mlflow.db``
shows them.

Tracking is optional and never breaks a command: without MLflow (``pip install
'movierec[track]'``) a command prints a one-line note and runs as usual; a tracking failure
is a one-line warning. ``MOVIEREC_TRACKING=0`` turns it off.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movierec.codeversion import code_version
from movierec.config import Layout, get_settings
from movierec.errors import ConfigError, UnknownIdError
from movierec.extras import require

if TYPE_CHECKING:
    from movierec.evaluation.report import Leaderboard

log = logging.getLogger("movierec")

EXPERIMENT = "movierec"
MAX_ARTIFACT_BYTES = 64 << 20
"""A file above this size (a model trained on millions of ratings: 0.5 GB at 25M) is not
copied into the tracking store; the run gets a tag ``artifact_not_copied.<folder>`` with the
file's path and size instead (the pipeline keeps the model under the home, and ``retrain``
keeps every registered version under ``models/versions/``)."""
_noted: list[str] = []


def _say(line: str) -> None:
    """One line on stderr (once per process for a repeated note)."""
    if line in _noted:
        return
    _noted.append(line)
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def tracking_uri(layout: Layout) -> str:
    """``MLFLOW_TRACKING_URI``, else the SQLite store under the home."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{_local_db(layout)}"


def _local_db(layout: Layout) -> Path:
    return (layout.tracking_dir / "mlflow.db").resolve()


def _client(layout: Layout) -> tuple[Any, str]:
    """``(MlflowClient, experiment id)``; creates the local store and the experiment."""
    for name in ("mlflow", "alembic"):  # their INFO lines ("Creating tables...") stay quiet
        logging.getLogger(name).setLevel(logging.WARNING)
    from mlflow import MlflowClient

    uri = tracking_uri(layout)
    artifacts = None
    if "MLFLOW_TRACKING_URI" not in os.environ:
        layout.tracking_dir.mkdir(parents=True, exist_ok=True)
        artifacts = (layout.tracking_dir / "artifacts").resolve().as_uri()
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return client, exp.experiment_id
    return client, client.create_experiment(EXPERIMENT, artifact_location=artifacts)


def available(announce: bool = True) -> bool:
    """True when tracking is on (``MOVIEREC_TRACKING``) and MLflow is installed; without
    MLflow, ``announce`` prints the one-line note."""
    if not get_settings().tracking:
        return False
    try:
        require("track", "mlflow")
    except ConfigError:
        if announce:
            _say("note: not tracked: MLflow is not installed (pip install 'movierec[track]')")
        return False
    return True


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = str(value)[:6000]


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key).replace("@", "_at_")] = number
    return out


def record(
    kind: str,
    layout: Layout,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    data_fingerprint: str = "",
    artifacts: Iterable[tuple[Path, str]] = (),
    tags: Mapping[str, str] | None = None,
) -> str | None:
    """Record one run; returns its MLflow run id, or ``None`` (off, not installed, failed).

    Args:
        kind: ``evaluate``, ``train`` or ``retrain`` (the run name and the ``kind`` tag).
        layout: the home (local store) and dataset (tag).
        params: nested mappings flatten to ``a.b`` keys; values become strings.
        metrics: numbers; non-finite or non-numeric values are skipped; ``@`` in a name
            becomes ``_at_`` (``NDCG@10`` -> ``NDCG_at_10``: MLflow's allowed characters).
        artifacts: ``(path, folder)`` pairs: a file or a whole folder, logged under
            ``folder`` in the run's artifacts (a file above :data:`MAX_ARTIFACT_BYTES` is
            named in a tag instead of copied).
    """
    if not available():
        return None
    try:
        from mlflow.entities import Metric, Param, RunTag

        client, exp_id = _client(layout)
        all_tags = {
            "kind": kind,
            "dataset": layout.dataset,
            "code_version": code_version(),
            "data_fingerprint": data_fingerprint,
            **(tags or {}),
        }
        run = client.create_run(exp_id, run_name=kind, tags=all_tags)
        run_id = run.info.run_id
        flat: dict[str, str] = {}
        _flat("", params, flat)
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in _finite(metrics).items()],
            params=[Param(k, v) for k, v in flat.items()],
            tags=[RunTag(k, str(v)) for k, v in all_tags.items()],
        )
        for path, folder in artifacts:
            path = Path(path)
            if path.is_dir():
                client.log_artifacts(run_id, str(path), artifact_path=folder)
            elif path.is_file() and path.stat().st_size > MAX_ARTIFACT_BYTES:
                size = f"{path.stat().st_size / 1e6:,.0f} MB"
                client.set_tag(run_id, f"artifact_not_copied.{folder}", f"{path} ({size})")
            elif path.is_file():
                client.log_artifact(run_id, str(path), artifact_path=folder)
        client.set_terminated(run_id)
    except Exception as exc:  # tracking must never break the command it records
        _say(f"warning: not tracked: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return None
    log.info("tracked %s as MLflow run %s", kind, run_id)
    return str(run_id)


def record_evaluation(layout: Layout, board: Leaderboard, report_dir: Path) -> str | None:
    """Record an ``evaluate``: its options, each model's mean metrics and the report."""
    summary = board.summary()
    metrics: dict[str, Any] = {}
    for _, row in summary.iterrows():
        for col, value in row.items():
            if str(col).endswith("_mean"):
                metrics[f"{row['model']}.{str(col)[: -len('_mean')]}"] = value
            elif str(col) in ("fit_s", "recommend_s"):
                metrics[f"{row['model']}.{col}"] = value
    params = {
        "protocol": board.protocol,
        "k": board.k,
        "models": ",".join(board.models),
        "seed": board.info.get("seed"),
        "protocol_options": board.info.get("protocol_options", {}),
        "params": board.params,
    }
    return record(
        "evaluate",
        layout,
        params=params,
        metrics=metrics,
        artifacts=[(report_dir, "report")],
        tags={"protocol": board.protocol},
    )


@dataclass(frozen=True)
class TrackedRun:
    """One tracked run, as ``movierec runs`` shows it."""

    run_id: str
    kind: str
    started: float
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]


def _tracked(run: Any) -> TrackedRun:
    return TrackedRun(
        run_id=run.info.run_id,
        kind=run.data.tags.get("kind", ""),
        started=run.info.start_time / 1000.0,
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
        tags=dict(run.data.tags),
    )


def _need_client(layout: Layout) -> tuple[Any, str]:
    require("track", "mlflow")
    if "MLFLOW_TRACKING_URI" not in os.environ and not _local_db(layout).is_file():
        raise ConfigError(f"no tracked runs yet under {layout.home} (no {_local_db(layout)})")
    return _client(layout)


def list_tracked(layout: Layout, limit: int = 20) -> list[TrackedRun]:
    """The newest ``limit`` tracked runs."""
    client, exp_id = _need_client(layout)
    runs = client.search_runs([exp_id], max_results=int(limit), order_by=["start_time DESC"])
    return [_tracked(r) for r in runs]


def get_tracked(layout: Layout, run_id: str) -> TrackedRun:
    """One tracked run by id (a unique prefix of at least 6 characters is enough)."""
    client, exp_id = _need_client(layout)
    if len(run_id) < 32:
        if len(run_id) < 6:
            raise ConfigError(f"run id {run_id!r}: give at least 6 characters")
        matches = [
            r
            for r in client.search_runs([exp_id], max_results=5000)
            if r.info.run_id.startswith(run_id)
        ]
        if len(matches) != 1:
            what = "no" if not matches else f"{len(matches)}"
            raise UnknownIdError(f"{what} tracked run(s) match {run_id!r}")
        return _tracked(matches[0])
    try:
        return _tracked(client.get_run(run_id))
    except Exception:
        raise UnknownIdError(f"unknown tracked run: {run_id}") from None


@dataclass(frozen=True)
class MetricDelta:
    """One metric of two runs: ``delta = b - a`` (``None`` where a run lacks it)."""

    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def compare(layout: Layout, a: str, b: str) -> tuple[TrackedRun, TrackedRun, list[MetricDelta]]:
    """The metrics of runs ``a`` and ``b`` side by side (every name either has, sorted)."""
    run_a, run_b = get_tracked(layout, a), get_tracked(layout, b)
    names = sorted(set(run_a.metrics) | set(run_b.metrics))
    return (
        run_a,
        run_b,
        [MetricDelta(n, run_a.metrics.get(n), run_b.metrics.get(n)) for n in names],
    )
