"""Metrics: hand-computed cases and independent implementations on random inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import mean_absolute_error, mean_squared_error, ndcg_score

from movierec.evaluation import metrics as M

HITS = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=bool)
NREL = np.array([2, 3, 1])


def test_hand_computed_ranking_metrics() -> None:
    assert M.precision_at_k(HITS, 3) == pytest.approx(1 / 3)
    assert M.recall_at_k(HITS, NREL, 3) == pytest.approx(2 / 3)
    u0 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    u2 = (1 / math.log2(3)) / 1.0
    assert M.ndcg_at_k(HITS, NREL, 3) == pytest.approx((u0 + 0 + u2) / 3)
    assert M.map_at_k(HITS, NREL, 3) == pytest.approx(((1 + 2 / 3) / 2 + 0 + 0.5) / 3)
    assert M.mrr(HITS, 3) == pytest.approx((1 + 0 + 0.5) / 3)
    assert M.hit_rate_at_k(HITS, 3) == pytest.approx(2 / 3)
    # k=1 only looks at the first column
    assert M.precision_at_k(HITS, 1) == pytest.approx(1 / 3)
    assert M.hit_rate_at_k(HITS, 1) == pytest.approx(1 / 3)


def test_map_normalisations_differ_when_many_relevant() -> None:
    hits = np.array([[1, 1, 0]], dtype=bool)
    assert M.map_at_k(hits, np.array([5]), 3) == pytest.approx(2 / 5)  # MS `map`
    assert M.map_at_k(hits, np.array([5]), 3, normalization="min_k") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="normalization"):
        M.map_at_k(hits, np.array([5]), 3, normalization="bogus")  # type: ignore[arg-type]


def test_rating_metrics_hand_computed() -> None:
    assert M.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert M.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.rmse([1, 2], [1])
    with pytest.raises(ValueError):
        M.mae([], [])


def test_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be"):
        M.precision_at_k(HITS, 0)


@pytest.mark.parametrize("seed", range(5))
def test_rating_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t, p = rng.integers(1, 6, 500).astype(float), rng.uniform(1, 5, 500)
    assert M.rmse(t, p) == pytest.approx(math.sqrt(mean_squared_error(t, p)))
    assert M.mae(t, p) == pytest.approx(mean_absolute_error(t, p))


def _random_ranking(seed: int, n_users: int = 40, n_items: int = 60):
    rng = np.random.default_rng(seed)
    relevant = rng.random((n_users, n_items)) < rng.uniform(0.02, 0.3)
    relevant[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # >= 1 each
    scores = rng.random((n_users, n_items))
    order = np.argsort(-scores, axis=1)
    hits = np.take_along_axis(relevant, order, axis=1)
    return relevant, scores, order, hits, relevant.sum(axis=1)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_ndcg_matches_sklearn(seed: int, k: int) -> None:
    relevant, scores, _, hits, nrel = _random_ranking(seed)
    expected = ndcg_score(relevant.astype(float), scores, k=k)
    assert M.ndcg_at_k(hits, nrel, k) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_ranking_metrics_match_plain_loops(seed: int, k: int) -> None:
    relevant, _, order, hits, nrel = _random_ranking(seed)
    p, r, ap, ap_k, rr, hr = [], [], [], [], [], []
    for u in range(relevant.shape[0]):
        rel = set(np.flatnonzero(relevant[u]))
        top = list(order[u, :k])
        n_hit, prec_sum, first = 0, 0.0, 0.0
        for j, item in enumerate(top, start=1):
            if item in rel:
                n_hit += 1
                prec_sum += n_hit / j
                first = first or 1.0 / j
        p.append(n_hit / k)
        r.append(n_hit / len(rel))
        ap.append(prec_sum / len(rel))
        ap_k.append(prec_sum / min(len(rel), k))
        rr.append(first)
        hr.append(1.0 if n_hit else 0.0)
    assert M.precision_at_k(hits, k) == pytest.approx(np.mean(p))
    assert M.recall_at_k(hits, nrel, k) == pytest.approx(np.mean(r))
    assert M.map_at_k(hits, nrel, k) == pytest.approx(np.mean(ap))
    assert M.map_at_k(hits, nrel, k, normalization="min_k") == pytest.approx(np.mean(ap_k))
    assert M.mrr(hits, k) == pytest.approx(np.mean(rr))
    assert M.hit_rate_at_k(hits, k) == pytest.approx(np.mean(hr))


def test_hit_matrix_matches_sets() -> None:
    rng = np.random.default_rng(3)
    users = np.array([3, 7, 11, 20])
    rec = rng.choice(np.arange(1, 50), size=(4, 6), replace=True)
    rec[2, 4:] = -1  # padding
    tu = rng.choice(np.array([3, 7, 11, 99]), 80)
    ti = rng.integers(1, 50, 80)
    keep = np.unique(tu * 100 + ti, return_index=True)[1]  # unique pairs, like a test split
    tu, ti = tu[keep], ti[keep]
    hits, nrel = M.hit_matrix(rec, users, tu, ti)
    pairs = set(zip(tu.tolist(), ti.tolist(), strict=True))
    for a, u in enumerate(users):
        for b in range(6):
            assert hits[a, b] == ((int(u), int(rec[a, b])) in pairs and rec[a, b] >= 0)
    assert nrel[3] == 0  # user 20 has no held-out items
    assert np.array_equal(nrel[:3], [np.sum(tu == u) for u in users[:3]])


def test_beyond_accuracy_hand_computed() -> None:
    rec = np.array([[0, 1], [0, 2], [-1, -1]])
    assert M.catalogue_coverage(rec, 4) == pytest.approx(3 / 4)
    pop = np.array([0.5, 0.25, 0.125, 1.0])
    assert M.novelty(rec, pop) == pytest.approx(np.mean([1, 2, 1, 3]))
    genres = np.array([[1, 0], [1, 0], [0, 1], [1, 1]])
    # user 0: same genre -> 0; user 1: disjoint -> 1; user 2: no list (skipped)
    assert M.intra_list_diversity(rec, genres) == pytest.approx(0.5)
    # users 0 and 1 share one of two items: cos = 1/2; user 2 has no list
    assert M.personalization(rec, 4) == pytest.approx(0.5)
    assert M.personalization(np.array([[0, 1], [0, 1]]), 4) == pytest.approx(0.0)
    assert M.personalization(np.array([[0, 1], [2, 3]]), 4) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(4))
def test_beyond_accuracy_match_plain_loops(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_items, n_users, length = 30, 15, 5
    rec = np.array([rng.choice(n_items, length, replace=False) for _ in range(n_users)])
    rec[0, 3:] = -1
    genres = (rng.random((n_items, 6)) < 0.3).astype(float)
    pop = rng.uniform(0.01, 1, n_items)

    lists = [[int(i) for i in row if i >= 0] for row in rec]
    flat = [i for row in lists for i in row]
    assert M.catalogue_coverage(rec, n_items) == pytest.approx(len(set(flat)) / n_items)
    assert M.novelty(rec, pop) == pytest.approx(np.mean([-math.log2(pop[i]) for i in flat]))

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0

    ild = [
        np.mean([1 - cos(genres[i], genres[j]) for i, j in itertools.combinations(row, 2)])
        for row in lists
        if len(row) > 1
    ]
    assert M.intra_list_diversity(rec, sp.csr_matrix(genres)) == pytest.approx(np.mean(ild))
    vecs = np.zeros((n_users, n_items))
    for u, row in enumerate(lists):
        vecs[u, row] = 1
    sims = [cos(vecs[a], vecs[b]) for a, b in itertools.combinations(range(n_users), 2)]
    assert M.personalization(rec, n_items) == pytest.approx(1 - np.mean(sims))
