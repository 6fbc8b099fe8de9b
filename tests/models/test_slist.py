"""SLIST: closed form against a column-by-column brute force, EASE as its α = 1 case,
transition inputs by loops, fold-in, and the leave-last-one-out protocol it is meant for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from movierec.errors import ConfigError
from movierec.evaluation.runner import evaluate
from movierec.evaluation.splits import load_protocol
from movierec.interactions import Interactions
from movierec.models import make_model
from movierec.models.base import Recommender
from movierec.models.slist import SLIST, sequences, transition_matrices
from movierec.testing import synthetic_interactions
from tests.evaluation.helpers import synthetic_ratings, write_ml100k
from tests.models.test_implicit_mf import ImplicitContract


class TestSLISTContract(ImplicitContract):
    """Binary input like EASE: the contract on the liked-only data."""

    def make_model(self) -> Recommender:
        return SLIST(reg=5.0)

    def invalid_params(self) -> list[dict]:
        return [{"reg": 0.0}, {"alpha": 1.5}, {"window": 0}, {"decay": 0.0}, {"decay_score": -1}]


@pytest.fixture(scope="module")
def data() -> Interactions:
    return synthetic_interactions(seed=7)


def loops_transitions(data: Interactions, window: int, decay: float) -> tuple[list, list]:
    """``S`` and ``T`` rows by plain loops over each user's time-ordered history."""
    frame = data.to_frame().sort_values(["userId", "timestamp", "movieId"])
    col = {int(m): j for j, m in enumerate(data.items.ids)}
    s_rows, t_rows = [], []
    for _, g in frame.groupby("userId", sort=True):
        seq = [col[int(m)] for m in g.movieId]
        for t in range(1, len(seq)):
            row = np.zeros(data.n_items)
            for d in range(1, window + 1):
                if t - d >= 0:
                    row[seq[t - d]] += np.exp(-(d - 1) / decay)
            s_rows.append(row)
            target = np.zeros(data.n_items)
            target[seq[t]] = 1.0
            t_rows.append(target)
    return s_rows, t_rows


def test_transitions_match_loops(data: Interactions) -> None:
    users, seq = sequences(data)
    S, T = transition_matrices(users, seq, data.n_items, 3, 2.0)
    s_rows, t_rows = loops_transitions(data, 3, 2.0)
    np.testing.assert_allclose(S.toarray(), np.array(s_rows))
    np.testing.assert_allclose(T.toarray(), np.array(t_rows))


def test_closed_form_is_the_constrained_least_squares_solution(data: Interactions) -> None:
    """Column by column: ``B[:, j]`` minimises the objective with ``B_jj = 0``, i.e. solves
    the normal equations without row/column ``j``."""
    model = SLIST(reg=5.0, alpha=0.3, window=3, decay=2.0).fit(data)
    s_rows, t_rows = loops_transitions(data, 3, 2.0)
    S, T = np.array(s_rows), np.array(t_rows)
    X = (data.matrix.toarray() != 0).astype(float)
    A = 0.3 * X.T @ X + 0.7 * S.T @ S + 5.0 * np.eye(data.n_items)
    R = 0.3 * X.T @ X + 0.7 * S.T @ T
    B = model.weights_.astype(np.float64)
    assert np.allclose(np.diag(B), 0.0)
    for j in range(data.n_items):
        keep = np.arange(data.n_items) != j
        want = np.linalg.solve(A[np.ix_(keep, keep)], R[keep, j])
        np.testing.assert_allclose(B[keep, j], want, rtol=1e-4, atol=1e-5)


def test_alpha_one_is_ease(data: Interactions) -> None:
    slist = SLIST(reg=20.0, alpha=1.0, decay_score=1e9).fit(data)
    ease = make_model("ease", reg=20.0).fit(data)
    np.testing.assert_allclose(slist.weights_, ease.weights_, atol=1e-5)
    rows = np.arange(data.n_users)
    np.testing.assert_allclose(slist.score(rows), ease.score(rows), rtol=1e-4, atol=1e-4)


def test_scores_weight_recent_movies_more_and_fold_in(data: Interactions) -> None:
    model = SLIST(reg=10.0, decay_score=2.0).fit(data)
    users, seq = sequences(data)
    row = 3
    mine = seq[users == row]
    w = np.exp(-np.arange(mine.size - 1, -1, -1) / 2.0)
    want = w @ model.weights_[mine].astype(np.float64)
    got = model.score(np.array([row]))[0]
    warm = ~model.cold_items_
    np.testing.assert_allclose(got[warm], want[warm], rtol=1e-4, atol=1e-5)
    assert np.isneginf(got[model.cold_items_]).all()
    ratings = {int(data.items.ids[c]): 4.0 for c in mine}  # oldest first
    np.testing.assert_allclose(model.fold_in(ratings)[warm], want[warm], rtol=1e-4, atol=1e-5)


def test_needs_timestamps(data: Interactions) -> None:
    bare = Interactions(data.matrix, data.users, data.items, None, data.rating_scale)
    with pytest.raises(ConfigError, match="timestamps"):
        SLIST().fit(bare)


def test_temporal_last1_holds_out_each_users_latest_rating(tmp_path: Path) -> None:
    ratings = synthetic_ratings()
    folder = write_ml100k(tmp_path / "ml-100k", ratings)
    proto = load_protocol("temporal-last1", folder)
    assert proto.kind == "ranking"
    test = proto.folds[0].test
    latest = ratings.sort_values(["timestamp", "movieId"]).groupby("userId").tail(1)
    assert set(zip(test.userId, test.movieId, strict=True)) == set(
        zip(latest.userId, latest.movieId, strict=True)
    )
    board = evaluate("temporal-last1", "slist,popularity", data_dir=folder, write=False)
    r = board.results[0]
    assert board.headline() == "NDCG@10" and f"HitRate@{board.k}" in r.metrics
    assert r.n_test == ratings.userId.nunique()
