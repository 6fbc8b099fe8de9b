"""iALS and BPR (wrapping ``implicit``): contract, normal equations, fold-in, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.errors import NotSupportedError
from movierec.interactions import Interactions, Vocabulary
from movierec.models.base import Recommender
from movierec.models.implicit_mf import BPR, ImplicitALS
from movierec.testing import (
    N_RATED_ITEMS,
    N_UNRATED_ITEMS,
    item_id,
    synthetic_frame,
    synthetic_interactions,
)
from tests.models.contract import RecommenderContract


def liked_only_interactions() -> Interactions:
    """The contract's synthetic ratings without the 1–2 star ones.

    In the contract data *which* movies a user rated is random and the taste groups show
    only in the star values; implicit-feedback models ignore the values' meaning (a rating
    is a positive), so they train on the movies users liked, as they would in practice.
    """
    frame = synthetic_frame()
    frame = frame[frame["rating"] >= 3]
    items = Vocabulary(np.array([item_id(j) for j in range(N_RATED_ITEMS + N_UNRATED_ITEMS)]))
    return Interactions.from_frame(frame, items=items)


class ImplicitContract(RecommenderContract):
    rating_values_matter = False  # binary input: which movies were rated

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Interactions:
        return liked_only_interactions()


class TestImplicitALSContract(ImplicitContract):
    def make_model(self) -> Recommender:
        return ImplicitALS(factors=6, reg=0.5, alpha=2.0, iterations=10, seed=1)

    def invalid_params(self) -> list[dict]:
        return [
            {"factors": 0},
            {"reg": -1.0},
            {"alpha": -0.5},
            {"iterations": 0},
            {"binarize": "no"},
            {"num_threads": -1},
        ]


class TestBPRContract(ImplicitContract):
    def make_model(self) -> Recommender:
        return BPR(factors=8, lr=0.05, reg=0.001, iterations=60, seed=1)

    def invalid_params(self) -> list[dict]:
        return [{"factors": 0}, {"lr": 0.0}, {"reg": -0.01}, {"iterations": -5}]


@pytest.fixture(scope="module")
def tiny() -> Interactions:
    return synthetic_interactions(seed=7)


@pytest.mark.parametrize("binarize", [False, True])
def test_ials_item_factors_solve_the_weighted_normal_equations(
    tiny: Interactions, binarize: bool
) -> None:
    """After the last (item) half-sweep of an exact-solver fit, every item vector satisfies
    ``(XᵀC_iX + λI) y_i = XᵀC_i p_i`` with ``c = 1 + α·r`` (Hu, Koren & Volinsky 2008)."""
    lam, alpha = 0.3, 1.7
    model = ImplicitALS(
        factors=4, reg=lam, alpha=alpha, iterations=3, binarize=binarize, use_cg=False, seed=0
    ).fit(tiny)
    X = model.user_factors_.astype(np.float64)
    R = tiny.matrix.toarray()
    for i in range(tiny.n_items):
        v = np.where(R[:, i] > 0, 1.0 if binarize else R[:, i], 0.0)
        c = np.where(R[:, i] > 0, 1.0 + alpha * v, 1.0)
        p = (R[:, i] > 0).astype(float)
        y = np.linalg.solve((X.T * c) @ X + lam * np.eye(4), (X.T * c) @ p)
        np.testing.assert_allclose(model.item_factors_[i], y, rtol=2e-3, atol=2e-5)


@pytest.mark.parametrize("binarize", [False, True])
def test_ials_fold_in_matches_closed_form(tiny: Interactions, binarize: bool) -> None:
    lam, alpha = 0.3, 1.7
    model = ImplicitALS(
        factors=5, reg=lam, alpha=alpha, iterations=5, binarize=binarize, seed=0
    ).fit(tiny)
    cols = np.array([1, 4, 22, 30])
    values = np.array([5.0, 3.0, 1.0, 4.0])
    got = model.fold_in({int(tiny.items.ids[c]): v for c, v in zip(cols, values, strict=True)})
    Y = model.item_factors_.astype(np.float64)
    C = np.ones(tiny.n_items)
    C[cols] = 1.0 + alpha * (1.0 if binarize else values)
    p = np.zeros(tiny.n_items)
    p[cols] = 1.0
    x = np.linalg.solve(Y.T @ np.diag(C) @ Y + lam * np.eye(5), Y.T @ np.diag(C) @ p)
    want = Y @ x
    finite = np.isfinite(got)
    assert (~finite).sum() == 2  # the two movies nobody rated
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-5)


def test_ials_cold_items_and_explain(tiny: Interactions) -> None:
    model = ImplicitALS(factors=4, iterations=5, seed=0).fit(tiny)
    scores = model.score(np.arange(tiny.n_users))
    assert np.all(scores[:, -2:] == -np.inf) and np.isfinite(scores[:, :-2]).all()
    reasons = model.explain(int(tiny.users.ids[3]), tiny.items.ids[[0, 39]])
    assert all(r.startswith("because you rated movie ") for r in reasons)


def test_bpr_cannot_fold_in_or_predict(tiny: Interactions) -> None:
    model = BPR(factors=4, iterations=5, seed=0).fit(tiny)
    assert model.item_factors_.shape == (tiny.n_items, 5)  # implicit adds an item-bias column
    with pytest.raises(NotSupportedError):
        model.fold_in({int(tiny.items.ids[0]): 5.0})
    with pytest.raises(NotSupportedError):
        model.predict(np.array([0]), np.array([0]))


# ---------------------------------------------------------------------- real data
def _precision_at_10(model: Recommender, test: pd.DataFrame) -> float:
    truth = test.groupby("userId")["movieId"].apply(set)
    ids, _ = model.recommend(truth.index.to_numpy(), n=10)
    return float(np.mean([len(set(r) & t) / 10 for r, t in zip(ids, truth, strict=True)]))


@pytest.fixture(scope="module")
def u1(ml100k_dir: Path) -> tuple[Interactions, pd.DataFrame]:
    cols = ["userId", "movieId", "rating", "timestamp"]
    full = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=cols)
    base = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=cols)
    test = pd.read_csv(ml100k_dir / "u1.test", sep="\t", names=cols)
    users = Vocabulary.from_values(full["userId"], kind="user")
    items = Vocabulary.from_values(full["movieId"], kind="movie")
    return Interactions.from_frame(base, users, items), test


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(("cls", "bound"), [(ImplicitALS, 0.25), (BPR, 0.18)])
def test_u1_precision(u1: tuple[Interactions, pd.DataFrame], cls: type, bound: float) -> None:
    """Shipped defaults rank u1.test movies far above popularity-free chance (~0.01)."""
    train, test = u1
    model = cls().fit(train)
    assert _precision_at_10(model, test) >= bound
