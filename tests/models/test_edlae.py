"""EDLAE: contract, closed form vs np.linalg.inv, the ridge limit p -> 0, bad parameters."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.errors import ConfigError
from movierec.interactions import Interactions
from movierec.models.base import Recommender
from movierec.models.edlae import EDLAE
from movierec.models.registry import make_model
from movierec.testing import synthetic_interactions
from tests.models.test_implicit_mf import ImplicitContract


class TestEDLAEContract(ImplicitContract):
    def make_model(self) -> Recommender:
        return EDLAE(reg=5.0, dropout=0.25)

    def invalid_params(self) -> list[dict]:
        return [
            {"reg": 0.0},
            {"reg": -1.0},
            {"dropout": 0.0},
            {"dropout": 1.0},
            {"dropout": float("nan")},
            {"dropout": "0.3"},
            {"binarize": 1},
        ]


@pytest.fixture(scope="module")
def tiny() -> Interactions:
    return synthetic_interactions(seed=11)


def _binary(data: Interactions) -> np.ndarray:
    return (data.matrix.toarray() > 0).astype(np.float64)


@pytest.mark.parametrize(("p", "lam"), [(0.25, 7.0), (0.5, 1.0)])
def test_weights_match_direct_inverse(tiny: Interactions, p: float, lam: float) -> None:
    """B = I − (G + Λ)⁻¹Λ with Λ = p/(1−p)·diag(G) + λ; scores x_u B."""
    model = EDLAE(reg=lam, dropout=p).fit(tiny)
    X = _binary(tiny)
    G = X.T @ X
    L = np.diag(p / (1 - p) * np.diag(G) + lam)
    B = np.eye(G.shape[0]) - np.linalg.inv(G + L) @ L
    assert np.all(np.diag(B)[np.diag(G) > 0] > 0.01)  # not EASE's zero diagonal
    np.testing.assert_allclose(model.weights_, B, rtol=1e-4, atol=1e-6)
    scores = model.score(np.arange(tiny.n_users))
    finite = np.isfinite(scores)
    np.testing.assert_allclose(scores[finite], (X @ B)[finite], rtol=1e-4, atol=1e-5)


def test_no_dropout_limit_is_ridge_autoencoder(tiny: Interactions) -> None:
    """p -> 0: B -> argmin ‖X − XB‖² + λ‖B‖² = (G + λI)⁻¹ G (no diagonal constraint)."""
    lam = 4.0
    model = EDLAE(reg=lam, dropout=1e-9).fit(tiny)
    G = _binary(tiny).T @ _binary(tiny)
    ridge = np.linalg.solve(G + lam * np.eye(G.shape[0]), G)
    np.testing.assert_allclose(model.weights_, ridge, rtol=1e-4, atol=1e-6)


def test_dropout_shrinks_weights(tiny: Interactions) -> None:
    weak = EDLAE(reg=2.0, dropout=0.1).fit(tiny).weights_
    strong = EDLAE(reg=2.0, dropout=0.6).fit(tiny).weights_
    assert np.abs(strong).sum() < np.abs(weak).sum()


def test_registered_with_defaults() -> None:
    model = make_model("edlae")
    assert isinstance(model, EDLAE)
    assert (model.reg, model.dropout, model.binarize) == (400.0, 0.33, True)


def test_bad_dropout_message() -> None:
    with pytest.raises(ConfigError, match="dropout must be in"):
        EDLAE(dropout=1.5)._validate()
