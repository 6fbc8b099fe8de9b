"""Time-local EASE: contract, blocks vs a per-user loop, closed form, the EASE limit, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.errors import ConfigError
from movierec.interactions import Interactions
from movierec.models.base import Recommender
from movierec.models.ease import EASE
from movierec.models.local_ease import LocalEASE, window_blocks
from movierec.models.registry import make_model
from movierec.testing import synthetic_interactions
from tests.models.test_implicit_mf import ImplicitContract


class TestLocalEASEContract(ImplicitContract):
    def make_model(self) -> Recommender:
        return LocalEASE(window=4, reg=5.0, overlap=True)

    def invalid_params(self) -> list[dict]:
        return [
            {"reg": 0.0},
            {"reg": -1.0},
            {"window": 1},
            {"window": 0},
            {"window": 2.5},
            {"window": True},
            {"overlap": 1},
        ]


def _blocks_by_loop(frame: pd.DataFrame, window: int, offset: int) -> list[frozenset[int]]:
    """Reference: per user, sort by (timestamp, movieId), cut into blocks, one at a time."""
    out = []
    for _, g in frame.groupby("userId", sort=True):
        ids = g.sort_values(["timestamp", "movieId"], kind="stable")["movieId"].tolist()
        block: dict[int, list[int]] = {}
        for p, movie in enumerate(ids):
            block.setdefault((p + offset) // window, []).append(movie)
        out += [frozenset(b) for b in block.values()]
    return out


@pytest.fixture(scope="module")
def tied() -> pd.DataFrame:
    """Random ratings whose timestamps often tie, in a shuffled row order."""
    rng = np.random.default_rng(5)
    rows = {
        (int(u), int(m))
        for u, m in zip(rng.integers(1, 9, 150), rng.integers(1, 30, 150), strict=True)
    }
    frame = pd.DataFrame(sorted(rows), columns=["userId", "movieId"])
    frame["rating"] = 4.0
    frame["timestamp"] = rng.integers(0, 12, len(frame))  # many ties
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.mark.parametrize(("window", "offset"), [(2, 0), (3, 0), (4, 2), (5, 2), (50, 0)])
def test_window_blocks_match_loop(tied: pd.DataFrame, window: int, offset: int) -> None:
    data = Interactions.from_frame(tied)
    Xs = window_blocks(data, window, (offset,))
    got = [frozenset(data.items.ids[Xs[r].indices].tolist()) for r in range(Xs.shape[0])]
    assert sorted(map(sorted, got)) == sorted(map(sorted, _blocks_by_loop(tied, window, offset)))
    assert Xs.nnz == data.nnz  # every rating in exactly one block
    np.testing.assert_array_equal(
        (Xs.T @ Xs).diagonal(), np.bincount(data.matrix.indices, minlength=data.n_items)
    )


def test_weights_match_closed_form(tied: pd.DataFrame) -> None:
    """G = mean of the shifted blocks' Grams; B = I − P diag(1/diag P), P = (G + λI)⁻¹."""
    data = Interactions.from_frame(tied)
    window, lam = 4, 3.0
    grams = []
    for offset in (0, 2):
        blocks = _blocks_by_loop(tied, window, offset)
        Xs = np.zeros((len(blocks), data.n_items))
        for r, b in enumerate(blocks):
            Xs[r, data.items.index(np.array(sorted(b)))] = 1.0
        grams.append(Xs.T @ Xs)
    P = np.linalg.inv((grams[0] + grams[1]) / 2 + lam * np.eye(data.n_items))
    B = np.eye(data.n_items) - P / np.diag(P)[None, :]
    model = LocalEASE(window=window, reg=lam, overlap=True).fit(data)
    np.testing.assert_allclose(model.weights_, B, rtol=1e-4, atol=1e-6)
    X = (data.matrix.toarray() > 0).astype(np.float64)
    np.testing.assert_allclose(model.score(np.arange(data.n_users)), X @ B, rtol=1e-4, atol=1e-5)


def test_window_longer_than_every_history_is_ease() -> None:
    data = synthetic_interactions(seed=3)
    longest = int(np.diff(data.matrix.indptr).max())
    local = LocalEASE(window=longest, reg=6.0, overlap=False).fit(data)
    ease = EASE(reg=6.0).fit(data)
    np.testing.assert_allclose(local.weights_, ease.weights_, rtol=1e-5, atol=1e-6)


def test_needs_timestamps(tied: pd.DataFrame) -> None:
    data = Interactions.from_frame(tied.drop(columns="timestamp"))
    with pytest.raises(ConfigError, match="local-ease: needs rating timestamps"):
        LocalEASE().fit(data)


def test_memory_check_names_the_model() -> None:
    with pytest.raises(ConfigError, match=r"^local-ease: 100000 movies need"):
        LocalEASE.check_memory(100_000, available=16 * 2**30)


def test_registered_with_tuned_defaults() -> None:
    model = make_model("local-ease")
    assert isinstance(model, LocalEASE)
    assert model.get_params() == {"window": 26, "reg": 250.0, "overlap": True}


def test_real_ml100k_block_counts(ml100k_dir: Path) -> None:
    """On u.data: Σ_u ⌈n_u / w⌉ blocks (and ⌈(n_u + w/2) / w⌉ shifted); 100,000 entries."""
    frame = pd.read_csv(
        ml100k_dir / "u.data", sep="\t", names=["userId", "movieId", "rating", "timestamp"]
    )
    data = Interactions.from_frame(frame)
    n_u = frame.groupby("userId").size().to_numpy()
    for window, offset in [(8, 0), (20, 10)]:
        Xs = window_blocks(data, window, (offset,))
        assert Xs.shape == (int(np.sum((n_u + offset + window - 1) // window)), 1682)
        assert Xs.nnz == 100_000
    first = window_blocks(data, 8)[0]  # user 1's first 8 ratings in time order
    user1 = frame[frame["userId"] == 1].sort_values(["timestamp", "movieId"], kind="stable")
    assert sorted(data.items.ids[first.indices]) == sorted(user1["movieId"].head(8))
