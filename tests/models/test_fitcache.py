"""fitcache: identical fits are shared inside shared_fits() and only there."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from movierec.evaluation.runner import evaluate
from movierec.models import fitcache
from movierec.models.blend import RankBlend
from movierec.models.registry import make_model
from movierec.testing import synthetic_interactions


def test_same_fit_is_reused_only_inside_the_context() -> None:
    data = synthetic_interactions(seed=1)
    other = synthetic_interactions(seed=2)
    outside = make_model("svd", factors=4, epochs=2)
    assert fitcache.fit(outside, data, None) is outside
    with fitcache.shared_fits():
        a = fitcache.fit(make_model("svd", factors=4, epochs=2), data, None)
        b = fitcache.fit(make_model("svd", factors=4, epochs=2), data, None)
        c = fitcache.fit(make_model("svd", factors=5, epochs=2), data, None)
        d = fitcache.fit(make_model("svd", factors=4, epochs=2), other, None)
        assert b is a and c is not a and d is not a
        with fitcache.shared_fits():  # nested: the same cache
            assert fitcache.fit(make_model("svd", factors=4, epochs=2), data, None) is a
    again = make_model("svd", factors=4, epochs=2)
    assert fitcache.fit(again, data, None) is again  # dropped on exit
    np.testing.assert_array_equal(a.score(np.arange(3)), again.score(np.arange(3)))


def test_ensemble_built_from_shared_fits_equals_its_own_fits() -> None:
    data = synthetic_interactions(seed=3)
    parts = {"ials": {"factors": 4}, "popularity": {}}
    alone = RankBlend(parts=parts).fit(data)
    with fitcache.shared_fits():
        fitcache.fit(make_model("ials", factors=4), data, None)
        shared = RankBlend(parts=parts).fit(data)
    rows = np.arange(data.n_users)
    np.testing.assert_array_equal(shared.score(rows), alone.score(rows))


def test_evaluation_metrics_do_not_depend_on_sharing(ml100k_dir: Path, tmp_path: Path) -> None:
    """rank-blend evaluated alone (fits its own parts) and after its parts (reuses them)."""
    alone = evaluate("ml100k-u1", "rank-blend", data_dir=ml100k_dir, write=False)
    parts = "edlae,ials,rp3beta,item-knn,popularity,rank-blend"
    shared = evaluate("ml100k-u1", parts, data_dir=ml100k_dir, write=False)

    def ndcg(board: object) -> float:
        rows = {r.model: r for r in board.results}  # type: ignore[attr-defined]
        return float(rows["rank-blend"].metrics["NDCG@10"])

    assert ndcg(shared) == ndcg(alone)
