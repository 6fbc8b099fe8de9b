"""Ensembles (RatingBlend, RankBlend) and RP3beta: contract, brute-force references, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movierec.errors import ConfigError, NotSupportedError
from movierec.interactions import Interactions
from movierec.models import Recommender, load_model
from movierec.models.blend import (
    RankBlend,
    RatingBlend,
    build_parts,
    carve_holdout,
    fwls_features,
    ridge_fit,
)
from movierec.models.common.zscore import finite_zscore, zscore
from movierec.models.graph import RP3beta, rp3beta_weights
from movierec.models.parts import restore_parts
from movierec.models.registry import make_model
from movierec.testing import synthetic_interactions
from tests.models.contract import RecommenderContract, load_u1, u1_rmse
from tests.models.test_implicit_mf import liked_only_interactions

FAST_BASES = {
    "baseline": {},
    "svd": {"factors": 4, "epochs": 15, "blocks": 1},
    "knn": {"model": "item-knn", "k": 5},
}
FAST_SIGNALS = {"ease": {"reg": 10.0}}


def fast_blend(**kw: object) -> RatingBlend:
    params = {"bases": FAST_BASES, "signals": FAST_SIGNALS, "holdout": 0.25, "reg": 1.0}
    return RatingBlend(**{**params, **kw})  # type: ignore[arg-type]


class TestRatingBlend(RecommenderContract):
    def make_model(self) -> Recommender:
        return fast_blend()

    def invalid_params(self) -> list[dict]:
        return [
            {"holdout": 0.0},
            {"holdout": 0.9},
            {"reg": -1.0},
            {"meta": "yes"},
            {"bases": {}},
            {"bases": {"ease": {}}},  # ranks only
            {"bases": {"nope": {}}},
            {"bases": {"x": {"model": "blend"}}},
            {"bases": {"a__b": {"model": "svd"}}},
            {"bases": {"svd": {"factors": 0}}},
            {"signals": {"rank-blend": {}}},
            {"signals": {"baseline": {}}},  # same label as a base
        ]


class ImplicitData(RecommenderContract):
    """Ranking-only parts learn from *which* movies were rated: train them on the liked ones
    (the contract data's taste groups show only in the star values)."""

    rating_values_matter = False  # every part reads only which movies were rated

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Interactions:
        return liked_only_interactions()


class TestRankBlend(ImplicitData):
    def make_model(self) -> Recommender:
        return RankBlend(
            parts={"ease": {"reg": 10.0}, "pop": {"model": "popularity"}},
            weights={"ease": 1.0, "pop": 0.5},
        )

    def invalid_params(self) -> list[dict]:
        return [
            {"weights": {"ease": 1.0}},
            {"weights": {"ease": 1.0, "pop": float("nan")}},
            {"weights": {"ease": 0.0, "pop": 0.0}},
            {"weights": {"ease": 1.0, "pop": 1.0, "extra": 1.0}},
            {"parts": {"x": {"model": "hybrid"}}, "weights": {"x": 1.0}},
            {"parts": "ease"},
            {"parts": {"ease": {"reg": -1.0}, "pop": {"model": "popularity"}}},
        ]


class TestRP3beta(ImplicitData):
    def make_model(self) -> Recommender:
        return RP3beta(alpha=0.8, beta=0.3, k=10)

    def invalid_params(self) -> list[dict]:
        return [{"alpha": 0.0}, {"beta": -0.1}, {"k": 0}, {"k": 2.5}]


# ---------------------------------------------------------------------- helpers
def test_carve_holdout_counts_and_partition() -> None:
    data = synthetic_interactions()
    rest, rows, cols, vals = carve_holdout(data, 0.25, seed=3)
    counts = np.diff(data.matrix.indptr)
    np.testing.assert_array_equal(np.bincount(rows, minlength=data.n_users), counts // 4)
    assert rest.nnz + rows.size == data.nnz
    assert rest.users == data.users and rest.items == data.items
    # held-out pairs are absent from rest and carry their original ratings
    assert np.all(np.asarray(rest.matrix[rows, cols]).ravel() == 0)
    np.testing.assert_array_equal(vals, np.asarray(data.matrix[rows, cols]).ravel())
    # the union is the original matrix (ratings and timestamps)
    back = rest.matrix.toarray()
    back[rows, cols] = vals
    np.testing.assert_array_equal(back, data.matrix.toarray())
    assert rest.timestamps is not None and rest.timestamps.nnz == rest.nnz
    again = carve_holdout(data, 0.25, seed=3)
    np.testing.assert_array_equal(again[1], rows)
    other = carve_holdout(data, 0.25, seed=4)
    assert not np.array_equal(other[2], cols)


def test_ridge_fit_closed_form() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 4.0 + rng.normal(0, 0.1, 200)
    a = np.column_stack([x, np.ones(200)])
    np.testing.assert_allclose(ridge_fit(x, y, 0.0), np.linalg.lstsq(a, y, rcond=None)[0])
    # λ > 0: the augmented least-squares system [A; √λ D] w = [y; 0], intercept unpenalised
    lam = 7.0
    d = np.sqrt(lam) * np.diag([1, 1, 1, 1, 1, 0.0])
    aug = np.vstack([a, d])
    ref = np.linalg.lstsq(aug, np.r_[y, np.zeros(6)], rcond=None)[0]
    np.testing.assert_allclose(ridge_fit(x, y, lam), ref, atol=1e-10)


def test_fwls_features_by_hand() -> None:
    p = np.array([[1.0, 2.0], [3.0, 4.0]])
    f = np.array([[10.0, 100.0], [20.0, 200.0]])
    got = fwls_features(p, f)
    want = np.array(
        [
            [1, 2, 10, 100, 20, 200, 10, 100],
            [3, 4, 60, 600, 80, 800, 20, 200],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(got, want)


def test_rating_blend_weights_equal_lstsq_on_holdout() -> None:
    """meta=False, reg=0: the blend is the OLS fit of the holdout ratings on the bases'
    holdout predictions (brute force: refit the bases on the same carve-out)."""
    data = synthetic_interactions()
    blend = fast_blend(signals={}, meta=False, reg=0.0).fit(data)
    rest, rows, cols, y = carve_holdout(data, 0.25, seed=0)
    parts = build_parts(FAST_BASES)
    preds = np.column_stack([m.fit(rest).predict_rows(rows, cols) for m in parts.values()])
    preds = preds.astype(np.float64)
    a = np.column_stack([preds, np.ones(len(y))])
    w = np.linalg.lstsq(a, y, rcond=None)[0]
    np.testing.assert_allclose(blend._apply(preds), a @ w, atol=1e-8)
    eff = blend.blend_weights()
    np.testing.assert_allclose([eff[k] for k in FAST_BASES], w[:-1], atol=1e-8)
    lo, hi = data.rating_scale
    assert blend.holdout_rmse_ == pytest.approx(
        float(np.sqrt(np.mean((np.clip(a @ w, lo, hi) - y) ** 2)))
    )


def test_rating_blend_predict_uses_refitted_bases() -> None:
    """After fit the parts are trained on *all* the data: predictions are the weights applied
    to the full-data bases' predictions (checked by hand for meta=False)."""
    data = synthetic_interactions()
    blend = fast_blend(signals={}, meta=False).fit(data)
    rows, cols = np.array([0, 4, 9, 20]), np.array([1, 3, 25, 30])
    parts = build_parts(FAST_BASES)
    preds = np.column_stack([m.fit(data).predict_rows(rows, cols) for m in parts.values()])
    preds = preds.astype(np.float64)
    want = np.clip(blend._apply(preds), *data.rating_scale)
    np.testing.assert_allclose(blend.predict_rows(rows, cols), want, atol=1e-10)
    np.testing.assert_allclose(blend.score(rows)[np.arange(4), cols], want, atol=1e-5)


def test_nested_params_checked_before_fitting() -> None:
    """``_validate`` (what ``evaluate`` calls before any fit) checks the parts' parameters."""
    with pytest.raises(ConfigError, match="factors"):
        RatingBlend(bases={"svd": {"factors": 0}})._validate()
    with pytest.raises(ConfigError, match="no parameter"):
        RankBlend(parts={"ease": {"nope": 1}}, weights={"ease": 1.0})._validate()


def test_rating_blend_rejects_tiny_holdout() -> None:
    data = synthetic_interactions()
    with pytest.raises(ConfigError, match="holdout"):
        fast_blend(holdout=0.05).fit(data)  # floor(0.05 · ≤16) = 0 for every user


def test_rank_blend_formula_by_hand() -> None:
    data = synthetic_interactions()
    model = TestRankBlend().make_model().fit(data)
    rows = np.arange(data.n_users)
    e = make_model("ease", reg=10.0).fit(data).score(rows)
    p = make_model("popularity").fit(data).score(rows)

    def z(s: np.ndarray) -> np.ndarray:
        out = zscore(s)
        low = np.array([r[np.isfinite(r)].min() for r in out])[:, None]
        return np.where(np.isfinite(out), out, low)

    want = 1.0 * z(e) + 0.5 * z(p)
    want[~np.isfinite(e) & ~np.isfinite(p)] = -np.inf
    np.testing.assert_allclose(model.score(rows), want, atol=1e-5)


def test_rank_blend_explains_by_its_largest_term() -> None:
    """Each reason is the reason of the part with the largest positive w·z term that gives
    one, tagged with its share of Σ|w·z|; a part that cannot explain (rp3beta) is passed
    over for the next one; no positive term with a reason: ``""``."""
    data = liked_only_interactions()
    weights = {"rp3": 3.0, "ease": 1.0, "pop": 0.5}
    specs = {"rp3": {"model": "rp3beta", "k": 10}, "ease": {"reg": 10.0}, "pop": {}}
    model = RankBlend(
        parts={**specs, "pop": {"model": "popularity"}},
        weights=weights,
    ).fit(data)
    assert model.abilities == {"fold_in", "explain", "explain_ratings"}
    parts = {
        "rp3": make_model("rp3beta", k=10).fit(data),
        "ease": make_model("ease", reg=10.0).fit(data),
        "pop": make_model("popularity").fit(data),
    }
    checked = set()
    for u in range(12):
        user = int(data.users.ids[u])
        ids, _ = model.recommend(user, n=4)
        cols = data.items.index(ids)
        terms = {
            k: weights[k] * finite_zscore(m.score(np.array([u])))[0, cols] for k, m in parts.items()
        }
        total = sum(np.abs(t) for t in terms.values())
        own = {k: parts[k].explain(user, ids) for k in ("ease", "pop")}
        want = []
        for r in range(ids.size):
            reason = ""
            for k in sorted(terms, key=lambda k: -terms[k][r]):
                if terms[k][r] <= 0:
                    break
                if k in own and own[k][r]:
                    reason = f"{own[k][r]} — {k}, {terms[k][r] / total[r]:.0%} of the blended score"
                    checked.add(k)
                    break
            want.append(reason)
        assert model.explain(user, ids) == want
    assert checked == {"ease", "pop"}  # both branches seen
    folded = model.explain_ratings({int(data.items.ids[0]): 5.0}, data.items.ids[[1, 2]])
    assert len(folded) == 2 and all(" of the blended score" in r for r in folded)


def test_rank_blend_without_explaining_parts_declines() -> None:
    data = liked_only_interactions()
    model = RankBlend(parts={"rp3beta": {"k": 10}}, weights={"rp3beta": 1.0}).fit(data)
    assert model.abilities == {"fold_in"}
    with pytest.raises(NotSupportedError):
        model.explain(int(data.users.ids[0]), data.items.ids[:2])
    with pytest.raises(NotSupportedError):
        model.explain_ratings({int(data.items.ids[0]): 5.0}, data.items.ids[:2])


def test_rating_blend_explains_by_its_strongest_positive_part() -> None:
    """Per movie, the reason of the first part (by decreasing positive weight) that gives
    one, tagged with its name and weight."""
    data = synthetic_interactions()
    model = fast_blend().fit(data)
    w = {label: float(model.weights_[j]) for j, label in enumerate(model.labels_)}
    parts = restore_parts(model, model._build)
    ranked = sorted((k for k in w if round(w[k], 2) > 0), key=lambda k: -w[k])
    assert any(w[k] < 0 for k in w)  # a negatively weighted part is passed over
    for user in data.users.ids[:6]:
        ids, _ = model.recommend(int(user), n=5)
        own = {k: parts[k].explain(int(user), ids) for k in ranked}
        want = [
            next(
                (f"{own[k][r]} — {k}, weight {w[k]:.2f} in the blend" for k in ranked if own[k][r]),
                "",
            )
            for r in range(ids.size)
        ]
        assert model.explain(int(user), ids) == want
    new_user = model.explain_ratings({int(data.items.ids[0]): 5.0}, ids)
    assert len(new_user) == 5 and all(" in the blend" in r for r in new_user if r)


def test_rp3beta_weights_brute_force() -> None:
    data = synthetic_interactions()
    x = (data.matrix.toarray() > 0).astype(float)
    alpha, beta = 0.7, 0.4
    p_ui = x / np.maximum(x.sum(1, keepdims=True), 1)
    p_iu = x.T / np.maximum(x.sum(0)[:, None], 1)
    pop = x.sum(0)
    w = (p_iu**alpha) @ (p_ui**alpha)
    w = w * np.where(pop > 0, np.maximum(pop, 1) ** -beta, 0.0)[None, :]
    np.fill_diagonal(w, 0.0)
    got = rp3beta_weights(data.matrix, alpha, beta, k=data.n_items, block=7).toarray()
    np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-7)
    # top-k pruning keeps the k largest entries of every row
    k = 5
    pruned = rp3beta_weights(data.matrix, alpha, beta, k=k).toarray()
    for i in range(data.n_items):
        kept = np.flatnonzero(pruned[i])
        assert kept.size <= k
        if kept.size:
            assert w[i, kept].min() >= np.sort(w[i])[-k] - 1e-7
    model = RP3beta(alpha=alpha, beta=beta, k=data.n_items).fit(data)
    s = model.score(np.arange(data.n_users))
    ref = (x @ w).astype(np.float32)
    cold = pop == 0
    np.testing.assert_allclose(s[:, ~cold], ref[:, ~cold], rtol=1e-4, atol=1e-6)
    assert np.all(s[:, cold] == -np.inf)


# ---------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def u1(ml100k_dir: Path) -> tuple[Interactions, object]:
    return load_u1(ml100k_dir)


@pytest.mark.realdata
@pytest.mark.slow
def test_rating_blend_beats_its_best_base_on_u1(u1: tuple, tmp_path: Path) -> None:
    """ml100k-u1: the default blend beats svdpp (the best single model) by > 0.01 RMSE
    (measured 0.904 vs 0.918) and survives a save/load round-trip."""
    train, test = u1
    blend = RatingBlend().fit(train)
    svdpp = make_model("svdpp").fit(train)
    got, ref = u1_rmse(blend, train, test), u1_rmse(svdpp, train, test)
    assert got < 0.908
    assert got < ref - 0.01
    loaded = load_model(blend.save(tmp_path / "blend.npz"))
    rows, cols = np.array([0, 1, 2, 500]), np.array([0, 10, 20, 30])
    np.testing.assert_array_equal(loaded.predict_rows(rows, cols), blend.predict_rows(rows, cols))


def test_blend_fold_in_equals_the_design_of_its_folded_parts() -> None:
    data = synthetic_interactions(seed=6)
    blend = fast_blend().fit(data)
    ratings = {int(data.items.ids[i]): float(r) for i, r in ((0, 5.0), (4, 2.0), (9, 4.0))}
    got = blend.fold_in(ratings)

    parts = restore_parts(blend, blend._build)
    cols = [parts[label].fold_in_ratings(ratings) for label in FAST_BASES]
    cols += [finite_zscore(parts[label].fold_in(ratings)[None, :])[0] for label in FAST_SIGNALS]
    p = np.column_stack(cols).astype(np.float64)
    n_i = np.bincount(data.matrix.indices, minlength=data.n_items)
    meta = np.column_stack([np.full(data.n_items, np.log1p(3)), np.log1p(n_i)])
    want = np.clip(blend._apply(fwls_features(p, meta)), *data.rating_scale)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.array_equal(blend.fold_in_ratings(ratings), got)


def test_blend_fold_in_predicts_new_users_on_real_data(ml100k_dir: Path) -> None:
    """30 active u1 users are left out of training; half of each one's ratings are folded
    in and the other half predicted: the blend beats the baseline's fold-in."""
    train, _ = load_u1(ml100k_dir)
    frame = train.to_frame()
    counts = frame.groupby("userId").size()
    new = counts[counts >= 60].index.to_numpy()[::10][:30]
    rest = Interactions.from_frame(frame[~frame["userId"].isin(new)], users=None, items=train.items)
    blend = RatingBlend().fit(rest)
    base = make_model("baseline").fit(rest)
    err_blend, err_base = [], []
    for u in new:
        mine = frame[frame["userId"] == u].sample(frac=1.0, random_state=int(u))
        half = len(mine) // 2
        given = dict(zip(mine["movieId"][:half], mine["rating"][:half], strict=True))
        held = mine.iloc[half:]
        cols = rest.items.index(held["movieId"].to_numpy())
        truth = held["rating"].to_numpy()
        err_blend += list(blend.fold_in(given)[cols] - truth)
        err_base += list(base.fold_in_ratings(given)[cols] - truth)
    rmse_blend = float(np.sqrt(np.mean(np.square(err_blend))))
    rmse_base = float(np.sqrt(np.mean(np.square(err_base))))
    assert rmse_blend < rmse_base - 0.02, (rmse_blend, rmse_base)


def test_blend_abilities_follow_its_parts() -> None:
    """A signal that cannot fold in (bpr) takes fold_in / fold_in_ratings away from the
    blend, which then raises for them; a rank blend with a part that cannot fold in
    neither folds in nor explains new users."""
    data = synthetic_interactions()
    blend = fast_blend(signals={"bpr": {"factors": 4, "iterations": 5}}).fit(data)
    assert {"predict", "explain"} <= blend.abilities
    assert not {"fold_in", "fold_in_ratings"} & blend.abilities
    with pytest.raises(NotSupportedError):
        blend.fold_in({int(data.items.ids[0]): 5.0})
    with pytest.raises(NotSupportedError):
        blend.fold_in_ratings({int(data.items.ids[0]): 5.0})
    rank = RankBlend(
        parts={"ease": {"reg": 10.0}, "bpr": {"factors": 4, "iterations": 5}},
        weights={"ease": 1.0, "bpr": 1.0},
    ).fit(data)
    assert rank.abilities == {"explain"}
    with pytest.raises(NotSupportedError):
        rank.explain_ratings({int(data.items.ids[0]): 5.0}, data.items.ids[:2])


# ---------------------------------------------------------------------- self-fitting weights
class NoiseScores(Recommender):
    """A ranking part with no signal: seeded uniform scores."""

    name = "test-noise"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _fit(self, data: Interactions, items: object) -> None:
        self.table_ = np.random.default_rng(self.seed).random((data.n_users, data.n_items))

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return self.table_[np.asarray(user_rows)].astype(np.float32)


NOISY_PARTS = {
    "ease": {"reg": 10.0},
    "pop": {"model": "popularity"},
    "noise": {"model": "test-noise"},
}


def carve_design(data: Interactions, carve: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """By hand, what ``RankBlend`` searches its weights on: a 20 % carve (seed 0), the
    ``NOISY_PARTS`` fitted on the rest, their z-scored rows for the carved users, the
    movies those users rated in the rest (blocked) and the carved ones (relevant)."""
    rest, rows, cols, _ = carve_holdout(data, 0.2, seed=0, how=carve)
    users = np.unique(rows)
    parts = build_parts(NOISY_PARTS)
    z = np.stack([finite_zscore(parts[k].fit(rest).score(users)) for k in NOISY_PARTS])
    relevant = np.zeros((users.size, data.n_items), dtype=bool)
    relevant[np.searchsorted(users, rows), cols] = True
    blocked = rest.matrix[users].toarray() != 0
    return z, blocked, relevant


def clustered_interactions(n_users: int = 240, n_items: int = 120, seed: int = 0) -> Interactions:
    """Users of four taste clusters, each rating ~25 movies, mostly of their cluster's
    quarter of the catalogue, popular ones more often; random timestamps."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.5
    rows = []
    for u in range(n_users):
        group = u % 4
        weight = pop * np.where(np.arange(n_items) % 4 == group, 8.0, 1.0)
        items = rng.choice(n_items, size=25, replace=False, p=weight / weight.sum())
        for i in items:
            rows.append((u + 1, int(i) + 1, float(rng.integers(1, 6)), int(rng.integers(1e9))))
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    return Interactions.from_frame(frame)


@pytest.fixture()
def noise_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from movierec.models import registry

    monkeypatch.setitem(registry.MODELS, "test-noise", "tests.models.test_blend:NoiseScores")


def test_carve_newest_holds_out_each_users_latest_ratings() -> None:
    data = synthetic_interactions(seed=4)
    rest, rows, cols, _ = carve_holdout(data, 0.25, seed=0, how="newest")
    frame = data.to_frame()
    held = set(zip(data.users.ids[rows].tolist(), data.items.ids[cols].tolist(), strict=True))
    want = set()
    for user, g in frame.groupby("userId"):
        n = int(np.floor(0.25 * len(g)))
        g = g.sort_values(["timestamp", "movieId"], ascending=False)
        want |= {(int(user), int(m)) for m in g.movieId[:n]}
    assert held == want and rest.matrix.nnz == data.matrix.nnz - len(want)
    with pytest.raises(ConfigError, match="carve must be"):
        carve_holdout(data, 0.25, seed=0, how="oldest")
    with pytest.raises(ConfigError, match="carve must be"):
        RankBlend(carve="oldest").validate()


@pytest.mark.parametrize("carve", ["random", "newest"])
def test_rank_blend_learns_its_weights_on_the_carve(noise_model: None, carve: str) -> None:
    """The weights are those :func:`fit_rank_weights` finds on the carve of the training
    data (recomputed here by hand); a part that is pure noise gets weight 0; on the carve
    the blend is at least as good as its best part."""
    from movierec.models.blend import fit_rank_weights

    data = clustered_interactions()
    model = RankBlend(parts=NOISY_PARTS, carve=carve).fit(data)
    w = dict(zip(model.labels_, model.weights_, strict=True))
    assert w["noise"] == 0.0 and w["ease"] > 0
    assert model.validation_ndcg_ >= max(model.validation_parts_ndcg_.values())
    assert model.validation_parts_ndcg_["noise"] < model.validation_parts_ndcg_["pop"]
    # by hand: carve, fit the parts on the rest, search
    z, blocked, relevant = carve_design(data, carve)
    want, value, alone = fit_rank_weights(z.astype(np.float32), blocked, relevant, 20)
    np.testing.assert_array_equal(model.weights_, want)
    assert model.validation_ndcg_ == pytest.approx(value)
    # the parts used for scoring are refitted on all the data
    full = build_parts({"ease": {"reg": 10.0}})["ease"].fit(data)
    parts_used = restore_parts(model, model._build)
    np.testing.assert_allclose(parts_used["ease"].score([0, 1]), full.score([0, 1]))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "20", None])
def test_rank_blend_objective_k_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ConfigError, match="k must be an integer >= 1"):
        RankBlend(k=bad).validate()  # type: ignore[arg-type]


def test_rank_blend_weights_maximise_the_carve_ndcg_at_its_own_k(noise_model: None) -> None:
    """``k`` is the list length of the objective (default 20): the learned weights are the
    ones :func:`fit_rank_weights` finds for that ``k``, and the reported validation value
    is the carve's NDCG@k, recomputed by brute force (a plain loop over users)."""
    from movierec.models.blend import fit_rank_weights

    assert RankBlend().k == 20
    data = clustered_interactions()
    z, blocked, relevant = carve_design(data, "random")
    for k in (3, 20):
        model = RankBlend(parts=NOISY_PARTS, k=k).fit(data)
        want, _, _ = fit_rank_weights(z.astype(np.float32), blocked, relevant, k)
        np.testing.assert_array_equal(model.weights_, want)
        s = np.tensordot(want, z, axes=1).astype(np.float32)
        total = 0.0
        for a in range(len(z[0])):
            order = [i for i in np.argsort(-s[a], kind="stable") if not blocked[a, i]][:k]
            dcg = sum(1.0 / np.log2(r + 2) for r, i in enumerate(order) if relevant[a, i])
            ideal = sum(1.0 / np.log2(r + 2) for r in range(min(k, int(relevant[a].sum()))))
            total += dcg / ideal if ideal else 0.0
        assert model.validation_ndcg_ == pytest.approx(total / len(z[0]), abs=1e-6)


def test_rank_blend_is_not_worse_than_its_best_part_on_the_carve_by_construction() -> None:
    """fit_rank_weights starts from the best part alone and only accepts improvements."""
    from movierec.models.blend import fit_rank_weights, ndcg_of_scores

    rng = np.random.default_rng(0)
    relevant = rng.random((50, 40)) < 0.1
    good = relevant + rng.normal(0, 0.8, relevant.shape)
    z = np.stack([good, rng.normal(size=relevant.shape), -good]).astype(np.float32)
    blocked = np.zeros_like(relevant)
    w, value, alone = fit_rank_weights(z, blocked, relevant, 5)
    assert w[0] == 1.0 and w[2] == 0.0
    assert value >= max(alone) == alone[0]
    assert value == pytest.approx(ndcg_of_scores(np.tensordot(w, z, axes=1), blocked, relevant, 5))


def test_with_tuned_parts_swaps_only_parts_at_their_defaults() -> None:
    """``evaluate --tune``'s part substitution: ``{}`` / ``{"model": m}`` parts take the tuned
    values, parts with hyperparameters of their own and untuned models keep theirs."""
    from movierec.models.blend import (
        DEFAULT_RATING_BASES,
        defaulted_parts,
        with_tuned_parts,
    )

    params = RatingBlend().get_params()
    parts = defaulted_parts("blend", params)
    assert parts["svd"] == "svd" and "svd10" not in parts and parts["ease"] == "ease"
    tuned = {"svd": {"factors": 7, "reg": 0.2}, "ease": {"reg": 99.0}}
    out = with_tuned_parts("blend", params, tuned)
    assert out["bases"]["svd"] == {"model": "svd", "factors": 7, "reg": 0.2}
    assert out["bases"]["svd10"] == DEFAULT_RATING_BASES["svd10"]
    assert out["bases"]["autorec"] == {}  # not tuned: unchanged
    assert out["signals"]["ease"] == {"model": "ease", "reg": 99.0}
    assert params["bases"] is None  # the input is not modified
    renamed = {"bases": {"mine": {"model": "svd"}}, "signals": {}}
    assert with_tuned_parts("blend", renamed, tuned)["bases"]["mine"] == {
        "model": "svd",
        "factors": 7,
        "reg": 0.2,
    }
    assert defaulted_parts("baseline", {}) == {}
    assert with_tuned_parts("hybrid", {"beta": 1.0}, tuned) == {"beta": 1.0}
    RatingBlend(**out)._validate()
