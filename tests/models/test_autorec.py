"""I-AutoRec: contract, gradients vs finite differences, training, fold-in, fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from movierec.interactions import Interactions
from movierec.models.autorec import AutoRec, AutoRecParams, encode, loss_and_grad
from movierec.models.base import Recommender
from movierec.testing import synthetic_interactions
from tests.models.contract import RecommenderContract, load_u1, u1_rmse


def fast_model(**kw: object) -> AutoRec:
    """The plain autoencoder (no tail shrinkage) unless ``tail_shrink=True`` is passed."""
    params = {"hidden": 12, "epochs": 60, "lr": 0.02, "reg": 1.0, "batch_size": 16}
    params["tail_shrink"] = False
    return AutoRec(**{**params, **kw})  # type: ignore[arg-type]


class TestAutoRecContract(RecommenderContract):
    def make_model(self) -> Recommender:
        return fast_model()

    def invalid_params(self) -> list[dict]:
        return [
            {"hidden": 0},
            {"hidden": 2.5},
            {"epochs": 0},
            {"lr": 0.0},
            {"lr": float("nan")},
            {"reg": -1.0},
            {"batch_size": 0},
            {"seed": -1},
            {"tail_shrink": "yes"},
        ]


@pytest.fixture(scope="module")
def tiny() -> Interactions:
    return synthetic_interactions(seed=5)


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    n_items, n_users, k = 6, 8, 3
    dense = (rng.random((n_items, n_users)) < 0.45) * rng.integers(1, 6, (n_items, n_users))
    X = sp.csr_matrix(dense.astype(np.float64))
    p = AutoRecParams(
        Vt=rng.normal(0.0, 0.3, (n_users, k)),
        mu=rng.normal(0.0, 0.3, k),
        W=rng.normal(0.0, 0.3, (n_users, k)),
        b=rng.normal(3.0, 0.3, n_users),
    )
    reg, scale = 0.7, 0.4
    _, grads = loss_and_grad(X, p, reg, scale)
    eps = 1e-6
    for arr, grad in zip(p.arrays(), grads, strict=True):
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up, _ = loss_and_grad(X, p, reg, scale)
            arr[idx] = old - eps
            down, _ = loss_and_grad(X, p, reg, scale)
            arr[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_loss_matches_definition() -> None:
    rng = np.random.default_rng(4)
    dense = (rng.random((5, 7)) < 0.5) * rng.integers(1, 6, (5, 7)).astype(np.float64)
    X = sp.csr_matrix(dense)
    p = AutoRecParams(*(rng.normal(0, 0.2, s) for s in [(7, 3), (3,), (7, 3), (7,)]))
    H = 1.0 / (1.0 + np.exp(-(dense @ p.Vt + p.mu)))
    R = H @ p.W.T + p.b
    want = np.sum(((R - dense) * (dense != 0)) ** 2) + 0.5 * 2.0 * (
        np.sum(p.W**2) + np.sum(p.Vt**2)
    )
    loss, _ = loss_and_grad(X, p, reg=2.0)
    assert loss == pytest.approx(want, rel=1e-10)


def test_training_reduces_loss(tiny: Interactions) -> None:
    model = fast_model(epochs=40).fit(tiny)
    history = model.loss_history_
    assert len(history) == 40
    assert history[-1] < 0.5 * history[0]
    # the objective of the final weights on all movies is below the first epoch's
    X = sp.csr_matrix(tiny.matrix.T, dtype=np.float32)
    rated = np.flatnonzero(np.diff(X.indptr) > 0)
    p = AutoRecParams(model.encoder_, model.encoder_bias_, model.decoder_, model.decoder_bias_)
    final, _ = loss_and_grad(X[rated], p, model.reg)
    assert final < history[0]


def test_deterministic_and_seed_matters(tiny: Interactions) -> None:
    a = fast_model(epochs=5).fit(tiny).decoder_
    b = fast_model(epochs=5).fit(tiny).decoder_
    c = fast_model(epochs=5, seed=1).fit(tiny).decoder_
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_score_and_predict_are_the_decoder(tiny: Interactions) -> None:
    model = fast_model(epochs=10).fit(tiny)
    X = sp.csr_matrix(tiny.matrix.T, dtype=np.float32)
    H = encode(X, model.encoder_, model.encoder_bias_)
    want = (H @ model.decoder_.T + model.decoder_bias_).T  # (n_users, n_items)
    scores = model.score(np.arange(tiny.n_users))
    warm = ~model.cold_items_
    np.testing.assert_allclose(scores[:, warm], want[:, warm], rtol=1e-5, atol=1e-5)
    rows = np.repeat(np.arange(tiny.n_users), tiny.n_items)
    cols = np.tile(np.arange(tiny.n_items), tiny.n_users)
    lo, hi = tiny.rating_scale
    np.testing.assert_allclose(
        model.predict_rows(rows, cols), np.clip(scores.ravel(), lo, hi), rtol=1e-5, atol=1e-5
    )


def test_cold_items_and_users_get_global_mean(tiny: Interactions) -> None:
    model = fast_model(epochs=5).fit(tiny)
    mean = float(tiny.matrix.data.mean())
    cold = np.flatnonzero(model.cold_items_)
    assert cold.size == 2
    np.testing.assert_allclose(model.score(np.array([0, 3]))[:, cold], mean, rtol=1e-6)
    # a user whose ratings are all removed is a cold user
    m = tiny.matrix.tolil()
    m.rows[0], m.data[0] = [], []
    data = Interactions(m.tocsr(), tiny.users, tiny.items, None, tiny.rating_scale)
    model = fast_model(epochs=5).fit(data)
    assert model.cold_users_[0] and not model.cold_users_[1:].any()
    cold_mean = float(data.matrix.data.mean())
    np.testing.assert_allclose(model.score(np.array([0]))[0], cold_mean, rtol=1e-6)


def test_fold_in_of_an_existing_user_is_close_to_their_scores(tiny: Interactions) -> None:
    model = fast_model(epochs=200).fit(tiny)
    warm = ~model.cold_items_
    for row in (2, 20):
        start, end = tiny.matrix.indptr[row], tiny.matrix.indptr[row + 1]
        cols, values = tiny.matrix.indices[start:end], tiny.matrix.data[start:end]
        ratings = {int(tiny.items.ids[c]): float(v) for c, v in zip(cols, values, strict=True)}
        folded = model.fold_in(ratings)[warm]
        trained = model.score(np.array([row]))[0][warm]
        assert np.corrcoef(folded, trained)[0, 1] > 0.9
        assert np.sqrt(np.mean((folded - trained) ** 2)) < 0.35


def test_fold_in_ridge_closed_form(tiny: Interactions) -> None:
    model = fast_model(epochs=5).fit(tiny)
    cols = np.array([0, 4, 25, 30])
    values = np.array([5.0, 4.0, 1.0, 2.0])
    ratings = {int(tiny.items.ids[c]): v for c, v in zip(cols, values, strict=True)}
    H = model.codes_.astype(np.float64)
    A = np.column_stack([H[cols], np.ones(cols.size)])
    pen = np.diag([model.reg / 2] * H.shape[1] + [0.0])
    x = np.linalg.solve(A.T @ A + pen, A.T @ values)
    want = H @ x[:-1] + x[-1]
    got = model.fold_in(ratings)
    warm = ~model.cold_items_
    np.testing.assert_allclose(got[warm], want[warm], rtol=1e-4, atol=1e-4)
    # the optimum: gradient of the ridge objective is zero
    resid = A @ x - values
    np.testing.assert_allclose(A.T @ resid + pen @ x, 0.0, atol=1e-8)


@pytest.mark.realdata
@pytest.mark.slow
def test_u1_rmse(ml100k_dir: Path) -> None:
    train, test = load_u1(ml100k_dir)
    model = AutoRec().fit(train)
    assert u1_rmse(model, train, test) < 0.92


# ---------------------------------------------------------------------- tail shrinkage
def test_tail_shrinkage_is_chosen_on_a_carve(tiny: Interactions) -> None:
    """(γ, κ) minimise the RMSE of ``b + s_i (a − b)`` on a 10 % carve of the training data
    (recomputed here from a plain autoencoder and a baseline fitted on the rest); the result
    is never worse there than the autoencoder or the baseline alone."""
    from movierec.models.autorec import SHRINK_GAMMAS, SHRINK_KAPPAS, shrink_factor
    from movierec.models.baseline import BaselineOnly
    from movierec.models.common.carve import carve_holdout

    model = fast_model(tail_shrink=True, epochs=20).fit(tiny)
    rest, rows, cols, y = carve_holdout(tiny, 0.1, 0)
    a = fast_model(epochs=20).fit(rest).predict_rows(rows, cols)
    base = BaselineOnly().fit(rest)
    b = base.mu_ + base.user_bias_[rows] + base.item_bias_[cols]
    n = np.diff(rest.matrix.tocsc().indptr)[cols]
    lo, hi = tiny.rating_scale
    table = {
        (g, k): np.sqrt(np.mean((np.clip(b + shrink_factor(n, g, k) * (a - b), lo, hi) - y) ** 2))
        for g in SHRINK_GAMMAS
        for k in SHRINK_KAPPAS
    }
    best = min(table.values())
    assert table[(model.shrink_gamma_, model.shrink_kappa_)] == pytest.approx(best)
    val = model.shrink_validation_
    assert val["rmse"] == pytest.approx(best)
    assert val["rmse"] <= min(val["autoencoder_rmse"], val["baseline_rmse"]) + 1e-12


def test_shrunk_predictions_follow_the_formula(tiny: Interactions) -> None:
    from movierec.models.autorec import shrink_factor

    model = fast_model(tail_shrink=True, epochs=10).fit(tiny)
    model.shrink_gamma_, model.shrink_kappa_ = 0.75, 5.0  # any values: check the formula
    plain = fast_model(epochs=10).fit(tiny)
    rows = np.repeat(np.arange(tiny.n_users), tiny.n_items)
    cols = np.tile(np.arange(tiny.n_items), tiny.n_users)
    a = plain.score(np.arange(tiny.n_users)).ravel().astype(np.float64)
    b = model.base_mu_ + model.base_user_bias_[rows] + model.base_item_bias_[cols]
    s = shrink_factor(np.diff(tiny.matrix.tocsc().indptr)[cols], 0.75, 5.0)
    want = b + s * (a - b)
    got = model.score(np.arange(tiny.n_users)).ravel()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    lo, hi = tiny.rating_scale
    np.testing.assert_allclose(model.predict_rows(rows, cols), np.clip(want, lo, hi), atol=1e-5)
    cold = np.flatnonzero(model.cold_items_)  # no training rating: the baseline (s = 0)
    np.testing.assert_allclose(got.reshape(tiny.n_users, -1)[:, cold],
                               (b.reshape(tiny.n_users, -1))[:, cold], atol=1e-5)  # fmt: skip
    assert model.bias_terms() is not None and plain.bias_terms() is None
    folded = model.fold_in({int(tiny.items.ids[0]): 5.0, int(tiny.items.ids[3]): 2.0})
    assert folded.shape == (tiny.n_items,) and np.isfinite(folded).all()
