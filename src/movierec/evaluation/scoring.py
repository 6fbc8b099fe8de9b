"""Fit one model on one fold and score it: the unit of work of ``evaluate`` and ``--tune``.

For a fold and a model: fit on the training part (timed); for rating-prediction models,
predict every test pair (RMSE, MAE; a pair whose user or movie is unknown to training
gets the biases that are known, :meth:`~movierec.models.base.Recommender.predict_cold`, and
predictions are clipped to the fold's rating scale, as Surprise does); recommend the top
``max(K, 20)`` unseen items for every test user known to training (timed) and score them
with every held-out item relevant whatever its rating (Microsoft Recommenders' protocol);
compute catalogue coverage, novelty, intra-list genre diversity and personalisation on the
top-``K`` lists.

:mod:`movierec.evaluation.runner` (every model on every fold) and
:mod:`movierec.evaluation.tuning` (trials on a validation fold) both build on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from movierec.errors import NotSupportedError
from movierec.evaluation import metrics as M
from movierec.evaluation.report import FoldResult
from movierec.evaluation.splits import Fold
from movierec.interactions import ITEM_COL, RATING_COL, USER_COL, ItemCatalog
from movierec.models import fitcache
from movierec.models.base import Recommender
from movierec.models.registry import make_model

log = logging.getLogger("movierec.evaluation")

CURVE_K = 20


@dataclass
class FoldOutput:
    """A :class:`FoldResult` plus the raw rows behind it (for the CSV exports)."""

    result: FoldResult
    predictions: pd.DataFrame | None
    recommendations: pd.DataFrame


def build_model(name: str, params: Mapping[str, Any]) -> Recommender:
    """Instantiate and validate ``name`` with ``params`` (ConfigError on a bad name/value)."""
    model = make_model(name, **dict(params))
    model.validate()
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
    per_user: dict[str, tuple[np.ndarray, np.ndarray]] = {}

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
            if not known.all():
                pred[~known] = model.predict_cold(
                    test["user_row"].to_numpy()[~known], test["item_col"].to_numpy()[~known]
                )
            pred = np.clip(pred, lo, hi)
            truth = test[RATING_COL].to_numpy(dtype=np.float64)
            values["RMSE"] = M.rmse(truth, pred)
            values["MAE"] = M.mae(truth, pred)
            per_user["MSE"] = M.squared_error_per_user(test[USER_COL].to_numpy(), truth, pred)
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
    per_user[f"NDCG@{k}"] = (users, M.ndcg_per_user(hits, n_rel, k))
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
        per_user=per_user,
    )
    return FoldOutput(result, pred_frame, rec_frame)
