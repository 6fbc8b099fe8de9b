"""Uncertainty of leaderboard figures: t-intervals over runs and paired tests over users.

* **Interval over runs.** A figure measured on ``n`` runs (seeds × folds) ``x_1..x_n`` is
  reported as ``mean ± sd`` (sample sd, ``ddof = 1``) with the Student-t 95 % interval
  ``mean ± t_{0.975, n−1} · sd / √n`` (:func:`t_interval`). The runs of a multi-fold
  protocol share training data, so the interval is optimistic for k-fold (Bengio &
  Grandvalet 2004); it is what the spread of the runs supports, nothing more.
* **Paired test over users.** Two models scored on the same test users: each user's metric
  (NDCG@K for ranking, the user's mean squared error for rating prediction) is averaged over
  the runs in which both models scored that user, and the per-user differences
  ``d_u = a_u − b_u`` go to a two-sided paired t-test (``scipy.stats.ttest_rel``):
  ``t = mean(d) / (sd(d) / √m)`` with ``m − 1`` degrees of freedom over the ``m`` users
  (:func:`paired_test`). Users are the unit: a user tested in several runs counts once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

LEVEL = 0.95
INTERVAL = "Student-t 95 % interval over runs: mean ± t(0.975, n−1)·sd/√n"
PAIRED = (
    "two-sided paired t-test (scipy.stats.ttest_rel) over users of the per-user metric "
    "averaged over runs"
)


def t_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """``(low, high)`` of the Student-t interval of the mean of the finite ``values``.

    ``mean ± t_{(1+level)/2, n−1} · sd / √n`` (``sd`` with ``ddof = 1``); ``(nan, nan)``
    with fewer than two finite values.
    """
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    mean = float(x.mean())
    half = float(stats.t.ppf(0.5 + level / 2.0, x.size - 1)) * float(x.std(ddof=1))
    half /= math.sqrt(x.size)
    return mean - half, mean + half


def per_user_mean(runs: list[tuple[np.ndarray, np.ndarray]]) -> dict[int, float]:
    """``{user: mean of the user's values over the runs}`` from ``[(user ids, values)]``."""
    total: dict[int, float] = {}
    count: dict[int, int] = {}
    for users, values in runs:
        for u, v in zip(np.asarray(users).tolist(), np.asarray(values).tolist(), strict=True):
            if math.isfinite(v):
                total[u] = total.get(u, 0.0) + v
                count[u] = count.get(u, 0) + 1
    return {u: total[u] / count[u] for u in total}


def paired_test(a: Mapping[int, float], b: Mapping[int, float]) -> dict[str, Any]:
    """Paired t-test of ``a`` against ``b`` on the users both have.

    Returns ``{"n_users", "mean_diff" (a − b), "sd_diff", "ci_low", "ci_high" (t-interval
    of the mean difference), "t", "p"}``; ``p`` is two-sided. NaNs when fewer than two
    users are shared (or every difference is equal: ``t`` undefined).
    """
    from scipy import stats

    users = sorted(set(a) & set(b))
    x = np.array([a[u] for u in users], dtype=np.float64)
    y = np.array([b[u] for u in users], dtype=np.float64)
    d = x - y
    out: dict[str, Any] = {"n_users": len(users), "mean_diff": math.nan, "sd_diff": math.nan}
    out.update(ci_low=math.nan, ci_high=math.nan, t=math.nan, p=math.nan)
    if len(users) < 2:
        return out
    out["mean_diff"] = float(d.mean())
    out["sd_diff"] = float(d.std(ddof=1))
    out["ci_low"], out["ci_high"] = t_interval(d)
    if out["sd_diff"] > 0:
        res = stats.ttest_rel(x, y)
        out["t"], out["p"] = float(res.statistic), float(res.pvalue)
    return out
