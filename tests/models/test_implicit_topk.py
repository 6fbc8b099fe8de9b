"""iALS / BPR top-N through ``implicit.cpu.topk`` equals the base class's numpy ranking."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from movierec.models.base import Recommender
from movierec.models.implicit_mf import BPR, ImplicitALS
from movierec.testing import synthetic_interactions


@pytest.fixture(scope="module", params=["ials", "bpr"])
def model(request: pytest.FixtureRequest) -> Recommender:
    data = synthetic_interactions()
    assert (np.bincount(data.matrix.indices, minlength=data.n_items) == 0).any()  # cold items
    if request.param == "ials":
        return ImplicitALS(factors=8, iterations=5, seed=1).fit(data)
    return BPR(factors=8, iterations=20, seed=1).fit(data)


def _base(
    model: Recommender, n: int, exclude_seen: bool, candidates: np.ndarray | None, batch: int
) -> tuple[np.ndarray, np.ndarray]:
    """The base class's ``_recommend_rows`` (dense scores + numpy top-k) on every user."""
    rows = np.arange(model.data_.n_users)
    mask = None
    if candidates is not None:
        mask = np.ones(model.data_.n_items, dtype=bool)
        mask[model.data_.items.index(candidates)] = False
    return Recommender._recommend_rows(model, rows, n, exclude_seen, mask, batch)


@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("n", [1, 10, 10_000])
@pytest.mark.parametrize("restrict", [False, True])
def test_topk_matches_base_class(
    model: Recommender, exclude_seen: bool, n: int, restrict: bool
) -> None:
    ids = model.data_.items.ids
    candidates = ids[::3] if restrict else None
    users = model.data_.users.ids
    got_ids, got_scores = model.recommend(
        users, n=n, exclude_seen=exclude_seen, candidates=candidates, batch_size=7
    )
    want_ids, want_scores = _base(model, n, exclude_seen, candidates, 7)
    assert got_ids.shape == want_ids.shape == (users.size, n)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)
    assert np.isneginf(got_scores[got_ids == -1]).all()
    if n > ids.size:  # every slot past the rankable items is padding
        assert (got_ids == -1).any()


@pytest.mark.parametrize("copies", [3, 30])
def test_ties_are_broken_by_lower_column_like_the_base(model: Recommender, copies: int) -> None:
    """``copies`` items share the best item's factors: a tie at the top, and (30) at the cut
    reaching past the extra candidates, which the base-class fallback ranks.

    Factors are scaled by a power of two to at most 1 and rounded to multiples of 1/256
    first (16 fraction bits a product, sums of 9 terms < 16: 20 bits), so every dot product
    is exact in
    float32 and the tied scores are equal whatever the summation order: numpy's BLAS and
    implicit's kernel take different SIMD paths for different rows of one product, and on
    some CPUs identical rows otherwise differ in the last bit (which breaks the tie either
    way, not a ranking rule)."""
    tied = copy.deepcopy(model)
    for attr in ("user_factors_", "item_factors_"):
        f = getattr(tied, attr)
        scale = 2.0 ** np.ceil(-np.log2(np.abs(f).max()))
        setattr(tied, attr, (np.round(f * scale * 256) / 256).astype(np.float32))
    warm = np.flatnonzero(~tied.cold_items_)
    best = int(np.argmax(tied.user_factors_[0] @ tied.item_factors_.T))
    tied.item_factors_ = tied.item_factors_.copy()
    tied.item_factors_[warm[:copies]] = tied.item_factors_[best]
    users = tied.data_.users.ids
    got_ids, got_scores = tied.recommend(users, n=5, exclude_seen=False, batch_size=16)
    want_ids, want_scores = _base(tied, 5, False, None, 16)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)
    assert (got_scores[0] == got_scores[0, 0]).sum() >= min(copies, 5)  # ties at the top
