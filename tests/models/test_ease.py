"""EASE: contract, closed form vs np.linalg.inv, optimality conditions, memory guard, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.errors import ConfigError
from movierec.interactions import Interactions, Vocabulary
from movierec.models import ease as ease_module
from movierec.models.base import Recommender
from movierec.models.ease import EASE
from movierec.testing import synthetic_interactions
from tests.models.contract import RecommenderContract
from tests.models.test_implicit_mf import ImplicitContract


class TestEASEContract(ImplicitContract):
    def make_model(self) -> Recommender:
        return EASE(reg=5.0)

    def invalid_params(self) -> list[dict]:
        return [{"reg": 0.0}, {"reg": -1.0}, {"reg": float("inf")}, {"binarize": 1}]


class TestEASERatingsContract(RecommenderContract):
    def make_model(self) -> Recommender:
        return EASE(reg=20.0, binarize=False)


@pytest.fixture(scope="module")
def tiny() -> Interactions:
    return synthetic_interactions(seed=11)


@pytest.mark.parametrize("binarize", [True, False])
def test_weights_match_direct_inverse(tiny: Interactions, binarize: bool) -> None:
    lam = 7.0
    model = EASE(reg=lam, binarize=binarize).fit(tiny)
    X = tiny.matrix.toarray().astype(np.float64)
    if binarize:
        X = (X > 0).astype(np.float64)
    P = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    B = np.eye(X.shape[1]) - P @ np.diag(1.0 / np.diag(P))
    np.testing.assert_allclose(np.diag(B), 0.0, atol=1e-12)
    np.testing.assert_allclose(model.weights_, B, rtol=1e-4, atol=1e-6)
    scores = model.score(np.arange(tiny.n_users))
    finite = np.isfinite(scores)
    np.testing.assert_allclose(scores[finite], (X @ B)[finite], rtol=1e-4, atol=1e-5)


def test_weights_are_optimal(tiny: Interactions) -> None:
    """KKT of min ‖X − XB‖² + λ‖B‖² s.t. diag(B) = 0: off-diagonal of (G + λI)B − G is 0."""
    lam = 3.0
    model = EASE(reg=lam).fit(tiny)
    X = (tiny.matrix.toarray() > 0).astype(np.float64)
    G = X.T @ X
    grad = (G + lam * np.eye(G.shape[0])) @ model.weights_.astype(np.float64) - G
    off = ~np.eye(G.shape[0], dtype=bool)
    assert np.abs(grad[off]).max() < 1e-4


def test_fold_in_equals_score_of_same_history(tiny: Interactions) -> None:
    model = EASE(reg=5.0).fit(tiny)
    row = 4
    seen = tiny.seen_items(row)
    ratings = {int(tiny.items.ids[c]): 3.0 for c in seen}
    np.testing.assert_allclose(
        model.fold_in(ratings), model.score(np.array([row]))[0], rtol=1e-5, atol=1e-6
    )


def test_similar_items_are_weight_rows(tiny: Interactions) -> None:
    model = EASE(reg=5.0).fit(tiny)
    ids, scores = model.similar_items(tiny.items.ids[[2]], n=3)
    row = model.weights_[2].copy()
    row[2] = -np.inf
    row[model.cold_items_] = -np.inf
    want = np.argsort(-row, kind="stable")[:3]
    np.testing.assert_array_equal(ids[0], tiny.items.ids[want])
    np.testing.assert_allclose(scores[0], row[want])


def test_explain_names_the_largest_contribution(tiny: Interactions) -> None:
    model = EASE(reg=5.0).fit(tiny)
    user = int(tiny.users.ids[0])
    ids, _ = model.recommend([user], n=1)
    col = int(tiny.items.index(ids[0])[0])
    seen = tiny.seen_items(0)
    best = seen[np.argmax(model.weights_[seen, col])]
    (reason,) = model.explain(user, ids[0])
    assert f"movie {tiny.items.ids[best]} " in reason


def test_declines_when_gram_matrix_does_not_fit(
    tiny: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="100000 movies need ~223.5 GiB"):
        EASE.check_memory(100_000, available=16 * 2**30)
    EASE.check_memory(1_000, available=16 * 2**30)  # fine
    monkeypatch.setattr(ease_module, "available_memory", lambda: 1000)
    with pytest.raises(ConfigError, match="ease: 42 movies"):
        EASE().fit(tiny)


@pytest.mark.realdata
def test_u1_precision(ml100k_dir: Path) -> None:
    cols = ["userId", "movieId", "rating", "timestamp"]
    full = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=cols)
    base = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=cols)
    test = pd.read_csv(ml100k_dir / "u1.test", sep="\t", names=cols)
    users = Vocabulary.from_values(full["userId"], kind="user")
    items = Vocabulary.from_values(full["movieId"], kind="movie")
    train = Interactions.from_frame(base, users, items)
    model = EASE().fit(train)
    assert model.weights_.shape == (1682, 1682)
    truth = test.groupby("userId")["movieId"].apply(set)
    ids, _ = model.recommend(truth.index.to_numpy(), n=10)
    precision = np.mean([len(set(r) & t) / 10 for r, t in zip(ids, truth, strict=True)])
    assert precision >= 0.25
