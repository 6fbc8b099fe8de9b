"""The evaluation as a Prefect 3 flow: the same step functions as ``movierec evaluate``.

Tasks: ``prepare`` (validate, load folds) -> ``choose_run`` per run (defaults, or ``--tune``
nested per run) -> ``evaluate_one`` per (fold, model) -> ``write_outputs``; the leaderboard
is published as a Markdown artifact (key ``leaderboard-<protocol>``). No logic lives here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from movierec.config import Layout
from movierec.evaluation import runner
from movierec.evaluation.report import Leaderboard

_prepare = task(name="prepare", cache_policy=NO_CACHE)(runner.prepare)
_choose = task(name="choose-params", cache_policy=NO_CACHE)(runner.choose_run)
_one = task(name="evaluate-fold", cache_policy=NO_CACHE)(runner.evaluate_one)
_write = task(name="write-report", cache_policy=NO_CACHE)(runner.write_outputs)


@flow(name="movierec-evaluate", log_prints=False)
def evaluate_flow(
    protocol: str = "ml100k-u1",
    models: str = "all",
    home: str = ".",
    data_dir: str | None = None,
    dataset: str | None = None,
    k: int = 10,
    tune: bool = False,
    n_trials: int | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    predictions_out: str | None = None,
    recommendations_out: str | None = None,
    seed: int = 42,
) -> Leaderboard:
    """Evaluate ``models`` under ``protocol`` on ``dataset`` (default ml-100k); write
    ``reports/<protocol>/`` under ``home``."""
    layout = Layout(Path(home).expanduser())
    prep = _prepare(
        protocol,
        models,
        data_dir=data_dir,
        layout=layout,
        dataset=dataset,
        k=k,
        params=params,
        seed=seed,
    )
    runs = range(len(prep.runs)) if tune else range(1)  # --tune is nested: per run
    per_run = [_choose(prep, i, tune=tune, k=k, seed=seed, n_trials=n_trials) for i in runs]
    chosen, tuning = runner.split_choices(prep, per_run, tune)
    keep = predictions_out is not None or recommendations_out is not None
    started = time.perf_counter()
    outputs = [
        _one(prep, i, name, chosen[i if tune else 0][name], k, keep)
        for i in range(len(prep.runs))
        for name in prep.models
    ]
    per_run = chosen if tune else chosen * len(prep.runs)
    board = runner.assemble(prep, outputs, per_run, tuning, k, seed, time.perf_counter() - started)
    _write(
        board, layout.reports_dir / board.protocol, outputs, predictions_out, recommendations_out
    )
    create_markdown_artifact(
        key=f"leaderboard-{board.protocol}".lower().replace("_", "-"),
        markdown=board.to_markdown(),
        description=f"movierec leaderboard, protocol {board.protocol} on {board.dataset}",
    )
    return board
