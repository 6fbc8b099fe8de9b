"""UserKNN's rating formula against a plain-numpy computation on a real slice of ml-100k.

The reference is written from the formula, with dense matrices and no code of the model:
cosine similarities over co-rated movies shrunk by ``n/(n+λ_s)``; baselines by the ALS of
Koren 2010 §2.1; per pair the ``k`` most similar users who rated the movie and

    r̂_ui = b_ui + Σ s_uv (r_vi − b_vi) / (λ + Σ s_uv),   b_ui = μ + b_u + b_i,

clipped to 1..5. It is checked for training users (``predict``: the batch kernel and the
one-user numpy path) and for a user left out of training (``fold_in_ratings``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.interactions import Interactions
from movierec.models.knn import UserKNN

pytestmark = pytest.mark.realdata

COLS = ["userId", "movieId", "rating", "timestamp"]
LEFT_OUT = 13  # a user id of the slice, held out for the fold-in check


@pytest.fixture(scope="module")
def slice_frame(ml100k_dir: Path) -> pd.DataFrame:
    """u1.base restricted to users 1..80 and movies 1..200 (real ratings, ~4,000 of them)."""
    frame = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=COLS)
    return frame[(frame.userId <= 80) & (frame.movieId <= 200)].reset_index(drop=True)


def cosine(a: np.ndarray, r: np.ndarray, shrinkage: float) -> np.ndarray:
    """Cosine of rating row ``a`` (``(n_items,)``, 0 = unrated) with every row of ``r`` over
    co-rated movies, times ``n/(n + shrinkage)``; 0 without a co-rated movie."""
    both = (a > 0)[None, :] & (r > 0)
    n = both.sum(axis=1)
    num = (r * a[None, :] * both).sum(axis=1)
    den = np.sqrt(((a[None, :] ** 2) * both).sum(axis=1) * ((r**2) * both).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(n > 0, num / den, 0.0) * n / (n + shrinkage)
    return np.nan_to_num(s)


def baselines(r: np.ndarray, reg_u: float, reg_i: float, epochs: int):
    """``(μ, b_u, b_i)``: alternating exact minimisation over b_i then b_u, from zeros."""
    mask = r > 0
    mu = r[mask].mean()
    bu, bi = np.zeros(r.shape[0]), np.zeros(r.shape[1])
    for _ in range(epochs):
        bi = ((r - mu - bu[:, None]) * mask).sum(axis=0) / (reg_i + mask.sum(axis=0))
        bu = ((r - mu - bi[None, :]) * mask).sum(axis=1) / (reg_u + mask.sum(axis=1))
    return mu, bu, bi


def formula(s: np.ndarray, r: np.ndarray, b_row: np.ndarray, b_all: np.ndarray, k: int, lam: float):
    """One user's predictions for every movie: similarities ``s`` to the rows of ``r``,
    their baselines ``b_all`` (same shape as ``r``) and the user's ``b_row``."""
    out = b_row.copy()
    for i in range(r.shape[1]):
        cand = np.flatnonzero((r[:, i] > 0) & (s > 0))
        if cand.size == 0:
            continue
        chosen = cand[np.lexsort((cand, -s[cand]))][:k]
        w = s[chosen]
        out[i] = b_row[i] + (w * (r[chosen, i] - b_all[chosen, i])).sum() / (lam + w.sum())
    return np.clip(out, 1.0, 5.0)


def test_predict_and_fold_in_equal_the_formula(slice_frame: pd.DataFrame) -> None:
    rest = slice_frame[slice_frame.userId != LEFT_OUT]
    data = Interactions.from_frame(rest)
    model = UserKNN().fit(data)
    assert model.center == "baseline" and model.rating_damping > 0  # the shipped defaults
    p = model.get_params()
    r = data.matrix.toarray().astype(np.float64)
    mu, bu, bi = baselines(r, p["reg_u"], p["reg_i"], p["n_epochs"])
    b_all = mu + bu[:, None] + bi[None, :]
    n_users = r.shape[0]
    users = data.users.ids
    ref = np.empty_like(r)
    for u in range(n_users):
        s = cosine(r[u], r, p["shrinkage"])
        s[u] = 0.0
        ref[u] = formula(s, r, b_all[u], b_all, p["k"], p["rating_damping"])
    uu, ii = np.meshgrid(np.arange(n_users), np.arange(r.shape[1]), indexing="ij")
    got = model.predict(users[uu.ravel()], data.items.ids[ii.ravel()]).reshape(r.shape)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5)  # the batch kernel
    one = model.predict(np.full(r.shape[1], users[5]), data.items.ids)  # one-user numpy path
    np.testing.assert_allclose(one, ref[5], rtol=2e-5, atol=2e-5)
    assert np.abs(ref - b_all.clip(1, 5)).max() > 0.1  # the neighbour term does something

    # a new user: similarities to every training user, b_u from one half-step
    mine = slice_frame[slice_frame.userId == LEFT_OUT]
    mine = mine[data.items.contains(mine.movieId.to_numpy())]  # movies the model knows
    assert len(mine) >= 10
    a = np.zeros(r.shape[1])
    a[data.items.index(mine.movieId.to_numpy())] = mine.rating.to_numpy()
    rated = a > 0
    b_new = ((a - mu - bi) * rated).sum() / (p["reg_u"] + rated.sum())
    expect = formula(cosine(a, r, p["shrinkage"]), r, mu + b_new + bi, b_all, p["k"],
                     p["rating_damping"])  # fmt: skip
    folded = model.fold_in_ratings(dict(zip(mine.movieId, mine.rating, strict=True)))
    np.testing.assert_allclose(folded, expect, rtol=2e-5, atol=2e-5)
