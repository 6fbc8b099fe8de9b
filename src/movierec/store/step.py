"""The pipeline's ``store`` step: every user's top-N, explained, written as one run."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from movierec.models.base import Recommender
from movierec.store.engine import resolve_db_url
from movierec.store.writer import write_run

log = logging.getLogger(__name__)


def store_step(
    model: Recommender,
    *,
    home: str | Path | None = None,
    db_url: str | None = None,
    n: int = 10,
    metrics: Mapping[str, Any] | None = None,
    model_explanations: bool = True,
) -> int:
    """Recommend ``n`` movies for every training user, explain them and store the run.

    Args:
        model: the fitted model (its catalogue is upserted into ``movies``).
        home: working directory for the default SQLite store (``<home>/db/movierec.db``).
        db_url: store URL; overrides ``MOVIEREC_DB_URL`` and ``home``.
        n: recommendations per user.
        metrics: evaluation figures kept with the run; include ``"protocol"`` so that
            ``GET /runs/{id}/leaderboard`` finds ``reports/<protocol>/leaderboard.json``.
        model_explanations: use the model's own ``explain`` (slower for some models, e.g.
            ~9 ms/user for user-knn) instead of co-rating/genre reasons.

    Returns:
        The id of the new run, complete and current.
    """
    from movierec.api.explain import explain_frame
    from movierec.recommend import recommend_all

    frame = explain_frame(model, recommend_all(model, n=n), use_model=model_explanations)
    run_id = write_run(resolve_db_url(db_url, home), model, frame, metrics, params={"n": n})
    log.info("stored run %d: %d recommendations", run_id, len(frame))
    return run_id
