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

Optional abilities are checked against the model's *declaration*
(:attr:`~movierec.models.base.Recommender.abilities`), both ways: a declared ability must
work (a :class:`NotSupportedError` from it fails the test), an undeclared one must raise
:class:`NotSupportedError`. Likewise :attr:`~movierec.models.base.Recommender.personalised`:
a personalised model must learn the taste groups, a non-personalised one must rank the
movies in the same order for everyone. Nothing is skipped on what the code under test does.
Unknown ids raise :class:`UnknownIdError` everywhere (including ``fold_in`` ratings).

Hooks a subclass may override:

* ``make_model()`` — **required**.
* ``invalid_params()`` — list of hyperparameter dicts (merged over ``make_model().get_params()``)
  that must raise :class:`ConfigError` when ``fit`` is called. Default: none.
* fixtures ``data`` / ``items`` (class-scoped; override with ``@pytest.fixture(scope="class")``
  over ``@classmethod``) — other training data / catalogue.
* ``predict_margin`` — predictions must lie in ``[lo - margin, hi + margin]`` of the rating
  scale (default 0.5; set larger for models that do not clip).
* ``rating_values_matter`` — set False for models that read only *which* movies a user rated
  (binary input): their fold-in must then ignore the star values exactly.
* ``score_atol`` — tolerance for "same scores" (determinism, batching); default 1e-5
  (multi-threaded float reductions may differ in the last bits).

The fitted model is shared per class (fixture ``fitted``), so tests must not mutate it.

Real-data helpers for per-model tests: :func:`load_u1` (``ml100k-u1`` with vocabularies
spanning base and test) and :func:`u1_rmse`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec.errors import ConfigError, ModelError, NotSupportedError, UnknownIdError
from movierec.explain import Explainer
from movierec.interactions import Interactions, ItemCatalog, Vocabulary
from movierec.models import ABILITIES, Recommender, load_model
from movierec.testing import (
    N_RATED_ITEMS,
    N_USERS,
    item_id,
    synthetic_catalog,
    synthetic_interactions,
)
from movierec.topn import ranked_frame

GROUP_A = np.arange(N_RATED_ITEMS // 2)  # columns liked by users 0..14
GROUP_B = np.arange(N_RATED_ITEMS // 2, N_RATED_ITEMS)  # columns liked by users 15..29


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
    pred[known] = model.predict(sub["userId"].to_numpy(), sub["movieId"].to_numpy())
    return float(np.sqrt(np.mean((pred - test["rating"].to_numpy()) ** 2)))


# ---------------------------------------------------------------------- reason checks
_CITED = re.compile(r"(?:similarity|weight|bias)\s+([+\-−]?\d+(?:\.\d+)?)|([+\-−]?\d+(?:\.\d+)?)%")
_NEGATIVE = re.compile(r"(?:^|[\s(<])[\-−]\d")


def cited_values(reason: str) -> list[float]:
    """The numbers a reason cites as a similarity, weight, bias or share (``41%``)."""
    return [float((m.group(1) or m.group(2)).replace("−", "-")) for m in _CITED.finditer(reason)]


def assert_true_reasons(reasons: list[str], n: int) -> None:
    """``n`` strings (``""`` allowed: the model declines), none citing a negative or zero
    similarity, weight, bias or share, none with a negative number."""
    assert isinstance(reasons, list) and len(reasons) == n
    for reason in reasons:
        assert isinstance(reason, str)
        assert not _NEGATIVE.search(reason), reason
        assert all(v > 0 for v in cited_values(reason)), reason


def same_order(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether score vectors ``a`` and ``b`` never order two entries strictly oppositely
    (ties in one may be broken either way in the other)."""
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    sa[np.isnan(sa)] = 0  # -inf vs -inf
    sb[np.isnan(sb)] = 0
    return bool(np.all(sa * sb >= 0))


def finite_mean(x: np.ndarray) -> float:
    return float(np.mean(x[np.isfinite(x)]))


class RecommenderContract:
    """Mixin of contract tests; see the module docstring."""

    predict_margin: float = 0.5
    score_atol: float = 1e-5
    rating_values_matter: bool = True

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

    # ------------------------------------------------------------------ abilities
    @staticmethod
    def ability(model: Recommender, name: str, call: Callable[[], Any]) -> Any:
        """``call()`` if ``model`` declares ``name`` (a NotSupportedError then fails the
        test), else check that it raises NotSupportedError and return ``None``."""
        if name in model.abilities:
            try:
                return call()
            except NotSupportedError as exc:
                pytest.fail(f"{model.name} declares {name!r} but it raised: {exc}")
        with pytest.raises(NotSupportedError):
            call()
        return None

    def test_contract_declarations(self, fitted: Recommender) -> None:
        assert fitted.abilities <= ABILITIES
        assert fitted.predicts_ratings == ("predict" in fitted.abilities)
        assert isinstance(fitted.personalised, bool)
        if "fold_in_ratings" in fitted.abilities:
            assert {"fold_in", "predict"} <= fitted.abilities

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

    def test_contract_personalised(self, fitted: Recommender, data: Interactions) -> None:
        """Personalised: group-A users score group-A movies above group-B ones on average.
        Not personalised: every user's scores order the movies alike."""
        scores = fitted.score(np.arange(data.n_users))
        if fitted.personalised:
            group_a = scores[: N_USERS // 2]
            assert finite_mean(group_a[:, GROUP_A]) > finite_mean(group_a[:, GROUP_B])
        else:
            assert all(same_order(scores[0], row) for row in scores[1:])

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

    def test_contract_recommend_one_user(self, fitted: Recommender, data: Interactions) -> None:
        """A scalar user id gives 1-D ``(ids, scores)``, the row of the batch call."""
        user = int(data.users.ids[4])
        ids, scores = fitted.recommend(user, n=6)
        assert ids.shape == (6,) and scores.shape == (6,)
        batch_ids, batch_scores = fitted.recommend([user], n=6)
        np.testing.assert_array_equal(ids, batch_ids[0])
        np.testing.assert_array_equal(scores, batch_scores[0])

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
        assert loaded.abilities == fitted.abilities
        rows = np.arange(data.n_users)
        np.testing.assert_array_equal(loaded.score(rows), fitted.score(rows))
        a = fitted.recommend(data.users.ids, n=5)
        b = loaded.recommend(data.users.ids, n=5)
        np.testing.assert_array_equal(a[0], b[0])
        if fitted.predicts_ratings:
            pu, pi = np.array([0, 1, 2]), np.array([3, 4, 5])
            np.testing.assert_array_equal(loaded.predict_rows(pu, pi), fitted.predict_rows(pu, pi))

    def test_contract_load_wrong_fingerprint(self, fitted: Recommender, tmp_path: Path) -> None:
        path = fitted.save(tmp_path / "model.npz")
        with pytest.raises(ModelError):
            load_model(path, expected_fingerprint="0000000000000000")

    # ------------------------------------------------------------------ predict
    def test_contract_predict_rows(self, fitted: Recommender, data: Interactions) -> None:
        rows = np.repeat(np.arange(data.n_users), 3)
        cols = np.tile(np.array([0, 17, 38]), data.n_users)
        pred = self.ability(fitted, "predict", lambda: fitted.predict_rows(rows, cols))
        if pred is None:
            return
        assert pred.shape == rows.shape
        assert np.all(np.isfinite(pred))
        lo, hi = data.rating_scale
        assert np.all(pred >= lo - self.predict_margin)
        assert np.all(pred <= hi + self.predict_margin)
        # cold movie (nobody rated it) still gets a finite prediction
        cold = fitted.predict_rows(np.array([0]), np.array([data.n_items - 1]))
        assert np.all(np.isfinite(cold))

    def test_contract_predict_ids(self, fitted: Recommender, data: Interactions) -> None:
        """``predict`` takes MovieLens ids: scalars give a float, arrays an array; the
        values are :meth:`predict_rows`' at the same pairs."""
        u, m = int(data.users.ids[2]), int(data.items.ids[7])
        one = self.ability(fitted, "predict", lambda: fitted.predict(u, m))
        if one is None:
            with pytest.raises(NotSupportedError):
                fitted.predict_rows(np.array([2]), np.array([7]))
            return
        assert isinstance(one, float)
        assert one == float(fitted.predict_rows(np.array([2]), np.array([7]))[0])
        users, movies = data.users.ids[[2, 5, 9]], data.items.ids[[7, 0, 30]]
        many = fitted.predict(users, movies)
        assert many.shape == (3,)
        np.testing.assert_array_equal(
            many, fitted.predict_rows(np.array([2, 5, 9]), np.array([7, 0, 30]))
        )
        # one user, several movies
        np.testing.assert_array_equal(
            fitted.predict(u, movies), fitted.predict_rows(np.full(3, 2), np.array([7, 0, 30]))
        )
        with pytest.raises(UnknownIdError):
            fitted.predict(999_999, m)
        with pytest.raises(UnknownIdError):
            fitted.predict(u, 999_999)
        with pytest.raises(ConfigError):
            fitted.predict(users, movies[:2])

    # ------------------------------------------------------------------ bad input
    def test_contract_unknown_user(self, fitted: Recommender) -> None:
        with pytest.raises(UnknownIdError):
            fitted.recommend([999_999], n=5)
        with pytest.raises(UnknownIdError):
            fitted.recommend(999_999, n=5)

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

    # ------------------------------------------------------------------ fold-in
    def test_contract_fold_in(self, fitted: Recommender, data: Interactions) -> None:
        ratings = {item_id(0): 5.0, item_id(3): 4.0, item_id(25): 1.0}
        scores = self.ability(fitted, "fold_in", lambda: fitted.fold_in(ratings))
        if scores is None:
            return
        assert scores.shape == (data.n_items,)
        assert not np.any(np.isnan(scores))
        with pytest.raises(UnknownIdError):
            fitted.fold_in({999_999: 4.0})

    def fold_in_pair(
        self, fitted: Recommender, first: Mapping[int, float], second: Mapping[int, float]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Fold-in scores of two new users from a personalised model that declares
        ``fold_in``; ``None`` otherwise, once it is checked that an undeclared ``fold_in``
        raises and that a non-personalised model orders the movies alike for both."""
        s1 = self.ability(fitted, "fold_in", lambda: fitted.fold_in(first))
        if s1 is None:
            return None
        s2 = fitted.fold_in(second)
        if not fitted.personalised:
            assert same_order(s1, s2)
            return None
        return s1, s2

    def test_contract_fold_in_follows_history(self, fitted: Recommender) -> None:
        """A new user who liked three group-A movies (and disliked two of group B) gets the
        other group-A movies scored higher, relative to group B, than the mirror-image user;
        a non-personalised model orders the movies alike for both."""
        fan_a = {**{item_id(j): 5.0 for j in GROUP_A[:3]}, **{item_id(j): 1.0 for j in GROUP_B[:2]}}
        fan_b = {**{item_id(j): 5.0 for j in GROUP_B[:3]}, **{item_id(j): 1.0 for j in GROUP_A[:2]}}
        pair = self.fold_in_pair(fitted, fan_a, fan_b)
        if pair is None:
            return
        sa, sb = pair
        a, b = GROUP_A[3:], GROUP_B[3:]  # rated by neither
        lead_a = finite_mean(sa[a]) - finite_mean(sa[b])
        lead_b = finite_mean(sb[a]) - finite_mean(sb[b])
        assert lead_a > lead_b

    def test_contract_fold_in_follows_values(self, fitted: Recommender, data: Interactions) -> None:
        """Rating two group-A movies 5★ rather than 1★ (same other ratings) moves the other
        group-A movies up relative to group B, and movie 0's nearest neighbours (by the
        model's own :meth:`similar_items`) up relative to the other movies; models that
        read only which movies were rated give identical scores; non-personalised ones the
        same order."""
        high = {item_id(0): 5.0, item_id(1): 5.0, item_id(20): 3.0, item_id(21): 3.0}
        low = {**high, item_id(0): 1.0, item_id(1): 1.0}
        pair = self.fold_in_pair(fitted, high, low)
        if pair is None:
            return
        s_high, s_low = pair
        if not self.rating_values_matter:
            np.testing.assert_array_equal(s_high, s_low)
            return
        with np.errstate(invalid="ignore"):  # -inf - -inf: a movie neither can score
            d = s_high.astype(np.float64) - s_low
        assert finite_mean(d[GROUP_A[2:]]) > finite_mean(d[GROUP_B[2:]])
        if "similar_items" in fitted.abilities:
            nbr_ids, _ = fitted.similar_items([item_id(0)], n=5)
            rated = data.items.index(list(high))
            nbrs = np.setdiff1d(data.items.index(nbr_ids[nbr_ids >= 0]), rated)
            rest = np.setdiff1d(np.arange(N_RATED_ITEMS), np.concatenate([nbrs, rated]))
            assert finite_mean(d[nbrs]) > finite_mean(d[rest])

    def test_contract_fold_in_ratings(self, fitted: Recommender, data: Interactions) -> None:
        """A new user's predicted ratings: inside the scale, and close to :meth:`predict`
        for a training user folded in with their own ratings (the fold-in re-estimates only
        that user's parameters, so not bit for bit)."""
        ratings = {item_id(0): 5.0, item_id(3): 4.0, item_id(25): 1.0}
        got = self.ability(fitted, "fold_in_ratings", lambda: fitted.fold_in_ratings(ratings))
        if got is None:
            return
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
        known = fitted.predict_rows(np.full(cols.size, u), cols)
        folded = fitted.fold_in_ratings(own)
        assert np.corrcoef(known, folded)[0, 1] > 0.8

    # ------------------------------------------------------------------ explanations
    def test_contract_explain(self, fitted: Recommender, data: Interactions) -> None:
        ids, _ = fitted.recommend(data.users.ids[:1], n=3)
        user = int(data.users.ids[0])
        reasons = self.ability(fitted, "explain", lambda: fitted.explain(user, ids[0]))
        if reasons is None:
            return
        assert_true_reasons(reasons, 3)
        with pytest.raises(UnknownIdError):
            fitted.explain(999_999, ids[0])
        with pytest.raises(UnknownIdError):
            fitted.explain(user, [999_999])
        padded = fitted.explain(user, [int(ids[0][0]), -1])
        assert padded == [reasons[0], ""]

    def test_contract_explain_ratings(self, fitted: Recommender, data: Interactions) -> None:
        ratings = {item_id(0): 5.0, item_id(3): 4.0, item_id(25): 1.0}
        movies = data.items.ids[[1, 2, 30]]
        reasons = self.ability(
            fitted, "explain_ratings", lambda: fitted.explain_ratings(ratings, movies)
        )
        if reasons is None:
            return
        assert_true_reasons(reasons, 3)
        with pytest.raises(UnknownIdError):
            fitted.explain_ratings({999_999: 4.0}, movies)
        with pytest.raises(UnknownIdError):
            fitted.explain_ratings(ratings, [999_999])

    def test_contract_reasons_cite_only_positive_evidence(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        """Every user's top 10 (and a new user per taste group): reasons cite no negative
        or zero similarity, weight or share, and most recommendations get a reason."""
        ids, _ = fitted.recommend(data.users.ids, n=10)
        given = total = 0
        if "explain" in fitted.abilities:
            for user, row in zip(data.users.ids, ids, strict=True):
                reasons = fitted.explain(int(user), row)
                assert_true_reasons(reasons, row.size)
                given += sum(bool(r) for r in reasons)
                total += int((row >= 0).sum())
            assert given >= total / 2
        if "explain_ratings" in fitted.abilities:
            for group in (GROUP_A, GROUP_B):
                ratings: Mapping[int, float] = {item_id(j): 5.0 for j in group[:4]}
                ratings = {**ratings, item_id(int(group[4])): 1.0}
                movies = data.items.ids[np.setdiff1d(np.arange(N_RATED_ITEMS), group[:5])]
                assert_true_reasons(fitted.explain_ratings(ratings, movies), movies.size)

    def test_contract_batch_reasons_equal_per_user(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        """The batch form gives exactly the one-user reasons: ``explain_users`` over every
        user (ragged lists padded with -1) equals ``explain`` user by user."""
        ids, _ = fitted.recommend(data.users.ids, n=10)
        ids[::3, 7:] = -1  # ragged lists, as a frame with short lists gives
        got = self.ability(fitted, "explain", lambda: fitted.explain_users(data.users.ids, ids))
        if got is None:
            return
        one_by_one = [
            fitted.explain(int(u), row) for u, row in zip(data.users.ids, ids, strict=True)
        ]
        assert got == one_by_one
        assert all(
            r == ""
            for row, g in zip(ids, got, strict=True)
            for m, r in zip(row, g, strict=True)
            if m < 0
        )

    def test_contract_chain_frame_equals_for_user(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        """The store step's path (every user's list explained in batches, rows of users
        interleaved, ragged lists) gives each user exactly :meth:`Explainer.for_user`'s
        reasons (the one-user path of the CLI and the API), rung by rung."""
        frame = ranked_frame(fitted, n=10)
        frame = frame[(frame["rank"] <= 6) | (frame["userId"] % 2 == 0)]  # ragged
        frame = frame.sample(frac=1.0, random_state=0)  # users interleaved
        explainer = Explainer(fitted)
        got = explainer.frame(frame, batch_size=7)  # several batches
        assert list(got["movieId"]) == list(frame["movieId"])
        for user, rows in got.groupby("userId", sort=False):
            expected = explainer.for_user(int(user), rows["movieId"].to_numpy())
            assert rows["explanation"].tolist() == expected
        assert got["explanation"].map(bool).all()  # the generic rung leaves none empty

    def test_contract_explains_ratings_as_user_claim(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        """A model that says ``explain_ratings`` of a training user's own ratings repeats its
        ``explain`` (so the chain skips rung 2 for training users) is right, for every user."""
        if not fitted.explains_ratings_as_user:
            assert True  # nothing claimed: the chain asks rung 2 (checked above)
            return
        assert {"explain", "explain_ratings"} <= fitted.abilities
        ids, _ = fitted.recommend(data.users.ids, n=10)
        m = data.matrix
        for row, (user, movies) in enumerate(zip(data.users.ids, ids, strict=True)):
            lo, hi = m.indptr[row], m.indptr[row + 1]
            rated = dict(
                zip(
                    data.items.ids[m.indices[lo:hi]].tolist(),
                    m.data[lo:hi].astype(float).tolist(),
                    strict=True,
                )
            )
            assert fitted.explain_ratings(rated, movies) == fitted.explain(int(user), movies)

    def test_contract_similar_items(self, fitted: Recommender, data: Interactions) -> None:
        query = data.items.ids[[0, 25]]
        got = self.ability(fitted, "similar_items", lambda: fitted.similar_items(query, n=5))
        if got is None:
            return
        ids, scores = got
        assert ids.shape == (2, 5) and scores.shape == (2, 5)
        for q, row in zip(query, ids, strict=True):
            assert q not in row
        valid = ids >= 0
        assert np.all(data.items.contains(ids[valid]))
        assert np.all(np.diff(scores, axis=1)[np.isfinite(scores[:, 1:])] <= 0)
