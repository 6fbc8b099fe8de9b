"""ItemKNN global (item-based top-N, Deshpande & Karypis 2004) mode vs brute-force loops."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.errors import ConfigError
from movierec.models import Recommender, load_model
from movierec.models.knn import ItemKNN
from movierec.testing import synthetic_interactions


def _brute(model: ItemKNN, rows: np.ndarray, beta: float, gamma: float) -> np.ndarray:
    """Σ_{j∈I_u, i∈topk(j)} s_ji dev_uj etc. by plain loops over users, items, neighbours."""
    m = model.data_.matrix
    sim = model.sim_
    out = np.zeros((rows.size, m.shape[1]))
    for a, u in enumerate(rows):
        rated = dict(
            zip(
                m.indices[m.indptr[u] : m.indptr[u + 1]],
                model.dev_[m.indptr[u] : m.indptr[u + 1]],
                strict=True,
            )
        )
        if model.center == "baseline":
            off, item_base = model.mu_ + model.user_bias_[u], model.item_bias_
        else:
            off, item_base = 0.0, model.item_means_
        for i in range(m.shape[1]):
            num = den = 0.0
            size = 0
            for j, dev in rated.items():  # j votes for i when i is one of j's top k
                row = sim.indices[sim.indptr[j] : sim.indptr[j + 1]]
                if i in row:
                    s = float(sim.data[sim.indptr[j] + np.flatnonzero(row == i)[0]])
                    num += s * dev
                    den += s
                    size += 1
            base = off + item_base[i]
            if size >= model.min_k and den > 0:
                if model.center == "none":
                    out[a, i] = (num + gamma * den + beta * base) / (den + beta)
                else:
                    out[a, i] = base + (num + gamma * den) / (den + beta)
            else:
                out[a, i] = base
    return out


@pytest.mark.parametrize(
    "params",
    [
        {"k": 3},
        {"k": 5, "center": "mean", "similarity": "cosine", "min_k": 2},
        {"k": 4, "center": "none", "similarity": "adjusted_cosine", "rank_damping": 0.0},
    ],
)
def test_global_scores_equal_brute_force(params: dict) -> None:
    data = synthetic_interactions(seed=3)
    model = ItemKNN(neighbour_scope="global", **params).fit(data)
    assert model.neighbour_scope_ == "global"
    assert np.diff(model.sim_.indptr).max() <= params["k"]
    rows = np.arange(data.n_users)
    got = model.score(rows)
    assert got.shape == (data.n_users, data.n_items) and got.dtype == np.float32
    want = _brute(model, rows, float(model.rank_damping), float(model.rank_offset))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # the exact kernel on the pruned similarities gives the same values (predict path)
    kernel = model._run(
        rows, model._train_r(), model._offsets(rows)[0], model.rank_damping, model.rank_offset
    )
    np.testing.assert_allclose(got, kernel, rtol=1e-4, atol=1e-4)


def test_global_keeps_the_k_best_of_each_full_row() -> None:
    data = synthetic_interactions(seed=1)
    full = ItemKNN(k=3, neighbour_scope="per-item").fit(data).sim_
    top = ItemKNN(k=3, neighbour_scope="global").fit(data).sim_
    for i in range(data.n_items):
        s = full.data[full.indptr[i] : full.indptr[i + 1]]
        t = top.data[top.indptr[i] : top.indptr[i + 1]]
        assert t.size == min(3, s.size)
        np.testing.assert_allclose(np.sort(t)[::-1], np.sort(s)[::-1][: t.size], rtol=1e-6)


def test_auto_is_per_item_on_small_data_and_bad_mode_rejected() -> None:
    data = synthetic_interactions()
    assert ItemKNN(k=3).fit(data).neighbour_scope_ == "per-item"
    with pytest.raises(ConfigError, match="neighbour_scope"):
        ItemKNN(neighbour_scope="everything").fit(data)


def test_global_mode_survives_save_and_load(tmp_path) -> None:
    data = synthetic_interactions(seed=2)
    model = ItemKNN(k=3, neighbour_scope="global").fit(data)
    loaded = load_model(model.save(tmp_path / "m"))
    assert loaded.neighbour_scope_ == "global"
    rows = np.arange(5)
    np.testing.assert_array_equal(loaded.score(rows), model.score(rows))


@pytest.mark.parametrize(
    "params",
    [
        {"k": 3},
        {"k": 5, "center": "mean", "similarity": "pearson", "min_k": 2, "min_support": 2},
        {"k": 4, "center": "none", "similarity": "adjusted_cosine", "rank_damping": 0.0},
        {"k": 6, "similarity": "cosine", "shrinkage": 0.0},
    ],
)
def test_global_similarities_equal_the_blockwise_reference(params: dict) -> None:
    """The compiled top-k kernel keeps exactly the k best of the full similarity rows."""
    data = synthetic_interactions(seed=4)
    top = ItemKNN(neighbour_scope="global", **params).fit(data).sim_
    full = ItemKNN(neighbour_scope="per-item", **{**params, "k": 10_000}).fit(data).sim_
    for i in range(data.n_items):
        s = full.data[full.indptr[i] : full.indptr[i + 1]]
        j = full.indices[full.indptr[i] : full.indptr[i + 1]]
        order = np.lexsort((j, -s))[: params["k"]]  # best first, ties: lower index
        want = dict(zip(j[order].tolist(), s[order].tolist(), strict=True))
        got_j = top.indices[top.indptr[i] : top.indptr[i + 1]].tolist()
        got_s = top.data[top.indptr[i] : top.indptr[i + 1]]
        assert got_j == sorted(want)
        np.testing.assert_allclose(got_s, [want[c] for c in got_j], rtol=1e-5)


@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize(
    "params",
    [
        {"k": 3},
        {"k": 5, "center": "mean", "similarity": "cosine", "min_k": 2},
        {"k": 4, "center": "none", "similarity": "adjusted_cosine", "rank_damping": 0.0},
    ],
)
def test_global_recommend_equals_ranking_the_dense_scores(params: dict, exclude_seen: bool) -> None:
    """The sparse top-n kernel returns a best-n list of the dense :meth:`score` block."""
    data = synthetic_interactions(seed=5)
    model = ItemKNN(neighbour_scope="global", **params).fit(data)
    rows = np.arange(data.n_users)
    dense = model.score(rows).astype(np.float64)
    excluded = np.zeros(data.n_items, dtype=bool)
    excluded[::7] = True
    for n, mask in ((5, None), (data.n_items, excluded)):
        allowed = np.ones_like(dense, dtype=bool)
        if mask is not None:
            allowed[:, mask] = False
        if exclude_seen:
            allowed &= data.matrix.toarray() == 0
        got_ids, got_scores = model._recommend_rows(rows, n, exclude_seen, mask, 16)
        base_ids, _ = Recommender._recommend_rows(model, rows, n, exclude_seen, mask, 16)
        assert ((got_ids >= 0) == (base_ids >= 0)).all()  # same list lengths
        for u in rows:
            ok = got_ids[u] >= 0
            cols = data.items.index(got_ids[u][ok])
            assert allowed[u, cols].all() and len(set(cols.tolist())) == cols.size
            best = np.sort(dense[u][allowed[u]])[::-1][: cols.size]
            np.testing.assert_allclose(dense[u, cols], best, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got_scores[u][ok], best, rtol=1e-5, atol=1e-5)
