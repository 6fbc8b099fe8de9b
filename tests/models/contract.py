"""The contract every :class:`~movierec.models.base.Recommender` must honour.

Usage (one test class per model, in the style of implicit's ``RecommenderBaseTestMixin``)::

    from tests.models.contract import RecommenderContract

    class TestUserKNN(RecommenderContract):
        def make_model(self) -> Recommender:          # required: a fresh, unfitted model
            return UserKNN(k=5)

        def invalid_params(self) -> list[dict]:  # optional: each must raise ConfigError
            return [{"k": 0}, {"similarity": "nope"}]

The mixin's name does not start with ``Test`` so pytest only collects it through subclasses.
Every subclass gets all ``test_contract_*`` tests below, run on a small seeded synthetic
dataset (:func:`movierec.testing.synthetic_interactions`: 30 users × 42 movies, two taste
groups, non-contiguous external ids, two movies nobody rated, timestamps) and catalogue
(:func:`movierec.testing.synthetic_catalog`).

Hooks a subclass may override:

* ``make_model()`` — **required**.
* ``invalid_params()`` — list of hyperparameter dicts (merged over ``make_model().get_params()``)
  that must raise :class:`ConfigError` when ``fit`` is called. Default: none.
* fixtures ``data`` / ``items`` (class-scoped; override with ``@pytest.fixture(scope="class")``
  over ``@classmethod``) — other training data / catalogue.
* ``predict_margin`` — predictions must lie in ``[lo - margin, hi + margin]`` of the rating
  scale (default 0.5; set larger for models that do not clip).
* ``learns_structure`` — set False for non-personalised models (skips the taste-group test).
* ``score_atol`` — tolerance for "same scores" (determinism, batching); default 1e-5
  (multi-threaded float reductions may differ in the last bits).

The fitted model is shared per class (fixture ``fitted``), so tests must not mutate it.
Optional abilities (``fold_in``, ``explain``, ``explain_ratings``, ``similar_items``) are
checked when the model has them and skipped when it raises :class:`NotSupportedError`.
Unknown ids raise :class:`UnknownIdError` everywhere (including ``fold_in`` ratings).

Real-data helpers for per-model tests: :func:`load_u1` (``ml100k-u1`` with vocabularies
spanning base and test) and :func:`u1_rmse`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.errors import ConfigError, ModelError, NotSupportedError, UnknownIdError
from movierec.interactions import Interactions, ItemCatalog, Vocabulary
from movierec.models.base import Recommender, load_model
from movierec.testing import (
    N_RATED_ITEMS,
    N_USERS,
    item_id,
    synthetic_catalog,
    synthetic_interactions,
)


def load_u1(ml100k_dir: Path) -> tuple[Interactions, pd.DataFrame]:
    """Real ``ml100k-u1``: ``u1.base`` as Interactions, ``u1.test`` as a frame (external ids).

    The vocabularies span both files, so a movie only rated in ``u1.test`` is a cold
    (all-zero) column and each model's own fallback predicts it (as Surprise does with
    its unknown-item baseline)."""
    cols = ["userId", "movieId", "rating", "timestamp"]
    base = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=cols)
    test = pd.read_csv(ml100k_dir / "u1.test", sep="\t", names=cols)
    both = pd.concat([base, test])
    users = Vocabulary.from_values(both["userId"], kind="user")
    items = Vocabulary.from_values(both["movieId"], kind="movie")
    return Interactions.from_frame(base, users=users, items=items), test


def u1_rmse(model: Recommender, train: Interactions, test: pd.DataFrame) -> float:
    """RMSE on a test frame; pairs whose user or movie is absent from training get the
    global training mean (as Surprise does for unknown ids)."""
    known = train.users.contains(test["userId"]) & train.items.contains(test["movieId"])
    pred = np.full(len(test), float(train.matrix.data.mean()))
    sub = test[known]
    pred[known] = model.predict_ids(sub["userId"].to_numpy(), sub["movieId"].to_numpy())
    return float(np.sqrt(np.mean((pred - test["rating"].to_numpy()) ** 2)))


class RecommenderContract:
    """Mixin of contract tests; see the module docstring."""

    predict_margin: float = 0.5
    score_atol: float = 1e-5
    learns_structure: bool = True  # False for non-personalised models (e.g. popularity)

    # ------------------------------------------------------------------ hooks
    def make_model(self) -> Recommender:
        """A fresh, unfitted model with fast hyperparameters for the synthetic data."""
        raise NotImplementedError

    def invalid_params(self) -> list[dict[str, Any]]:
        """Hyperparameter overrides that must make ``fit`` raise :class:`ConfigError`."""
        return []

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Interactions:
        return synthetic_interactions()

    @pytest.fixture(scope="class")
    @classmethod
    def items(cls) -> ItemCatalog:
        return synthetic_catalog()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data: Interactions, items: ItemCatalog) -> Recommender:
        return cls().make_model().fit(data, items)

    # ------------------------------------------------------------------ fit / score
    def test_contract_fit_returns_self(self, data: Interactions, items: ItemCatalog) -> None:
        model = self.make_model()
        assert model.fit(data, items) is model

    def test_contract_score_shape_dtype(self, fitted: Recommender, data: Interactions) -> None:
        rows = np.array([0, 3, data.n_users - 1])
        scores = fitted.score(rows)
        assert scores.shape == (3, data.n_items)
        assert scores.dtype == np.float32
        assert not np.any(np.isnan(scores))
        assert not np.any(scores == np.inf)
        # every user can be scored on at least some rated movie
        assert np.all(np.isfinite(scores[:, :N_RATED_ITEMS]).any(axis=1))

    def test_contract_score_batch_consistent(self, fitted: Recommender, data: Interactions) -> None:
        rows = np.arange(data.n_users)
        together = fitted.score(rows)
        alone = np.vstack([fitted.score(np.array([r])) for r in rows[::7]])
        np.testing.assert_allclose(alone, together[::7], atol=self.score_atol, rtol=1e-5)

    def test_contract_deterministic(
        self, fitted: Recommender, data: Interactions, items: ItemCatalog
    ) -> None:
        again = self.make_model().fit(data, items)
        rows = np.arange(data.n_users)
        np.testing.assert_allclose(
            again.score(rows), fitted.score(rows), atol=self.score_atol, rtol=1e-5
        )

    # ------------------------------------------------------------------ recommend
    def test_contract_recommend_shapes_ids_sorted(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        users = data.users.ids[[0, 5, 17, 29]]
        ids, scores = fitted.recommend(users, n=5)
        assert ids.shape == (4, 5) and scores.shape == (4, 5)
        assert ids.dtype == np.int64 and scores.dtype == np.float32
        valid = ids >= 0
        assert valid[:, 0].all()
        assert np.all(data.items.contains(ids[valid]))
        assert np.all(np.diff(scores, axis=1)[np.isfinite(scores[:, 1:])] <= 0)
        for row in ids:  # no duplicates
            kept = row[row >= 0]
            assert kept.size == np.unique(kept).size
        # the reported scores are the model's scores
        cols = data.items.index(ids[0][valid[0]])
        full = fitted.score(data.users.index(users[:1]))[0]
        np.testing.assert_allclose(scores[0][valid[0]], full[cols], rtol=1e-6)

    def test_contract_recommend_excludes_seen(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        users = data.users.ids
        ids, _ = fitted.recommend(users, n=10, exclude_seen=True)
        for r, row in enumerate(ids):
            seen = set(data.items.ids[data.seen_items(r)].tolist())
            assert not seen & set(row.tolist())

    def test_contract_recommend_including_seen(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        u = data.users.ids[0]
        ids, scores = fitted.recommend([u], n=data.n_items, exclude_seen=False)
        full = fitted.score(np.array([0]))[0]
        assert int((ids[0] >= 0).sum()) == int(np.isfinite(full).sum())

    def test_contract_candidates_respected(self, fitted: Recommender, data: Interactions) -> None:
        cand = data.items.ids[[1, 4, 9, 22, 33, 41]]
        ids, _ = fitted.recommend(data.users.ids[:6], n=4, candidates=cand)
        assert set(ids[ids >= 0].tolist()) <= set(cand.tolist())

    def test_contract_pads_when_n_exceeds_items(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        n = data.n_items + 5
        ids, scores = fitted.recommend(data.users.ids[:2], n=n)
        assert ids.shape == (2, n)
        for r in range(2):
            n_seen = data.seen_items(r).size
            tail = ids[r, data.n_items - n_seen :]
            assert np.all(tail == -1)
            assert np.all(scores[r, data.n_items - n_seen :] == -np.inf)
            assert np.all(scores[r][ids[r] == -1] == -np.inf)

    # ------------------------------------------------------------------ persistence
    def test_contract_save_load_roundtrip(
        self, fitted: Recommender, data: Interactions, tmp_path: Path
    ) -> None:
        path = fitted.save(tmp_path / "model.npz")
        loaded = load_model(path, expected_fingerprint=data.fingerprint())
        assert type(loaded) is type(fitted)
        assert loaded.get_params() == fitted.get_params()
        rows = np.arange(data.n_users)
        np.testing.assert_array_equal(loaded.score(rows), fitted.score(rows))
        a = fitted.recommend(data.users.ids, n=5)
        b = loaded.recommend(data.users.ids, n=5)
        np.testing.assert_array_equal(a[0], b[0])
        if fitted.predicts_ratings:
            pu, pi = np.array([0, 1, 2]), np.array([3, 4, 5])
            np.testing.assert_array_equal(loaded.predict(pu, pi), fitted.predict(pu, pi))

    def test_contract_load_wrong_fingerprint(self, fitted: Recommender, tmp_path: Path) -> None:
        path = fitted.save(tmp_path / "model.npz")
        with pytest.raises(ModelError):
            load_model(path, expected_fingerprint="0000000000000000")

    # ------------------------------------------------------------------ predict
    def test_contract_predict(self, fitted: Recommender, data: Interactions) -> None:
        rows = np.repeat(np.arange(data.n_users), 3)
        cols = np.tile(np.array([0, 17, 38]), data.n_users)
        if not fitted.predicts_ratings:
            with pytest.raises(NotSupportedError):
                fitted.predict(rows, cols)
            return
        pred = fitted.predict(rows, cols)
        assert pred.shape == rows.shape
        assert np.all(np.isfinite(pred))
        lo, hi = data.rating_scale
        assert np.all(pred >= lo - self.predict_margin)
        assert np.all(pred <= hi + self.predict_margin)
        # cold movie (nobody rated it) still gets a finite prediction
        cold = fitted.predict(np.array([0]), np.array([data.n_items - 1]))
        assert np.all(np.isfinite(cold))

    def test_contract_learns_structure(self, fitted: Recommender) -> None:
        """Group-A users should score group-A movies above group-B ones on average."""
        if not self.learns_structure:
            pytest.skip(f"{fitted.name} is not personalised")
        scores = fitted.score(np.arange(N_USERS // 2))
        a = scores[:, : N_RATED_ITEMS // 2]
        b = scores[:, N_RATED_ITEMS // 2 : N_RATED_ITEMS]
        assert np.nanmean(np.where(np.isfinite(a), a, np.nan)) > np.nanmean(
            np.where(np.isfinite(b), b, np.nan)
        )

    # ------------------------------------------------------------------ bad input
    def test_contract_unknown_user(self, fitted: Recommender) -> None:
        with pytest.raises(UnknownIdError):
            fitted.recommend([999_999], n=5)

    @pytest.mark.parametrize("n", [0, -3])
    def test_contract_bad_n(self, fitted: Recommender, data: Interactions, n: int) -> None:
        with pytest.raises(ConfigError):
            fitted.recommend(data.users.ids[:1], n=n)

    def test_contract_unfitted(self, data: Interactions) -> None:
        with pytest.raises(ModelError):
            self.make_model().recommend(data.users.ids[:1], n=5)

    def test_contract_invalid_params(self, data: Interactions, items: ItemCatalog) -> None:
        base = self.make_model()
        for bad in self.invalid_params():
            model = type(base)(**{**base.get_params(), **bad})
            with pytest.raises(ConfigError):
                model.fit(data, items)

    # ------------------------------------------------------------------ optional abilities
    def test_contract_fold_in(self, fitted: Recommender, data: Interactions) -> None:
        ratings = {item_id(0): 5.0, item_id(3): 4.0, item_id(25): 1.0}
        try:
            scores = fitted.fold_in(ratings)
        except NotSupportedError:
            pytest.skip(f"{fitted.name} does not support fold_in")
        assert scores.shape == (data.n_items,)
        assert not np.any(np.isnan(scores))
        with pytest.raises(UnknownIdError):
            fitted.fold_in({999_999: 4.0})

    def test_contract_fold_in_ratings(self, fitted: Recommender, data: Interactions) -> None:
        """A new user's predicted ratings: inside the scale, and close to :meth:`predict`
        for a training user folded in with their own ratings (the fold-in re-estimates only
        that user's parameters, so not bit for bit)."""
        ratings = {item_id(0): 5.0, item_id(3): 4.0, item_id(25): 1.0}
        try:
            got = fitted.fold_in_ratings(ratings)
        except NotSupportedError:
            pytest.skip(f"{fitted.name} cannot predict ratings for new users")
        lo, hi = data.rating_scale
        assert got.shape == (data.n_items,) and np.all((got >= lo) & (got <= hi))
        with pytest.raises(UnknownIdError):
            fitted.fold_in_ratings({999_999: 4.0})
        m = data.matrix
        u = int(np.argmax(np.diff(m.indptr)))  # the most active user
        own = dict(
            zip(
                data.items.ids[m.indices[m.indptr[u] : m.indptr[u + 1]]].tolist(),
                m.data[m.indptr[u] : m.indptr[u + 1]].tolist(),
                strict=True,
            )
        )
        cols = np.arange(data.n_items)
        known = fitted.predict(np.full(cols.size, u), cols)
        folded = fitted.fold_in_ratings(own)
        assert np.corrcoef(known, folded)[0, 1] > 0.8

    def test_contract_explain(self, fitted: Recommender, data: Interactions) -> None:
        ids, _ = fitted.recommend(data.users.ids[:1], n=3)
        try:
            reasons = fitted.explain(int(data.users.ids[0]), ids[0])
        except NotSupportedError:
            pytest.skip(f"{fitted.name} does not explain")
        assert len(reasons) == 3
        assert all(isinstance(r, str) and r for r in reasons)
        with pytest.raises(UnknownIdError):
            fitted.explain(999_999, ids[0])

    def test_contract_explain_ratings(self, fitted: Recommender, data: Interactions) -> None:
        """Optional hook used for new users: ``explain_ratings({movieId: rating}, item_ids)``."""
        hook = getattr(fitted, "explain_ratings", None)
        if hook is None:
            pytest.skip(f"{fitted.name} has no explain_ratings")
        ratings = {item_id(0): 5.0, item_id(3): 4.0, item_id(25): 1.0}
        movies = data.items.ids[[1, 2, 30]]
        reasons = hook(ratings, movies)
        assert len(reasons) == 3
        assert all(isinstance(r, str) and r for r in reasons)
        with pytest.raises(UnknownIdError):
            hook({999_999: 4.0}, movies)

    def test_contract_similar_items(self, fitted: Recommender, data: Interactions) -> None:
        query = data.items.ids[[0, 25]]
        try:
            ids, scores = fitted.similar_items(query, n=5)
        except NotSupportedError:
            pytest.skip(f"{fitted.name} does not provide item similarities")
        assert ids.shape == (2, 5) and scores.shape == (2, 5)
        for q, row in zip(query, ids, strict=True):
            assert q not in row
        valid = ids >= 0
        assert np.all(data.items.contains(ids[valid]))
        assert np.all(np.diff(scores, axis=1)[np.isfinite(scores[:, 1:])] <= 0)
