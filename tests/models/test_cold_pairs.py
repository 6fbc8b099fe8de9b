"""Cold test pairs fall back to the biases that are known (as Surprise does).

The reference is brute force: Surprise's ``BaselineOnly`` ALS re-done with plain Python
dictionaries and loops over ratings, and Surprise's own predictions when installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movierec.evaluation.scoring import run_fold
from movierec.evaluation.splits import make_fold
from movierec.models import make_model
from tests.evaluation.helpers import synthetic_ratings


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training ratings and a test part with warm pairs, an unknown movie for known users,
    an unknown user for known movies and both unknown."""
    data = synthetic_ratings(40, 50, seed=3)
    train = data[(data.userId <= 36) & (data.movieId <= 46)]
    test = data[(data.userId > 36) | (data.movieId > 46)]
    warm = train.sample(20, random_state=0)
    return train.drop(warm.index), pd.concat([test, warm])


def brute_force_baseline(train: pd.DataFrame, reg_u: float, reg_i: float, epochs: int) -> tuple:
    """Surprise's ``BaselineOnly(method="als")`` with dictionaries and loops."""
    rows = list(train[["userId", "movieId", "rating"]].itertuples(index=False, name=None))
    mu = sum(r for _, _, r in rows) / len(rows)
    bu = {u: 0.0 for u, _, _ in rows}
    bi = {i: 0.0 for _, i, _ in rows}
    for _ in range(epochs):
        num, cnt = dict.fromkeys(bi, 0.0), dict.fromkeys(bi, 0)
        for u, i, r in rows:
            num[i] += r - mu - bu[u]
            cnt[i] += 1
        bi = {i: num[i] / (reg_i + cnt[i]) for i in bi}
        num, cnt = dict.fromkeys(bu, 0.0), dict.fromkeys(bu, 0)
        for u, i, r in rows:
            num[u] += r - mu - bi[i]
            cnt[u] += 1
        bu = {u: num[u] / (reg_u + cnt[u]) for u in bu}
    return mu, bu, bi


def reference(mu: float, bu: dict, bi: dict, test: pd.DataFrame) -> np.ndarray:
    out = []
    for u, i in zip(test.userId, test.movieId, strict=True):
        out.append(min(5.0, max(1.0, mu + bu.get(u, 0.0) + bi.get(i, 0.0))))
    return np.array(out)


def test_baseline_cold_pairs_match_brute_force_and_surprise() -> None:
    train, test = _frames()
    fold = make_fold("f", train, test, (1.0, 5.0))
    cold = ((fold.test.user_row < 0) | (fold.test.item_col < 0)).to_numpy()
    assert cold.sum() > 20 and (~cold).sum() == 20
    assert ((fold.test.user_row < 0) & (fold.test.item_col >= 0)).any()
    assert ((fold.test.user_row >= 0) & (fold.test.item_col < 0)).any()
    assert ((fold.test.user_row < 0) & (fold.test.item_col < 0)).any()
    out = run_fold(make_model("baseline", reg_u=15, reg_i=10), fold, None, 5, keep_rows=True)
    got = out.predictions["prediction"].to_numpy()
    ref = reference(*brute_force_baseline(train, 15, 10, 10), fold.test)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    surprise = pytest.importorskip("surprise")
    trainset = surprise.Dataset.load_from_df(
        train[["userId", "movieId", "rating"]], surprise.Reader(rating_scale=(1, 5))
    ).build_full_trainset()
    algo = surprise.BaselineOnly(verbose=False).fit(trainset)
    theirs = [
        p.est for p in algo.test(list(zip(test.userId, test.movieId, test.rating, strict=True)))
    ]
    np.testing.assert_allclose(got, theirs, atol=1e-6)
    mean_only = np.full(cold.sum(), train.rating.mean())
    assert not np.allclose(got[cold], mean_only)  # no longer the global mean


@pytest.mark.parametrize("name", ["svd", "svdpp", "als", "item-knn", "user-knn", "blend"])
def test_rating_models_use_their_own_known_biases(name: str) -> None:
    train, test = _frames()
    fold = make_fold("f", train, test, (1.0, 5.0))
    params = (
        {"bases": {"baseline": {}, "svd": {"epochs": 5}}, "signals": {}} if name == "blend" else {}
    )
    model = make_model(name, **params)
    out = run_fold(model, fold, None, 5, keep_rows=True)
    got = out.predictions["prediction"].to_numpy()
    mu, b_u, b_i = model.bias_terms()
    users, items = model.data_.users, model.data_.items
    bu = dict(zip(users.ids.tolist(), np.asarray(b_u).tolist(), strict=True))
    bi = dict(zip(items.ids.tolist(), np.asarray(b_i).tolist(), strict=True))
    cold = ((fold.test.user_row < 0) | (fold.test.item_col < 0)).to_numpy()
    np.testing.assert_allclose(got[cold], reference(mu, bu, bi, fold.test)[cold], atol=1e-6)
    assert np.ptp(got[cold]) > 0  # not one constant


def test_a_model_without_biases_keeps_the_training_mean() -> None:
    train, test = _frames()
    fold = make_fold("f", train, test, (1.0, 5.0))
    model = make_model("als", biases=False, global_mean=False)
    out = run_fold(model, fold, None, 5, keep_rows=True)
    cold = ((fold.test.user_row < 0) | (fold.test.item_col < 0)).to_numpy()
    assert model.bias_terms() is None
    np.testing.assert_allclose(out.predictions["prediction"].to_numpy()[cold], train.rating.mean())
