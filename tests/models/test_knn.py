"""UserKNN / ItemKNN: contract, brute-force references on tiny matrices, Surprise, real u1."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from movierec.errors import ConfigError
from movierec.interactions import Interactions, Vocabulary
from movierec.models.base import Recommender
from movierec.models.baseline import BaselineOnly
from movierec.models.common.foldin import fold_ratings
from movierec.models.knn import ItemKNN, UserKNN
from movierec.models.knn import base as knn_base
from movierec.models.knn import kernels as knn_kernels
from movierec.models.knn import similarity as knn_similarity
from movierec.models.knn.base import neighbour_cap
from movierec.testing import synthetic_catalog, synthetic_interactions
from tests.models.contract import RecommenderContract, load_u1, u1_rmse
from tests.models.test_baseline import _baseline_loops

# ---------------------------------------------------------------------- contract


class TestUserKNN(RecommenderContract):
    def make_model(self) -> Recommender:
        # the default rank_offset (large) ranks mostly by neighbour vote, which cannot see the
        # taste groups of the contract data (who rated what is random there); rate-aware here
        return UserKNN(k=5, rank_damping=1.0, rank_offset=1.0)

    def invalid_params(self) -> list[dict]:
        return [
            {"k": 0},
            {"k": -3},
            {"k": 2.5},
            {"similarity": "jaccard"},
            {"min_k": 6},
            {"min_support": -1},
            {"shrinkage": -1.0},
            {"rank_damping": -0.1},
            {"max_neighbors": 2},
            {"mean_center": "yes"},
            {"center": "median"},
            {"rating_damping": -1.0},
            {"reg_u": -1.0},
            {"n_epochs": 0},
        ]


class TestUserKNNPearsonRaw(RecommenderContract):
    def make_model(self) -> Recommender:
        return UserKNN(
            k=4,
            similarity="pearson",
            mean_center=False,
            shrinkage=5.0,
            min_k=2,
            rank_damping=0.0,
            rank_offset=0.0,
        )


class TestUserKNNMeanDamped(RecommenderContract):
    def make_model(self) -> Recommender:
        return UserKNN(k=5, center="mean", rating_damping=2.0, rank_damping=1.0, rank_offset=1.0)


class TestItemKNN(RecommenderContract):
    def make_model(self) -> Recommender:
        return ItemKNN(k=5, shrinkage=10.0, rank_offset=0.0)  # rate-aware ranking (see above)

    def invalid_params(self) -> list[dict]:
        return [
            {"k": 0},
            {"similarity": "msd"},
            {"center": "median"},
            {"reg_u": -1.0},
            {"n_epochs": 0},
            {"max_neighbors": 3},
        ]


class TestItemKNNAdjustedCosineNoCenter(RecommenderContract):
    def make_model(self) -> Recommender:
        return ItemKNN(
            k=3, similarity="adjusted_cosine", center="none", min_support=2, rank_offset=0.0
        )


class TestItemKNNPearsonMean(RecommenderContract):
    def make_model(self) -> Recommender:
        return ItemKNN(k=4, similarity="pearson", center="mean", max_neighbors=10, rank_offset=0.5)


# ---------------------------------------------------------------------- brute force
def tiny(seed: int = 7, n_users: int = 7, n_items: int = 6, density: float = 0.65) -> Interactions:
    """Random real-valued ratings (no similarity ties) on a tiny matrix."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for i in range(n_items):
            if rng.random() < density:
                rows.append((10 + u, 20 + i, round(float(rng.uniform(1, 5)), 3)))
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    items = Vocabulary(np.arange(20, 20 + n_items), kind="movie")
    return Interactions.from_frame(frame, items=items, rating_scale=(1.0, 5.0))


def _sim_loop(a: dict, b: dict, kind: str, min_support: int, shrinkage: float) -> float:
    """Similarity of two sparse vectors ``{key: value}`` over their common keys."""
    common = sorted(set(a) & set(b))
    n = len(common)
    if n == 0 or n < min_support:
        return 0.0
    xa = [a[c] for c in common]
    xb = [b[c] for c in common]
    if kind == "cosine":
        num = sum(x * y for x, y in zip(xa, xb, strict=True))
        den = math.sqrt(sum(x * x for x in xa) * sum(y * y for y in xb))
    else:
        ma, mb = sum(xa) / n, sum(xb) / n
        num = sum((x - ma) * (y - mb) for x, y in zip(xa, xb, strict=True))
        den = math.sqrt(sum((x - ma) ** 2 for x in xa) * sum((y - mb) ** 2 for y in xb))
    if den <= 1e-12:
        return 0.0
    return num / den * (n / (n + shrinkage))


def _rows(dense: np.ndarray) -> list[dict]:
    return [
        {i: dense[u, i] for i in range(dense.shape[1]) if dense[u, i]} for u in range(len(dense))
    ]


def _dense_sims(model_lists: tuple[np.ndarray, np.ndarray, np.ndarray], n: int) -> np.ndarray:
    indptr, indices, sims = model_lists
    out = np.zeros((n, n))
    for a in range(n):
        sl = slice(indptr[a], indptr[a + 1])
        assert np.all(np.diff(sims[sl]) <= 0), "neighbour lists must be sorted best first"
        out[a, indices[sl]] = sims[sl]
    return out


@pytest.mark.parametrize(
    ("similarity", "center", "k", "min_support", "shrinkage", "min_k", "beta", "gamma", "lam"),
    [
        ("cosine", "mean", 2, 1, 0.0, 1, 0.0, 0.0, 0.0),
        ("cosine", "none", 3, 2, 0.0, 1, 0.5, 2.0, 1.5),
        ("pearson", "mean", 2, 2, 3.0, 2, 1.0, 3.0, 0.7),
        ("pearson", "none", 10, 1, 1.0, 1, 0.0, 0.0, 0.0),
        ("cosine", "baseline", 2, 1, 0.0, 1, 0.5, 1.0, 2.0),
        ("pearson", "baseline", 3, 2, 1.0, 2, 0.0, 0.0, 0.0),
    ],
)
def test_user_knn_matches_loops(
    similarity, center, k, min_support, shrinkage, min_k, beta, gamma, lam
):
    data = tiny()
    dense = data.matrix.toarray().astype(np.float64)
    n_users, n_items = dense.shape
    rows = _rows(dense)
    mu = [sum(r.values()) / len(r) for r in rows]
    reg_u, reg_i, epochs = 3.0, 2.0, 5
    g_mu, bu, bi = _baseline_loops(dense, reg_u, reg_i, epochs)
    ref_sim = np.zeros((n_users, n_users))
    for u in range(n_users):
        for v in range(n_users):
            if u != v:
                ref_sim[u, v] = _sim_loop(rows[u], rows[v], similarity, min_support, shrinkage)
    model = UserKNN(
        k=k,
        similarity=similarity,
        center=center,
        min_support=min_support,
        shrinkage=shrinkage,
        min_k=min_k,
        rank_damping=beta,
        rank_offset=gamma,
        rating_damping=lam,
        reg_u=reg_u,
        reg_i=reg_i,
        n_epochs=epochs,
    ).fit(data)
    got_sim = _dense_sims((model.nb_indptr_, model.nb_indices_, model.nb_sims_), n_users)
    np.testing.assert_allclose(got_sim, np.where(ref_sim > 0, ref_sim, 0), atol=1e-6)

    # ranking score: user-mean centring (or none), whatever the rating formula's centring
    ref_score = np.zeros((n_users, n_items))
    ref_pred = np.zeros((n_users, n_items))
    ref_nbrs: dict[tuple[int, int], list[int]] = {}

    def b(u: int, i: int) -> float:  # the rating formula's baseline b_ui
        return g_mu + bu[u] + bi[i] if center == "baseline" else mu[u]

    for u in range(n_users):
        for i in range(n_items):
            cands = [(ref_sim[u, v], v) for v in range(n_users) if v != u and i in rows[v]]
            cands = [c for c in cands if c[0] > 0]
            cands.sort(key=lambda c: (-c[0], c[1]))
            chosen = cands[:k]
            ref_nbrs[u, i] = [v for _, v in chosen]
            if len(chosen) < min_k:
                ref_score[u, i] = mu[u]
                ref_pred[u, i] = b(u, i)
                continue
            den = sum(s for s, _ in chosen)
            if center != "none":
                num = sum(s * (rows[v][i] - mu[v] + gamma) for s, v in chosen)
                ref_score[u, i] = mu[u] + num / (den + beta)
                num = sum(s * (rows[v][i] - b(v, i)) for s, v in chosen)
                ref_pred[u, i] = b(u, i) + num / (den + lam)
            else:
                num = sum(s * (rows[v][i] + gamma) for s, v in chosen)
                ref_score[u, i] = (num + beta * mu[u]) / (den + beta)
                num = sum(s * rows[v][i] for s, v in chosen)
                ref_pred[u, i] = (num + lam * mu[u]) / (den + lam)
    np.testing.assert_allclose(model.score(np.arange(n_users)), ref_score, rtol=1e-5)
    for (u, i), nbrs in ref_nbrs.items():
        assert model.neighbourhood(u, i)[0].tolist() == nbrs
    # predict = the rating formula (λ = rating_damping), clipped; batch and one-user paths
    uu, ii = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    pred = model.predict_rows(uu.ravel(), ii.ravel())
    np.testing.assert_allclose(pred, np.clip(ref_pred, 1.0, 5.0).ravel(), rtol=1e-5)
    for u in range(n_users):
        one = model.predict_rows(np.full(n_items, u), np.arange(n_items))
        np.testing.assert_allclose(one, np.clip(ref_pred[u], 1.0, 5.0), rtol=1e-5)


def test_user_knn_legacy_mean_center(tmp_path: Path) -> None:
    """``mean_center`` (earlier versions' switch, in their model files) still means the
    seed's formula: user-mean / no centring with λ = 0, whatever ``center`` and
    ``rating_damping`` say; such a file (no baselines in it) loads and predicts the same."""
    from movierec.models import load_model

    data = tiny()
    uu, ii = np.nonzero(np.ones(data.matrix.shape))
    for legacy, center in ((True, "mean"), (False, "none")):
        old = UserKNN(mean_center=legacy, center="baseline", rating_damping=5.0).fit(data)
        new = UserKNN(center=center, rating_damping=0.0).fit(data)
        np.testing.assert_array_equal(old.predict_rows(uu, ii), new.predict_rows(uu, ii))
        np.testing.assert_array_equal(old.score(np.arange(7)), new.score(np.arange(7)))
        assert not hasattr(old, "dev_")
        back = load_model(old.save(tmp_path / f"old-{legacy}.npz"))
        np.testing.assert_array_equal(back.predict_rows(uu, ii), old.predict_rows(uu, ii))
        ratings = {20: 4.0, 22: 2.5, 23: 5.0}
        np.testing.assert_array_equal(back.fold_in_ratings(ratings), new.fold_in_ratings(ratings))


@pytest.mark.parametrize(
    ("similarity", "center", "k", "min_support", "shrinkage", "min_k", "beta", "gamma"),
    [
        ("pearson_baseline", "baseline", 2, 1, 5.0, 1, 0.0, 0.0),
        ("cosine", "none", 2, 2, 0.0, 1, 0.7, 1.5),
        ("adjusted_cosine", "mean", 3, 1, 0.0, 2, 0.0, 0.0),
        ("pearson", "baseline", 10, 2, 2.0, 1, 1.0, 4.0),
    ],
)
def test_item_knn_matches_loops(similarity, center, k, min_support, shrinkage, min_k, beta, gamma):
    data = tiny(seed=11, n_users=8, n_items=6)
    dense = data.matrix.toarray().astype(np.float64)
    n_users, n_items = dense.shape
    rows = _rows(dense)
    mu_u = [sum(r.values()) / len(r) for r in rows]
    reg_u, reg_i, epochs = 3.0, 2.0, 5
    mu, bu, bi = _baseline_loops(dense, reg_u, reg_i, epochs)
    col_mean = [
        np.mean([rows[u][i] for u in range(n_users) if i in rows[u]]) for i in range(n_items)
    ]
    # item vectors over users, with the values each similarity uses
    value = {
        "cosine": lambda u, i: rows[u][i],
        "pearson": lambda u, i: rows[u][i],
        "adjusted_cosine": lambda u, i: rows[u][i] - mu_u[u],
        "pearson_baseline": lambda u, i: rows[u][i] - mu - bu[u] - bi[i],
    }[similarity]
    cols = [{u: value(u, i) for u in range(n_users) if i in rows[u]} for i in range(n_items)]
    kind = "pearson" if similarity == "pearson" else "cosine"
    ref_sim = np.zeros((n_items, n_items))
    for i in range(n_items):
        for j in range(n_items):
            if i != j:
                ref_sim[i, j] = _sim_loop(cols[i], cols[j], kind, min_support, shrinkage)
    model = ItemKNN(
        k=k,
        similarity=similarity,
        center=center,
        min_support=min_support,
        shrinkage=shrinkage,
        min_k=min_k,
        rank_damping=beta,
        rank_offset=gamma,
        reg_u=reg_u,
        reg_i=reg_i,
        n_epochs=epochs,
    ).fit(data)
    np.testing.assert_allclose(model.sim_.toarray(), np.where(ref_sim > 0, ref_sim, 0), atol=1e-6)

    def base(u: int, i: int) -> float:
        return {"baseline": mu + bu[u] + bi[i], "mean": col_mean[i], "none": col_mean[i]}[center]

    ref = np.zeros((n_users, n_items))
    for u in range(n_users):
        for i in range(n_items):
            cands = [(ref_sim[i, j], j) for j in rows[u] if j != i and ref_sim[i, j] > 0]
            cands.sort(key=lambda c: (-c[0], c[1]))
            chosen = cands[:k]
            assert model.neighbourhood(u, i)[0].tolist() == [j for _, j in chosen]
            if len(chosen) < min_k:
                ref[u, i] = base(u, i)
                continue
            den = sum(s for s, _ in chosen)
            if center == "none":
                num = sum(s * (rows[u][j] + gamma) for s, j in chosen)
                ref[u, i] = (num + beta * base(u, i)) / (den + beta)
            else:
                num = sum(s * (rows[u][j] - base(u, j) + gamma) for s, j in chosen)
                ref[u, i] = base(u, i) + num / (den + beta)
    np.testing.assert_allclose(model.score(np.arange(n_users)), ref, rtol=1e-5)


def test_item_knn_heap_path_matches_sum_path() -> None:
    """Users with more than k ratings go through the bounded heap; compare with a sort."""
    data = synthetic_interactions()
    model = ItemKNN(k=3, rank_damping=0.0, rank_offset=0.0).fit(data)
    dense = data.matrix.toarray()
    sim = model.sim_.toarray()
    scores = model.score(np.arange(data.n_users))
    for u in range(0, data.n_users, 3):
        rated = np.flatnonzero(dense[u])
        assert rated.size > 3
        lo, hi = data.matrix.indptr[u], data.matrix.indptr[u + 1]
        dev = dict(zip(data.seen_items(u).tolist(), model.dev_[lo:hi].tolist(), strict=True))
        for i in range(data.n_items):
            s = sim[i, rated]
            keep = s > 0
            order = np.lexsort((rated[keep], -s[keep]))[:3]
            js, ss = rated[keep][order], s[keep][order]
            b = model.mu_ + model.user_bias_[u] + model.item_bias_[i]
            expect = b + (ss @ [dev[j] for j in js]) / ss.sum() if ss.size else b
            assert scores[u, i] == pytest.approx(expect, rel=1e-5)


def test_neighbour_lists_blocked_and_truncated(monkeypatch) -> None:
    data = synthetic_interactions()
    full = knn_similarity.neighbour_lists(data.matrix, "pearson", 2, 3.0)
    monkeypatch.setattr(knn_similarity, "BLOCK_BYTES", 8 * data.n_items * 4)  # 4 rows per block
    blocked = knn_similarity.neighbour_lists(data.matrix, "pearson", 2, 3.0)
    for a, b in zip(full, blocked, strict=True):
        np.testing.assert_array_equal(a, b)
    top = knn_similarity.neighbour_lists(data.matrix, "pearson", 2, 3.0, max_neighbors=5)
    for u in range(data.n_users):
        got = top[1][top[0][u] : top[0][u + 1]]
        assert got.tolist() == full[1][full[0][u] : full[0][u + 1]][:5].tolist()


def test_user_knn_fold_in_equals_training_user() -> None:
    """Folding in user u's ratings into a model trained without u reproduces score(u)."""
    data = synthetic_interactions()
    frame = data.to_frame()
    u_ext = int(data.users.ids[4])
    rest = Interactions.from_frame(frame[frame.userId != u_ext], items=data.items)
    full = UserKNN(k=6, similarity="pearson").fit(data)
    partial = UserKNN(k=6, similarity="pearson").fit(rest)
    mine = frame[frame.userId == u_ext]
    folded = partial.fold_in(dict(zip(mine.movieId, mine.rating, strict=True)))
    np.testing.assert_allclose(folded, full.score(np.array([4]))[0], rtol=1e-5)


@pytest.mark.parametrize(
    "params",
    [
        {"k": 6, "similarity": "pearson"},
        {"k": 3, "min_support": 3, "shrinkage": 0.0, "rank_damping": 1.0, "rank_offset": 1.0},
        {"k": 2, "similarity": "pearson", "mean_center": False, "min_k": 2, "max_neighbors": 4},
        {"k": 4, "center": "mean", "rating_damping": 2.0},
    ],
)
def test_user_knn_new_user_equals_refit(params) -> None:
    """fold_in + explain_ratings for users left out of training equal score + explain of a
    model refitted with them (similarities to the others do not depend on who else is in);
    without baselines (which are refitted with them) fold_in_ratings equals predict too."""
    data, items = synthetic_interactions(), synthetic_catalog()
    frame = data.to_frame()
    full = UserKNN(**params).fit(data, items)
    movies = data.items.ids[[0, 5, 17, 23, 39, 41]]  # 41: nobody rated it
    for row in (0, 4, 21, 29):
        u_ext = int(data.users.ids[row])
        rest = Interactions.from_frame(frame[frame.userId != u_ext], items=data.items)
        partial = UserKNN(**params).fit(rest, items)
        mine = frame[frame.userId == u_ext].sample(frac=1.0, random_state=row)  # any order
        ratings = dict(zip(mine.movieId, mine.rating, strict=True))
        folded = partial.fold_in(ratings)
        np.testing.assert_allclose(folded, full.score(np.array([row]))[0], rtol=1e-6)
        if full._centre() != "baseline":
            every = np.arange(data.n_items)
            np.testing.assert_allclose(
                partial.fold_in_ratings(ratings),
                full.predict_rows(np.full(every.size, row), every),
                rtol=1e-6,
            )
        reasons = partial.explain_ratings(ratings, movies)
        assert reasons == full.explain(u_ext, movies)
        # explain first, then fold_in (the shared neighbour list is computed either way)
        again = UserKNN(**params).fit(rest, items)
        assert again.explain_ratings(ratings, movies) == reasons
        np.testing.assert_array_equal(again.fold_in(ratings), folded)


@pytest.mark.parametrize(
    ("kind", "min_support", "shrinkage", "cap"),
    [("cosine", 1, 0.0, None), ("pearson", 2, 3.0, None), ("cosine", 3, 1.0, 3)],
)
def test_query_neighbours_equals_neighbour_lists(kind, min_support, shrinkage, cap) -> None:
    """The single-row path gives neighbour_lists(query=...) bit for bit (same sums, same
    order), whatever the order of the query's ratings."""
    data = tiny(seed=3, n_users=12, n_items=9, density=0.6)
    m = data.matrix
    c = m.tocsc()
    by_col = (c.indptr.astype(np.int64), c.indices, c.data.astype(np.float64))
    rng = np.random.default_rng(0)
    for u in range(data.n_users):
        cols = rng.permutation(data.seen_items(u))[: rng.integers(1, 6)]
        vals = rng.uniform(1, 5, cols.size)
        q = sp.csr_matrix((vals, (np.zeros(cols.size, np.int64), cols)), shape=(1, m.shape[1]))
        ref = knn_similarity.neighbour_lists(m, kind, min_support, shrinkage, cap, query=q)
        got = knn_similarity.query_neighbours(
            by_col, m.shape[0], cols, vals, kind, min_support, shrinkage, cap
        )
        for a, b in zip(ref, got, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_item_knn_fold_in_equals_training_user() -> None:
    data = synthetic_interactions()
    model = ItemKNN(k=4, shrinkage=5.0).fit(data)
    frame = data.to_frame()
    mine = frame[frame.userId == data.users.ids[7]]
    folded = model.fold_in(dict(zip(mine.movieId, mine.rating, strict=True)))
    np.testing.assert_allclose(folded, model.score(np.array([7]))[0], rtol=1e-5)


def test_explanations_are_true() -> None:
    data = synthetic_interactions()
    items = synthetic_catalog()
    uk = UserKNN(k=5).fit(data, items)
    ik = ItemKNN(k=5, shrinkage=5.0).fit(data, items)
    user = int(data.users.ids[2])
    ids, _ = uk.recommend([user], n=3)
    dense = data.matrix.toarray()
    for movie, reason in zip(ids[0], uk.explain(user, ids[0]), strict=True):
        col = int(data.items.index([movie])[0])
        nbrs, _ = uk.neighbourhood(2, col)
        assert f"({nbrs.size} of your nearest neighbours, avg {dense[nbrs, col].mean():.1f}★)" in (
            reason
        )
    ids, _ = ik.recommend([user], n=3)
    for movie, reason in zip(ids[0], ik.explain(user, ids[0]), strict=True):
        col = int(data.items.index([movie])[0])
        nbrs, _ = ik.neighbourhood(2, col)
        title = items.title(int(data.items.ids[nbrs[0]]))
        assert reason.startswith(("because you rated", "similar to"))
        assert any(items.title(int(data.items.ids[j])) in reason for j in nbrs), (title, reason)


def test_similar_items_matches_sim_matrix() -> None:
    data = synthetic_interactions()
    model = ItemKNN(k=5, similarity="cosine", center="mean", min_support=2).fit(data)
    ids, scores = model.similar_items(data.items.ids[[3]], n=4)
    row = model.sim_.toarray()[3]
    order = np.lexsort((np.arange(row.size), -row))[:4]
    np.testing.assert_array_equal(ids[0], data.items.ids[order])
    np.testing.assert_allclose(scores[0], row[order], rtol=1e-6)
    with pytest.raises(ConfigError):
        model.similar_items(data.items.ids[[3]], n=0)


def test_user_knn_matches_surprise() -> None:
    """Same predictions as Surprise's KNNWithMeans (user-based cosine) on tie-free data."""
    surprise = pytest.importorskip("surprise")
    data = tiny(seed=5, n_users=25, n_items=15, density=0.5)
    frame = data.to_frame()
    reader = surprise.Reader(rating_scale=(1, 5))
    ds = surprise.Dataset.load_from_df(frame[["userId", "movieId", "rating"]], reader)
    trainset = ds.build_full_trainset()
    algo = surprise.KNNWithMeans(
        k=4, min_k=1, sim_options={"name": "cosine", "user_based": True}, verbose=False
    ).fit(trainset)
    model = UserKNN(k=4, similarity="cosine", shrinkage=0.0, center="mean", rating_damping=0.0)
    model.fit(data)
    # unseen pairs only: for a rated pair Surprise counts the user as their own neighbour
    uu, ii = np.nonzero(data.matrix.toarray() == 0)
    u_ids, i_ids = data.users.ids[uu], data.items.ids[ii]
    theirs = np.array([algo.predict(int(u), int(i)).est for u, i in zip(u_ids, i_ids, strict=True)])
    ours = model.predict(u_ids, i_ids)
    assert ours.size > 150
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


# ---------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def u1(ml100k_dir: Path):
    return load_u1(ml100k_dir)


@pytest.fixture(scope="module")
def u1_user_knn(u1) -> UserKNN:
    return UserKNN().fit(u1[0])


@pytest.mark.realdata
def test_user_knn_u1(u1, u1_user_knn) -> None:
    train, test = u1
    model = u1_user_knn
    # the seed's formula (user means, λ = 0): Surprise KNNWithMeans (user, cosine, k=40) on
    # u1 gives 0.970
    seed = UserKNN(center="mean", rating_damping=0.0).fit(train)
    assert 0.955 <= u1_rmse(seed, train, test) <= 0.972
    # the default (baseline-centred, damped) is meant to be no worse than baseline (issue 14)
    rmse = u1_rmse(model, train, test)
    assert rmse <= u1_rmse(BaselineOnly().fit(train), train, test), rmse
    ids, scores = model.recommend(train.users.ids, n=10)
    assert ids.shape == (943, 10) and np.all(ids > 0)
    for r in range(train.n_users):
        assert not np.isin(ids[r], train.items.ids[train.seen_items(r)]).any()


@pytest.mark.realdata
def test_item_knn_u1(u1) -> None:
    train, test = u1
    model = ItemKNN().fit(train)
    rmse = u1_rmse(model, train, test)
    # Surprise KNNBaseline (item, pearson_baseline) on u1: 0.936
    assert 0.92 <= rmse <= 0.936, rmse
    rows = np.arange(0, train.n_users, 4)
    ids, _ = model.recommend(train.users.ids[rows], n=10)
    for r, row in zip(rows, ids, strict=True):
        assert not np.isin(row, train.items.ids[train.seen_items(r)]).any()


def test_big_data_keeps_only_best_neighbours(monkeypatch) -> None:
    """Above EXACT_LIMIT rows only the 10·k best similarities per row are kept."""
    data = synthetic_interactions()
    exact = UserKNN(k=1, similarity="pearson").fit(data)
    monkeypatch.setattr(knn_base, "EXACT_LIMIT", 10)
    capped = UserKNN(k=1, similarity="pearson").fit(data)
    assert np.diff(capped.nb_indptr_).max() == 10 < np.diff(exact.nb_indptr_).max()
    for u in range(data.n_users):
        full = exact.nb_indices_[exact.nb_indptr_[u] : exact.nb_indptr_[u + 1]][:10]
        got = capped.nb_indices_[capped.nb_indptr_[u] : capped.nb_indptr_[u + 1]]
        assert got.tolist() == full.tolist()
    items = ItemKNN(k=1, similarity="cosine", center="mean").fit(data)
    assert np.diff(items.sim_.indptr).max() <= 10
    exact_items = ItemKNN(k=1, similarity="cosine", center="mean", max_neighbors=41).fit(data)
    assert np.diff(exact_items.sim_.indptr).max() > 10


def test_explain_ratings_for_new_users() -> None:
    """Item-based reasons for a user's own ratings given as a dict equal explain(user);
    user-based reasons name the neighbourhood the fold-in similarities select."""
    data, items = synthetic_interactions(), synthetic_catalog()
    ik = ItemKNN(k=4, shrinkage=5.0).fit(data, items)
    frame = data.to_frame()
    user = int(data.users.ids[6])
    mine = frame[frame.userId == user]
    ratings = dict(zip(mine.movieId, mine.rating, strict=True))
    movies = data.items.ids[[0, 11, 22, 33]]
    assert ik.explain_ratings(ratings, movies) == ik.explain(user, movies)
    uk = UserKNN(k=3).fit(data, items)
    reasons = uk.explain_ratings({int(data.items.ids[0]): 5.0, int(data.items.ids[1]): 4.0}, movies)
    assert all("nearest neighbours" in r for r in reasons)


def _previous_new_user(
    model: UserKNN, ratings: dict[int, float], movies: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """What fold_in / explain_ratings returned before the single-row path: the query's
    similarities from neighbour_lists(query=...) (sparse products against the whole matrix),
    the parallel batch kernel, and neighbourhoods read from dense matrix columns."""
    data, m = model.data_, model.data_.matrix
    cols, vals = fold_ratings(data, ratings)
    q = sp.csr_matrix((vals, (np.zeros(cols.size, np.int64), cols)), shape=(1, data.n_items))
    cap = neighbour_cap(model.max_neighbors, data.n_users, model.k)
    nb = knn_similarity.neighbour_lists(
        m, model.similarity, model.min_support, float(model.shrinkage), cap, query=q
    )
    scores = knn_kernels.user_knn_kernel(
        np.zeros(1, np.int64),
        *nb,
        m.indptr.astype(np.int64),
        m.indices,
        model.values_,
        np.array([vals.mean()]),
        np.zeros(data.n_items),
        data.n_items,
        model.k,
        model.min_k,
        float(model.rank_damping),
        float(model.rank_offset),
        model._centre() != "none",
    )[0]
    return scores, _reference_reasons(model, cols, vals, nb[1], movies)


def _reference_reasons(
    model: UserKNN, cols: np.ndarray, vals: np.ndarray, nbrs: np.ndarray, movies: np.ndarray
) -> list[str]:
    """UserKNN's reasons from the dense rating matrix, one movie at a time: who of the
    best-first neighbours ``nbrs`` rated it (the first ``k``), and which of the user's loved
    movies (>= 4★) those neighbours over-represent most against all neighbours."""
    data = model.data_
    dense = data.matrix.toarray()
    loved = sorted(
        ((float(r), int(c)) for c, r in zip(cols, vals, strict=True) if r >= 4.0),
        key=lambda t: (-t[0], t[1]),
    )
    base = [float(np.mean(dense[nbrs, c] >= 4.0)) for _, c in loved]
    reasons = []
    for c in data.items.index(movies):
        rows = [int(v) for v in nbrs if dense[v, int(c)] > 0][: model.k]
        if not rows:
            reasons.append("")  # the model declines: none of the neighbours rated it
            continue
        avg = float(np.mean(dense[rows, int(c)]))
        how = "rated it highly" if avg >= 3.5 else "rated it"
        reason = (
            f"users with similar taste {how} ({len(rows)} of your nearest neighbours, "
            f"avg {avg:.1f}★)"
        )
        scored = []
        for j, (_, lc) in enumerate(loved):
            count = int(np.sum(dense[rows, lc] >= 4.0))
            scored.append((-(count / len(rows) - base[j]), -count, j, lc, count))
        if scored and min(scored)[4] > 0:
            best = min(scored)
            reason += f"; like you, {best[4]} of them loved movie {int(data.items.ids[best[3]])}"
        reasons.append(reason)
    return reasons


@pytest.mark.realdata
def test_user_knn_new_users_u1_same_as_previous_implementation(u1, u1_user_knn) -> None:
    """On real data (u1.base model; new users = u1.test rating sets of 5 and of 50 ratings):
    the same fold_in scores, bit for bit, as the previous implementation, and the reasons of
    a dense brute-force reference (naming the user's loved movie that drove each)."""
    _, test = u1
    model = u1_user_knn
    cold = np.flatnonzero(np.diff(model.data_.matrix.tocsc().indptr) == 0)
    assert cold.size == 1682 - 1650  # movies only in u1.test
    sizes = test.groupby("userId").size()
    checked = 0
    for n in (5, 50):
        for user in sizes[sizes >= n].index[:3]:
            mine = test[test.userId == user].head(n)
            ratings = dict(zip(mine.movieId, mine.rating.astype(float), strict=True))
            scores = model.fold_in(ratings)
            ranked = np.argsort(-scores, kind="stable")[:10]
            movies = model.data_.items.ids[np.r_[ranked, cold[0]]]
            ref_scores, ref_reasons = _previous_new_user(model, ratings, movies)
            np.testing.assert_array_equal(scores, ref_scores)
            assert model.explain_ratings(ratings, movies) == ref_reasons
            assert ref_reasons[-1] == ""  # a cold movie: no neighbour rated it
            checked += 1
    assert checked == 6


@pytest.mark.realdata
def test_user_knn_reasons_name_the_loved_movie_that_drove_each(ml100k_dir: Path) -> None:
    """The default model for user 1 on ml-100k: the top 10 do not all get the same reason;
    each names a movie user 1 rated 4★ or more, and its count is true."""
    from tests.store.toy import load_ml100k

    data, catalog = load_ml100k(ml100k_dir)
    model = UserKNN().fit(data, catalog)
    ids = model.recommend([1], n=10)[0][0]
    reasons = model.explain(1, ids)
    assert len(set(reasons)) > 1 and all(reasons)
    frame = data.to_frame()
    mine = frame[frame.userId == 1].set_index("movieId")["rating"]
    by_title = {catalog.display_title(m): m for m in catalog.frame.index}
    dense = data.matrix.toarray()
    named = set()
    for movie, why in zip(ids, reasons, strict=True):
        head, sep, tail = why.partition("; like you, ")
        assert sep, why
        count, _, title = tail.partition(" of them loved ")
        loved = by_title[title]
        named.add(loved)
        assert mine[loved] >= 4, (title, mine[loved])
        movie_col, loved_col = data.items.index([movie, loved])
        rows, _ = model.neighbourhood(0, int(movie_col))
        assert int(count) == int(np.sum(dense[rows, loved_col] >= 4))
        avg = dense[rows, movie_col].mean()
        assert head.endswith(f"({rows.size} of your nearest neighbours, avg {avg:.1f}★)")
    assert len(named) >= 3


@pytest.mark.parametrize(
    "params",
    [
        {"k": 3, "rank_damping": 0.0, "rank_offset": 0.0},  # heap path for most users
        {"k": 40},
        {"k": 5, "center": "none", "similarity": "cosine", "min_k": 2},
        {"k": 4, "center": "mean", "max_neighbors": 6},  # truncated: not symmetric
        {"k": 3, "neighbour_scope": "global"},
    ],
)
def test_item_knn_pair_predictions_equal_the_full_rows(params: dict) -> None:
    """``predict_rows`` finds neighbourhoods per asked pair (:func:`item_knn_pairs`); the
    figures are the rating formula of the whole-row kernel (β = γ = 0) at those pairs."""
    data = synthetic_interactions()
    model = ItemKNN(**params).fit(data)
    rng = np.random.default_rng(3)
    rows = rng.integers(0, data.n_users, 400)
    cols = rng.integers(0, data.n_items, 400)
    full = model._run(
        np.arange(data.n_users), model._train_r(), model._offsets(np.arange(data.n_users))[0], 0.0
    )
    lo, hi = data.rating_scale
    np.testing.assert_allclose(
        model.predict_rows(rows, cols), np.clip(full[rows, cols], lo, hi), rtol=1e-6
    )
