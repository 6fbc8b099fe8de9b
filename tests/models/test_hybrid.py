"""Hybrid: contract (with nested-model save/load), blend formula by hand, fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movierec.errors import ConfigError, NotSupportedError
from movierec.interactions import Interactions, Vocabulary
from movierec.models import Recommender, load_model
from movierec.models.baseline import BaselineOnly, Popularity
from movierec.models.common.zscore import zscore
from movierec.models.content import ContentBased
from movierec.models.hybrid import Hybrid
from movierec.models.knn import ItemKNN, UserKNN
from movierec.testing import item_id, synthetic_catalog, synthetic_interactions
from tests.models.contract import RecommenderContract, load_u1


class TestHybridItemKNN(RecommenderContract):
    def make_model(self) -> Recommender:
        return Hybrid(collaborative="item-knn", collaborative_params={"k": 5}, beta=10.0)

    def invalid_params(self) -> list[dict]:
        return [
            {"collaborative": "hybrid"},
            {"collaborative": "content"},
            {"collaborative": "nope"},
            {"collaborative_params": {"k": 0}},
            {"collaborative_params": {"no_such_param": 1}},
            {"content_params": {"weighting": "x"}},
            {"beta": -1.0},
        ]


class TestHybridUserKNN(RecommenderContract):
    def make_model(self) -> Recommender:
        return Hybrid(
            collaborative="user-knn",
            collaborative_params={"k": 4, "similarity": "pearson"},
            content_params={"title_weight": 0.0},
            beta=5.0,
        )


def test_zscore() -> None:
    s = np.array([[1.0, 2.0, 3.0, -np.inf], [2.0, 2.0, 2.0, 2.0]])
    z = zscore(s)
    np.testing.assert_allclose(z[0, :3], (np.array([1, 2, 3]) - 2) / np.sqrt(2 / 3))
    assert z[0, 3] == -np.inf
    np.testing.assert_array_equal(z[1], 0.0)


def test_blend_formula_by_hand() -> None:
    data, items = synthetic_interactions(), synthetic_catalog()
    beta = 7.0
    model = Hybrid(collaborative="user-knn", collaborative_params={"k": 5}, beta=beta)
    model.fit(data, items)
    collab = UserKNN(k=5).fit(data, items)
    content = ContentBased().fit(data, items)
    rows = np.arange(data.n_users)
    n_u = np.diff(data.matrix.indptr)
    got = model.score(rows)
    for u in rows:
        c, t = collab.score(np.array([u]))[0], content.score(np.array([u]))[0]
        zc = (c - c.mean()) / c.std()
        zt = (t - t.mean()) / t.std()
        a = n_u[u] / (n_u[u] + beta)
        expect = a * zc + (1 - a) * zt
        expect[-2:] = (1 - a) * zt[-2:]  # the two cold movies: content only
        np.testing.assert_allclose(got[u], expect, rtol=1e-4, atol=1e-5)


def test_without_catalog_uses_popularity(tmp_path: Path) -> None:
    data = synthetic_interactions()
    model = Hybrid(collaborative="item-knn", collaborative_params={"k": 5}).fit(data)
    assert model.has_content_ is False
    pop = Popularity(method="damped_mean").fit(data)
    zp = zscore(pop.score(np.array([0])))[0]
    a = model.alpha(model.counts_[[0]])[0]
    np.testing.assert_allclose(model.score(np.array([0]))[0, -2:], (1 - a) * zp[-2:], rtol=1e-5)
    loaded = load_model(model.save(tmp_path / "h.npz"))
    np.testing.assert_array_equal(loaded.score(np.arange(5)), model.score(np.arange(5)))
    assert "popular" in model.explain(int(data.users.ids[0]), [item_id(3)])[0]


def test_fold_in_fallbacks() -> None:
    data, items = synthetic_interactions(), synthetic_catalog()
    model = Hybrid(collaborative="item-knn", collaborative_params={"k": 5}).fit(data, items)
    empty = model.fold_in({})
    pop = Popularity(method="damped_mean").fit(data)
    np.testing.assert_allclose(empty, zscore(pop.scores_[None, :])[0], rtol=1e-5)
    one = model.fold_in({item_id(2): 5.0})
    assert one.shape == (data.n_items,) and np.all(np.isfinite(one))


def test_explain_combines_parts() -> None:
    data, items = synthetic_interactions(), synthetic_catalog()
    heavy = Hybrid(collaborative="item-knn", collaborative_params={"k": 5}, beta=0.5)
    heavy.fit(data, items)
    user = int(data.users.ids[0])
    ids, _ = heavy.recommend([user], n=2, candidates=data.items.ids[:40])
    reasons = heavy.explain(user, ids[0])
    knn = ItemKNN(k=5).fit(data, items)
    content = ContentBased().fit(data, items)
    for movie, reason in zip(ids[0], reasons, strict=True):
        assert reason == f"{knn.explain(user, [movie])[0]}; {content.explain(user, [movie])[0]}"
    cold = heavy.explain(user, [item_id(41)])[0]
    assert cold == content.explain(user, [item_id(41)])[0]


def test_bad_collaborative_params_error_names_param() -> None:
    with pytest.raises(ConfigError, match="no_such"):
        Hybrid(collaborative_params={"no_such": 1}).fit(synthetic_interactions())


@pytest.mark.realdata
def test_hybrid_real_u1(ml100k_dir: Path) -> None:
    train, _ = load_u1(ml100k_dir)
    model = Hybrid(collaborative="user-knn").fit(train)
    ids, _ = model.recommend(train.users.ids, n=10)
    assert np.all(ids > 0)
    for r in range(train.n_users):
        assert not np.isin(ids[r], train.items.ids[train.seen_items(r)]).any()
    cold = train.items.ids[np.diff(train.matrix.tocsc().indptr) == 0]
    assert cold.size > 0  # movies only rated in u1.test
    # heavy raters (alpha near 1) are not flooded with cold movies
    heavy = train.users.ids[np.diff(train.matrix.indptr) >= 100]
    top, _ = model.recommend(heavy, n=10)
    assert np.isin(top, cold).mean() < 0.05


def test_user_without_ratings_gets_popularity() -> None:
    """A user in the vocabulary with no training rating: popularity (and finite KNN scores)."""
    frame = synthetic_interactions().to_frame()
    users = Vocabulary(np.append(np.unique(frame.userId), 10_000), kind="user")
    data = Interactions.from_frame(frame, users=users, items=synthetic_interactions().items)
    model = Hybrid(collaborative="user-knn").fit(data, synthetic_catalog())
    row = np.array([data.n_users - 1])
    pop = Popularity(method="damped_mean").fit(data)
    np.testing.assert_allclose(model.score(row)[0], zscore(pop.score(row))[0], rtol=1e-5)
    # no neighbour term for them: user-knn's rating is its baseline μ + b_i (b_u = 0), the
    # baseline model's (same regularisation); the seed's formula gave the global mean
    knn = UserKNN().fit(data)
    base = BaselineOnly().fit(data)
    cols = np.arange(data.n_items)
    np.testing.assert_allclose(
        knn.predict_rows(np.full(cols.size, row[0]), cols),
        base.predict_rows(np.full(cols.size, row[0]), cols),
        rtol=1e-6,
    )
    seed = UserKNN(center="mean", rating_damping=0.0).fit(data)
    mu = float(data.matrix.data.mean())
    np.testing.assert_allclose(seed.predict_rows(row, np.array([0])), [mu], rtol=1e-6)


def test_hybrid_similar_items_is_declared_only_when_a_part_has_it() -> None:
    """user-knn has no item similarities: the hybrid borrows content's, so without a
    catalogue (popularity instead of content) it has none, says so, and raises."""
    data = synthetic_interactions()
    with_content = Hybrid(collaborative="user-knn").fit(data, synthetic_catalog())
    assert "similar_items" in with_content.abilities
    ids, _ = with_content.similar_items([item_id(0)], n=3)
    expect, _ = with_content._models()["content"].similar_items([item_id(0)], n=3)
    np.testing.assert_array_equal(ids, expect)
    without = Hybrid(collaborative="user-knn").fit(data)
    assert without.abilities == {"fold_in", "explain", "explain_ratings"}
    with pytest.raises(NotSupportedError):
        without.similar_items([item_id(0)], n=3)
    assert "similar_items" in Hybrid(collaborative="item-knn").fit(data).abilities
