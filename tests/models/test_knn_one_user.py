"""One user's user-kNN scores and neighbour counts in numpy (no numba) are bit for bit the
compiled kernels', on the contract's data and on real ml-100k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.interactions import Interactions
from movierec.models.knn.evidence import user_neighbour_raters
from movierec.models.knn.kernels import user_knn_serial
from movierec.models.knn.one_user import neighbour_raters, user_scores
from movierec.models.knn.user import UserKNN
from movierec.testing import synthetic_interactions


def check_every_user(model: UserKNN, beta: float, gamma: float, rating: bool = False) -> None:
    """Every user's scores: the ranking score (``values_``, user means) or, with ``rating``,
    the rating formula's (``dev_``, the baselines ``μ + b_u`` and ``b_i``, when centred on
    them)."""
    m = model.data_.matrix
    if rating:
        vals, item_base = model._rating_inputs()
    else:
        vals, item_base = model.values_, np.zeros(model.data_.n_items)
    args = (m.indptr.astype(np.int64), m.indices, vals)
    nb = (model.nb_indptr_, model.nb_indices_, model.nb_sims_)
    by_item = model._by_item()
    centred = model._centre() != "none"
    for u in range(model.data_.n_users):
        mu = float((model._offsets(np.array([u])) if rating else model.user_means_[[u]])[0])
        compiled = user_knn_serial(
            np.array([u]), *nb, *args, np.array([mu]), item_base, model.data_.n_items, model.k,
            model.min_k, beta, gamma, centred,
        )[0]  # fmt: skip
        plain = user_scores(
            u, *nb, *args, mu, item_base, model.data_.n_items, model.k, model.min_k, beta,
            gamma, centred,
        )  # fmt: skip
        assert plain.dtype == compiled.dtype and np.array_equal(plain, compiled), u
        top = np.argsort(-compiled, kind="stable")[:10]
        cols = np.r_[top, -1][None, :]
        count, total = user_neighbour_raters(
            np.array([u]), nb[0].astype(np.int64), nb[1].astype(np.int64), *by_item, cols,
            model.k,
        )  # fmt: skip
        nbrs = nb[1][nb[0][u] : nb[0][u + 1]].astype(np.int64)
        c2, t2 = neighbour_raters(nbrs, *by_item, cols[0], model.k)
        assert np.array_equal(count[0], c2) and np.array_equal(total[0], t2), u


@pytest.mark.parametrize(
    "params", [{}, {"center": "none", "k": 3, "min_k": 2}, {"center": "mean", "k": 4}]
)
def test_one_user_equals_kernel_on_synthetic(params: dict) -> None:
    model = UserKNN(**params).fit(synthetic_interactions())
    check_every_user(model, model.rank_damping, model.rank_offset)
    check_every_user(model, 0.0, 0.0)
    check_every_user(model, model.rating_damping, 0.0, rating=True)


@pytest.mark.realdata
@pytest.mark.slow
def test_one_user_equals_kernel_on_ml100k(ml100k_dir: Path) -> None:
    ratings = pd.read_csv(
        ml100k_dir / "u1.base", sep="\t", names=["userId", "movieId", "rating", "timestamp"]
    )
    model = UserKNN().fit(Interactions.from_frame(ratings))
    check_every_user(model, model.rank_damping, model.rank_offset)
    check_every_user(model, model.rating_damping, 0.0, rating=True)


@pytest.mark.parametrize("loaded", [False, True])
def test_one_request_takes_the_kernels_once_a_server_loaded_them(
    loaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before ``warm_up`` (a one-shot command) one request goes through plain numpy, after it
    (a server) through the compiled kernels; a new user's scores, predicted ratings and
    reasons are the same either way."""
    import movierec.models.knn.user as user_module

    model = UserKNN().fit(synthetic_interactions())
    ratings = {int(i): 5.0 - (n % 4) for n, i in enumerate(model.data_.items.ids[:12])}
    calls: list[str] = []
    real = user_module.user_scores

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("numpy")
        return real(*args, **kwargs)

    monkeypatch.setattr(user_module, "user_scores", spy)
    monkeypatch.setattr(user_module, "kernels_loaded", lambda: False)
    expected = (model.fold_in(ratings), model.fold_in_ratings(ratings))
    reasons = model.explain_ratings(ratings, model.data_.items.ids[20:25])
    assert calls == ["numpy", "numpy"]
    monkeypatch.setattr(user_module, "kernels_loaded", lambda: loaded)
    calls.clear()
    got = (model.fold_in(ratings), model.fold_in_ratings(ratings))
    assert calls == ([] if loaded else ["numpy", "numpy"])
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
    assert model.explain_ratings(ratings, model.data_.items.ids[20:25]) == reasons


def test_warm_up_loads_the_compiled_kernels_in_a_fresh_process() -> None:
    """``Recommender.warm_up`` (what the API server calls before traffic) loads numba's
    kNN kernels for user-knn; a plain fold-in does not."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from movierec.models.knn.user import UserKNN\n"
        "from movierec.testing import synthetic_interactions\n"
        "m = UserKNN().fit(synthetic_interactions())\n"
        "m.fold_in({int(m.data_.items.ids[0]): 5.0})\n"
        "before = 'movierec.models.knn.kernels' in sys.modules\n"
        "m.warm_up()\n"
        "print(before, 'movierec.models.knn.kernels' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_composites_warm_up_their_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    from movierec.models.blend import RankBlend
    from movierec.models.hybrid import Hybrid

    warmed: list[str] = []
    monkeypatch.setattr(UserKNN, "warm_up", lambda self: warmed.append(self.name))
    data = synthetic_interactions()
    RankBlend(
        parts={"user-knn": {}, "popularity": {}}, weights={"user-knn": 1.0, "popularity": 0.5}
    ).fit(data).warm_up()
    Hybrid(collaborative="user-knn").fit(data).warm_up()
    assert warmed == ["user-knn", "user-knn"]
