"""Ensembles of other registered models: :class:`RatingBlend` (stacking for rating
prediction) and :class:`RankBlend` (a weighted sum of z-normalised ranking scores).

Nested models are stored the way :class:`~movierec.models.hybrid.Hybrid` stores them: every
learned attribute ``a_`` of part ``p`` lives on the ensemble as ``p__a_`` and
``sub_attrs_ = {part: [attribute names]}`` lists them, so the base class's ``.npz`` saving
covers the parts with no extra format; :func:`store_parts` / :func:`restore_parts` are that
convention as two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from movierec.errors import ConfigError, NotSupportedError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models import fitcache
from movierec.models.base import Recommender
from movierec.models.common.batch import batch_shape
from movierec.models.common.carve import CARVES, carve_holdout
from movierec.models.common.foldin import fold_ratings
from movierec.models.common.reasons import explained_columns, share_text
from movierec.models.common.zscore import finite_zscore
from movierec.models.parts import restore_parts, store_parts, warm_up_parts
from movierec.models.registry import ENSEMBLES

__all__ = [
    "RatingBlend",
    "RankBlend",
    "build_parts",
    "defaulted_parts",
    "with_tuned_parts",
    "carve_holdout",
    "ridge_fit",
    "fwls_features",
    "fit_rank_weights",
    "store_parts",
    "restore_parts",
]

_SELF = ENSEMBLES  # not allowed as parts

# Default parts (chosen on ml-100k, see benchmarks/tune_blend.py); the rank-blend's weights
# and the rating blend's are learned at fit time on a carve of the training data.
DEFAULT_RATING_BASES: dict[str, dict[str, Any]] = {
    "svdpp": {},
    "svd": {},
    "item-knn": {},
    "user-knn": {},
    "baseline": {},
    "svd10": {"model": "svd", "factors": 10, "epochs": 40, "lr": 0.01, "reg": 0.05},
    "als-nobias": {"model": "als", "biases": False, "factors": 30, "iterations": 10},
    # I-AutoRec: validation RMSE (10 % of u1.base) 0.8945 -> 0.8807 with it (issue 3)
    "autorec": {},
}
DEFAULT_RATING_SIGNALS: dict[str, dict[str, Any]] = {
    "ease": {},
    "ials": {},
    "ease-stars": {"model": "ease", "binarize": False},
}
DEFAULT_RANK_PARTS: dict[str, dict[str, Any]] = {
    "edlae": {},
    "ials": {},
    "ials64": {"model": "ials", "factors": 64, "reg": 60.0},
    "rp3beta": {},
    "item-knn": {},
    "popularity": {},
    # time-local co-occurrence; validation NDCG@10 (mean of 3 carves) 0.2866 -> 0.2900
    "local-ease": {"window": 8, "reg": 25.0, "overlap": False},
}


PART_GROUPS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "blend": {"bases": DEFAULT_RATING_BASES, "signals": DEFAULT_RATING_SIGNALS},
    "rank-blend": {"parts": DEFAULT_RANK_PARTS},
}
"""Per ensemble, its parameters that hold parts (``{label: spec}``) and their defaults."""


Reasons = Callable[[Recommender], list[list[str]]]
"""A part's reasons for the movies being explained (called only on parts that declare the
ability being served)."""


def _parts_of(owner: Any) -> dict[str, Recommender]:
    """The parts of an ensemble: fitted ones once it is fitted, else freshly built."""
    return restore_parts(owner, owner._build) if hasattr(owner, "data_") else owner._build()


# ---------------------------------------------------------------------- nested models
def _check_parts(owner: str, key: str, parts: Any, allow_empty: bool = False) -> None:
    """``parts`` must be ``{label: {"model": name?, **params}}`` naming registered models."""
    from movierec.models.registry import MODELS

    if parts is None:
        return
    if not isinstance(parts, Mapping) or (not parts and not allow_empty):
        raise ConfigError(f"{owner}: {key} must be a non-empty mapping label -> params")
    for label, spec in parts.items():
        if not isinstance(label, str) or not label or "__" in label:
            raise ConfigError(f"{owner}: {key} label {label!r} must be a string without '__'")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{owner}: {key}[{label!r}] must be a mapping of parameters")
        name = spec.get("model", label)
        if name in _SELF or name not in MODELS:
            valid = ", ".join(sorted(set(MODELS) - _SELF))
            raise ConfigError(f"{owner}: {key}[{label!r}] names model {name!r}; valid: {valid}")


def build_parts(parts: Mapping[str, Mapping[str, Any]]) -> dict[str, Recommender]:
    """Unfitted models for ``{label: {"model": name (default label), **params}}``."""
    from movierec.models.registry import make_model

    out = {}
    for label, spec in parts.items():
        params = {k: v for k, v in spec.items() if k != "model"}
        out[label] = make_model(str(spec.get("model", label)), **params)
    return out


# ---------------------------------------------------------------------- nested tuning
def defaulted_parts(name: str, params: Mapping[str, Any]) -> dict[str, str]:
    """``{label: model name}`` of the parts of ensemble ``name`` (with ``params``) that are a
    registered model at its own defaults: a spec with no hyperparameter, ``{}`` or
    ``{"model": m}``. These are the parts whose hyperparameters ``evaluate --tune`` tunes
    (:func:`with_tuned_parts`); a part with hyperparameters of its own (e.g. ``svd10``)
    is a fixed design choice and keeps them. Empty for a model that is not a blend."""
    return {
        label: str(spec.get("model", label))
        for specs in _part_specs(name, params).values()
        for label, spec in specs.items()
        if set(spec) <= {"model"}
    }


def _part_specs(name: str, params: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``{parameter: {label: spec}}`` of ensemble ``name``'s part parameters, a ``None``
    value resolved to its defaults (:data:`PART_GROUPS`)."""
    return {
        key: defaults if params.get(key) is None else params[key]
        for key, defaults in PART_GROUPS.get(name, {}).items()
    }


def with_tuned_parts(
    name: str, params: Mapping[str, Any], tuned: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``params`` of ensemble ``name`` with every defaulted part (:func:`defaulted_parts`)
    whose model is in ``tuned`` given those hyperparameters: ``{"model": m, **tuned[m]}``.

    Args:
        name: ``"blend"`` or ``"rank-blend"`` (other names: ``params`` unchanged).
        params: the ensemble's full parameters (``get_params()``).
        tuned: ``{model name: full hyperparameters}`` chosen on validation.
    """
    swap = {
        label: model for label, model in defaulted_parts(name, params).items() if model in tuned
    }
    out = dict(params)
    for key, specs in _part_specs(name, params).items():
        if any(label in swap for label in specs):
            out[key] = {
                label: {"model": swap[label], **tuned[swap[label]]} if label in swap else dict(spec)
                for label, spec in specs.items()
            }
    return out


# ---------------------------------------------------------------------- stacking helpers
def ridge_fit(features: np.ndarray, target: np.ndarray, reg: float) -> np.ndarray:
    """Ridge regression with an unpenalised intercept, closed form.

    Solves ``min_w ‖[F 1] w − y‖² + λ ‖w_{0..d−1}‖²`` i.e.
    ``w = ([F 1]ᵀ[F 1] + λ diag(1, …, 1, 0))⁻¹ [F 1]ᵀ y``.

    Args:
        features: ``F``, shape ``(n, d)``.
        target: ``y``, shape ``(n,)``.
        reg: ``λ >= 0``.

    Returns:
        shape ``(d + 1,)``: ``d`` weights then the intercept.
    """
    a = np.column_stack([features, np.ones(len(features))])
    pen = np.full(a.shape[1], float(reg))
    pen[-1] = 0.0
    return np.linalg.solve(a.T @ a + np.diag(pen), a.T @ target)


def fwls_features(preds: np.ndarray, meta: np.ndarray) -> np.ndarray:
    """Feature-weighted linear stacking design (Sill et al. 2009).

    With base predictions ``p`` (shape ``(n, m)``) and meta-features ``f`` (shape
    ``(n, q)``) the blend ``Σ_j (v_j + Σ_l v_jl f_l) p_j + Σ_l c_l f_l`` is linear in
    ``[p, p⊗f, f]``; returns that design, shape ``(n, m + m·q + q)``.
    """
    inter = (preds[:, :, None] * meta[:, None, :]).reshape(len(preds), -1)
    return np.column_stack([preds, inter, meta])


def support_features(
    data: Interactions, rows: np.ndarray, cols: np.ndarray, n_u: np.ndarray | None = None
) -> np.ndarray:
    """Meta-features ``[log(1 + n_u), log(1 + n_i)]`` (training ratings of the user / movie).

    ``n_u`` (aligned with ``cols``) replaces the users' training counts, e.g. for a new
    user folded in (``rows`` is then unused).
    """
    m = data.matrix
    if n_u is None:
        n_u = np.diff(m.indptr)[rows]
    n_i = np.bincount(m.indices, minlength=m.shape[1])
    return np.column_stack([np.log1p(n_u), np.log1p(n_i[cols])]).astype(np.float64)


def gather_scores(model: Recommender, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per-user z-normalised scores ``z(s_u)_i`` of a ranking model at the pairs, shape ``(n,)``.

    Each user's scores are z-normalised over the whole catalogue
    (:func:`~movierec.models.common.zscore.finite_zscore`);
    unscorable movies (``-inf``) get the user's lowest finite z.
    """
    out = np.empty(rows.size, dtype=np.float64)
    uniq, inv = np.unique(rows, return_inverse=True)
    for start in range(0, uniq.size, 256):
        block = uniq[start : start + 256]
        z = finite_zscore(model.score(block))
        sel = (inv >= start) & (inv < start + block.size)
        out[sel] = z[inv[sel] - start, cols[sel]]
    return out


RANK_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
"""Weights tried for each part (the best part's is 1) by :func:`fit_rank_weights`."""


def ndcg_of_scores(scores: np.ndarray, blocked: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Mean binary NDCG@``k`` of the top-``k`` lists of ``scores`` (shape ``(b, n_items)``),
    ``blocked`` movies excluded, relevance ``relevant`` (bool, same shape) — the definition
    of :func:`movierec.evaluation.metrics.ndcg_at_k` with ``|R(u)|`` = the row's relevant
    count."""
    s = np.where(blocked, -np.inf, scores)
    k = min(int(k), s.shape[1])
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    hits = np.take_along_axis(relevant, top, axis=1)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(relevant.sum(axis=1), k)]
    return float(np.mean(np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)))


def fit_rank_weights(
    z: np.ndarray,
    blocked: np.ndarray,
    relevant: np.ndarray,
    k: int = 10,
    grid: tuple[float, ...] = RANK_GRID,
    rounds: int = 2,
) -> tuple[np.ndarray, float, list[float]]:
    """Weights ``w`` of ``Σ_m w_m z_m`` maximising validation NDCG@k (:func:`ndcg_of_scores`).

    ``z``: ``(n_parts, b, n_items)`` z-scores of the validation users. Start at the best part
    alone (``w = e_best``; NDCG is invariant to a common scale, so its weight stays 1), then
    ``rounds`` of coordinate ascent: for every other part try each grid weight with the
    others fixed and keep the best only if it is strictly better. The result is never
    below the best part's validation NDCG.

    Returns:
        ``(w (n_parts,), validation NDCG of w, [validation NDCG of each part alone])``.
    """
    n = z.shape[0]
    alone = [ndcg_of_scores(z[j], blocked, relevant, k) for j in range(n)]
    best = int(np.argmax(alone))
    w = np.zeros(n)
    w[best] = 1.0
    current = alone[best]
    total = z[best].astype(np.float32)
    for _ in range(int(rounds)):
        changed = False
        for j in range(n):
            if j == best:
                continue
            base = total - np.float32(w[j]) * z[j]
            for g in grid:
                if g == w[j]:
                    continue
                value = ndcg_of_scores(base + np.float32(g) * z[j], blocked, relevant, k)
                if value > current + 1e-12:
                    current, w[j], changed = value, float(g), True
            total = base + np.float32(w[j]) * z[j]
        if not changed:
            break
    return w, float(current), alone


# ---------------------------------------------------------------------- rating blend
class RatingBlend(Recommender):
    """Stacked blend of rating predictors (feature-weighted linear stacking).

    Koren (2009), *The BellKor Solution to the Netflix Grand Prize*; Jahrer, Töscher,
    Legenstein (2010), *Combining predictions for accurate recommender systems*, KDD;
    Sill, Takács, Mackey, Lin (2009), *Feature-Weighted Linear Stacking*, arXiv:0911.0460.

    Fit:

    1. a holdout ``H`` of ``holdout`` of every user's training ratings is carved out
       (:func:`carve_holdout`; seeded random, or each user's newest with
       ``carve="newest"``); the test data is never seen;
    2. every base model ``j`` (``bases``) is fitted on the rest and predicts ``p_j(u, i)``
       for ``(u, i) ∈ H``; every *signal* model ``s`` (``signals``: ranking models such as
       EASE/iALS, i.e. the implicit "which movies did u rate" information) gives the
       per-user z-normalised score ``z_s(u, i)``;
    3. with meta-features ``f = [log(1 + n_u), log(1 + n_i)]`` (support of the user and
       movie) the blend ::

           r̂_ui = c + Σ_j (v_j + Σ_l v_jl f_l) p_j + Σ_l c_l f_l            (meta=True)
           r̂_ui = c + Σ_j v_j p_j                                           (meta=False)

       (``p`` includes the ``z_s``) is fitted on ``H`` by ridge regression on standardised
       features, ``w = (AᵀA + λ D)⁻¹ Aᵀ r`` (:func:`ridge_fit`, intercept unpenalised);
    4. every model is refitted on the full training data and the learned weights applied;
       predictions are clipped to the rating scale.

    ``score`` (ranking) is the blended prediction for every movie. ``bases`` / ``signals``
    map a label to ``{"model": registry name (default: the label), **hyperparameters}``.

    Args:
        bases: rating-prediction parts (``None``: svdpp, svd, item-knn, user-knn, baseline
            and autorec with their shipped defaults, plus a small 10-factor svd and a
            30-factor ALS without biases for diversity; see :data:`DEFAULT_RATING_BASES`).
        signals: ranking parts used as features (``None``: ease, ials and EASE on the
            star values, ``ease-stars``; ``{}``: none).
        holdout: fraction of each user's ratings held out for the blend, in (0, 0.5].

    The default parts, ``holdout`` and ``reg`` were chosen on a validation split carved out
    of ``u1.base`` (a seeded 10 % per-user holdout; ``benchmarks/tune_blend.py``): RMSE
    0.8953 vs 0.8984 for svdpp, svd, als, both knns and baseline with ``holdout=0.15``, and
    ~6 s fit on ml-100k (2 cores) instead of ~25 s. Adding the ``ease-stars`` signal
    (EASE with ``binarize=False``) lowered that validation RMSE from 0.8953 to 0.8945 and the
    ``ml100k-u1`` test RMSE from 0.9040 to 0.9035 (~7 s fit). Adding ``autorec`` (I-AutoRec,
    a non-linear model unlike every other base) lowered the validation RMSE from 0.8945 to
    0.8807, and the test RMSE to 0.8896 (``ml100k-5fold`` mean 0.8822).
        reg: ridge ``λ >= 0`` on standardised features.
        meta: use the support meta-features (FWLS) or a plain linear blend.
        seed: seed of the holdout.
        carve: how ``H`` is carved (:func:`carve_holdout`): ``"random"`` ratings of each
            user, or each user's ``"newest"`` (``movierec evaluate`` sets it from the
            protocol: newest for the time split ``temporal``, random otherwise).

    Attributes:
        weights_: ``(d,)`` ridge weights on the standardised design; intercept_: ``c``.
        feat_mean_, feat_std_: ``(d,)`` standardisation of the design.
        labels_: part labels, bases then signals (the order of the design's columns).
        holdout_rmse_: blend RMSE on ``H`` (in-sample for the weights).
        holdout_base_rmse_: ``{label: RMSE on H}`` of every base.
        sub_attrs_: learned attributes of the parts (see module docstring).
    """

    name: ClassVar[str] = "blend"
    declared_abilities: ClassVar[frozenset[str]] = frozenset({"predict"})
    score_is_rating = True  # the blended rating, already clipped

    def __init__(
        self,
        bases: dict[str, dict[str, Any]] | None = None,
        signals: dict[str, dict[str, Any]] | None = None,
        holdout: float = 0.25,
        reg: float = 1.0,
        meta: bool = True,
        seed: int = 0,
        carve: str = "random",
    ) -> None:
        self.bases = bases
        self.signals = signals
        self.holdout = holdout
        self.reg = reg
        self.meta = meta
        self.seed = seed
        self.carve = carve

    # ------------------------------------------------------------------ config
    def _base_specs(self) -> dict[str, dict[str, Any]]:
        return dict(DEFAULT_RATING_BASES if self.bases is None else self.bases)

    def _signal_specs(self) -> dict[str, dict[str, Any]]:
        return dict(DEFAULT_RATING_SIGNALS if self.signals is None else self.signals)

    def _validate(self) -> None:
        from movierec.models.registry import model_class

        _check_parts("blend", "bases", self.bases)
        _check_parts("blend", "signals", self.signals, allow_empty=True)
        for label, spec in self._base_specs().items():
            if not model_class(str(spec.get("model", label))).predicts_ratings:
                raise ConfigError(f"blend: base {label!r} does not predict ratings")
        if set(self._base_specs()) & set(self._signal_specs()):
            raise ConfigError("blend: bases and signals need distinct labels")
        if not isinstance(self.holdout, int | float) or not 0.0 < self.holdout <= 0.5:
            raise ConfigError(f"blend: holdout must be in (0, 0.5], got {self.holdout!r}")
        if not isinstance(self.reg, int | float) or not self.reg >= 0:
            raise ConfigError(f"blend: reg must be a number >= 0, got {self.reg!r}")
        if not isinstance(self.meta, bool):
            raise ConfigError(f"blend: meta must be true or false, got {self.meta!r}")
        if self.carve not in CARVES:
            raise ConfigError(
                f"blend: carve must be one of {', '.join(CARVES)}, got {self.carve!r}"
            )
        for model in self._build().values():  # the parts' own hyperparameters
            model._validate()

    def _build(self) -> dict[str, Recommender]:
        return build_parts({**self._base_specs(), **self._signal_specs()})

    def warm_up(self) -> None:
        warm_up_parts(self, self._build)

    # ------------------------------------------------------------------ fitting
    def _columns(
        self,
        parts: Mapping[str, Recommender],
        data: Interactions,
        rows: np.ndarray,
        cols: np.ndarray,
    ) -> np.ndarray:
        """The blend design at pairs ``(rows, cols)``: shape ``(n, d)`` float64."""
        bases = self._base_specs()
        preds = [
            np.asarray(m.predict_rows(rows, cols), dtype=np.float64)
            if label in bases
            else gather_scores(m, rows, cols)
            for label, m in parts.items()
        ]
        p = np.column_stack(preds)
        if not self.meta:
            return p
        return fwls_features(p, support_features(data, rows, cols))

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        rest, rows, cols, target = carve_holdout(
            data, float(self.holdout), int(self.seed), str(self.carve)
        )
        if rows.size < 10:
            raise ConfigError(
                f"blend: holdout {self.holdout} leaves only {rows.size} ratings to fit weights"
            )
        parts = self._build()
        for model in parts.values():
            model.fit(rest, items)
        design = self._columns(parts, rest, rows, cols)
        self.feat_mean_ = design.mean(axis=0)
        self.feat_std_ = np.where(design.std(axis=0) > 1e-12, design.std(axis=0), 1.0)
        w = ridge_fit((design - self.feat_mean_) / self.feat_std_, target, float(self.reg))
        self.weights_, self.intercept_ = w[:-1], float(w[-1])
        lo, hi = data.rating_scale
        fitted = np.clip(self._apply(design), lo, hi)
        self.holdout_rmse_ = float(np.sqrt(np.mean((fitted - target) ** 2)))
        self.holdout_base_rmse_ = {
            label: float(np.sqrt(np.mean((design[:, j] - target) ** 2)))
            for j, label in enumerate(self._base_specs())
        }
        self.labels_ = list(parts)
        parts = {label: fitcache.fit(m, data, items) for label, m in self._build().items()}
        store_parts(self, parts)

    def bias_terms(self) -> tuple[float, np.ndarray, np.ndarray] | None:
        """The biases of the ``baseline`` base (else of the first base that has biases),
        for cold pairs (:meth:`~movierec.models.base.Recommender.predict_cold`)."""
        parts = restore_parts(self, self._build)
        bases = self._base_specs()
        order = sorted(bases, key=lambda label: str(bases[label].get("model", label)) != "baseline")
        for label in order:
            terms = parts[label].bias_terms()
            if terms is not None:
                return terms
        return None

    def _apply(self, design: np.ndarray) -> np.ndarray:
        return ((design - self.feat_mean_) / self.feat_std_) @ self.weights_ + self.intercept_

    # ------------------------------------------------------------------ prediction
    def predict_rows(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """Blended ratings clipped to the rating scale, shape ``(n,)`` float64."""
        parts = restore_parts(self, self._build)
        rows = np.asarray(user_rows, dtype=np.int64)
        cols = np.asarray(item_cols, dtype=np.int64)
        lo, hi = self.data_.rating_scale
        if rows.size == 0:
            return np.zeros(0)
        return np.clip(self._apply(self._columns(parts, self.data_, rows, cols)), lo, hi)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Blended predicted rating of every movie, shape ``(b, n_items)`` float32.

        Equals :meth:`predict` on every (user, movie) pair; parts whose ``score`` is their
        unclipped rating (biased MF, baselines) are read from ``score`` (one matrix
        product per batch) instead of pair by pair.
        """
        parts = restore_parts(self, self._build)
        rows = np.asarray(user_rows, dtype=np.int64)
        n_items = self.data_.n_items
        lo, hi = self.data_.rating_scale
        bases = self._base_specs()
        out = np.empty((rows.size, n_items), dtype=np.float32)
        step = max(1, 65536 // max(n_items, 1))
        all_cols = np.arange(n_items, dtype=np.int64)
        for start in range(0, rows.size, step):
            block = rows[start : start + step]
            r, c = np.repeat(block, n_items), np.tile(all_cols, block.size)
            cols_ = []
            for label, m in parts.items():
                if label not in bases:
                    cols_.append(finite_zscore(m.score(block)).ravel())
                elif m.score_is_rating:
                    cols_.append(np.clip(m.score(block).astype(np.float64), lo, hi).ravel())
                else:
                    cols_.append(np.asarray(m.predict_rows(r, c), dtype=np.float64))
            design = np.column_stack(cols_)
            if self.meta:
                design = fwls_features(design, support_features(self.data_, r, c))
            pred = np.clip(self._apply(design), lo, hi)
            out[start : start + block.size] = pred.reshape(block.size, n_items)
        return out

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Blended predicted ratings for a new user, shape ``(n_items,)`` float32.

        The same design as :meth:`score` with every part folded in instead of looked up:
        bases give :meth:`~movierec.models.base.Recommender.fold_in_ratings`, signals the
        z-normalised :meth:`~movierec.models.base.Recommender.fold_in`, and the user
        meta-feature is ``log(1 + number of given ratings)``. Every part must support
        fold-in (the defaults do).
        """
        self._check_fitted()
        parts = restore_parts(self, self._build)
        cols, _ = fold_ratings(self.data_, ratings)
        n_items = self.data_.n_items
        bases = self._base_specs()
        design = np.column_stack(
            [
                np.asarray(m.fold_in_ratings(ratings), dtype=np.float64)
                if label in bases
                else finite_zscore(np.asarray(m.fold_in(ratings), dtype=np.float64)[None, :])[0]
                for label, m in parts.items()
            ]
        )
        if self.meta:
            all_cols = np.arange(n_items)
            n_u = np.full(n_items, cols.size)
            design = fwls_features(design, support_features(self.data_, all_cols, all_cols, n_u))
        lo, hi = self.data_.rating_scale
        return np.clip(self._apply(design), lo, hi).astype(np.float32)

    def blend_weights(self) -> dict[str, float]:
        """Effective weight ``v_j`` of each part at the mean meta-features (for reports)."""
        self._check_fitted()
        raw = self.weights_ / self.feat_std_
        return {label: float(raw[j]) for j, label in enumerate(self.labels_)}

    @property
    def abilities(self) -> frozenset[str]:
        """``predict``; ``fold_in`` and ``fold_in_ratings`` when every base has
        ``fold_in_ratings`` and every signal ``fold_in``; ``explain`` (``explain_ratings``)
        when one of :meth:`_explaining_parts` has it."""
        parts = _parts_of(self)
        bases = self._base_specs()
        out = {"predict"}
        need = {label: "fold_in_ratings" if label in bases else "fold_in" for label in parts}
        if all(need[label] in m.abilities for label, m in parts.items()):
            out |= {"fold_in", "fold_in_ratings"}
        for ability in ("explain", "explain_ratings"):
            if any(ability in parts[k].abilities for k in self._explaining_parts(parts)):
                out.add(ability)
        return frozenset(out)

    def _explaining_parts(self, parts: Mapping[str, Recommender]) -> list[str]:
        """Labels of the parts that may explain the blend: those with a positive standardised
        weight ``w_j`` (as printed, two decimals), largest first; before fitting, all parts.
        A part with a negative weight lowers the blend where it scores high, so its reasons
        would not explain the blend's choice."""
        if not hasattr(self, "weights_"):
            return list(parts)
        v = self._part_weights()
        return sorted((k for k in parts if round(v.get(k, 0.0), 2) > 0), key=lambda k: -v[k])

    def _part_weights(self) -> dict[str, float]:
        return {label: float(self.weights_[j]) for j, label in enumerate(self.labels_)}

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """Each movie's reason from the first of :meth:`_explaining_parts` that gives one,
        tagged with the part's name and weight: "… — svdpp, weight 0.42 in the blend";
        ``""`` when none does."""
        return self.explain_users([user_id], [item_ids])[0]

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch, from the parts' batch reasons."""
        users, items = batch_shape(user_ids, item_ids)
        return self._reasons("explain", lambda m: m.explain_users(users, items), items.shape)

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}``."""
        ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))
        return self._reasons(
            "explain_ratings", lambda m: [m.explain_ratings(ratings, ids)], (1, ids.size)
        )[0]

    def _reasons(
        self, ability: str, reasons_of: Reasons, shape: tuple[int, ...]
    ) -> list[list[str]]:
        """Per (user, movie) of ``shape`` the first explaining part's non-empty reason;
        ``reasons_of(part)`` gives a part's reasons for the whole batch (asked only while
        some movie still has none)."""
        parts = restore_parts(self, self._build)
        labels = [k for k in self._explaining_parts(parts) if ability in parts[k].abilities]
        if not labels:
            raise NotSupportedError(f"no part of this blend has {ability}")
        v = self._part_weights()
        b, n = shape
        out: list[list[str]] = [[""] * n for _ in range(b)]
        missing = b * n
        for label in labels:
            if not missing:
                break
            got = reasons_of(parts[label])
            tag = f" — {label}, weight {v[label]:.2f} in the blend"
            for a in range(b):
                row, found = out[a], got[a]
                for r in range(n):
                    if not row[r] and found[r]:
                        row[r] = f"{found[r]}{tag}"
                        missing -= 1
        return out


# ---------------------------------------------------------------------- ranking blend
class RankBlend(Recommender):
    """Weighted sum of per-user z-normalised scores of ranking models, weights learned at fit.

    Score fusion in the style of CombSUM with z-score normalisation (Fox & Shaw 1994;
    Montague & Aslam 2001, *Relevance score normalization for metasearch*), as used to
    ensemble top-N recommenders::

        s_ui = Σ_m w_m · z_m(u)_i,     z_m(u) = (s_m(u) − mean_i s_m(u)) / std_i s_m(u)

    where ``s_m(u)`` is model ``m``'s score row for user ``u`` over the whole catalogue
    (``-inf`` entries are left out of the moments and then set to the row's lowest z, so a
    movie one part cannot score is ranked last by that part). A movie no part can score
    stays ``-inf``.

    The weights fit themselves on the data given to :meth:`fit` (no constants tuned on one
    dataset): ``holdout`` of every user's ratings is carved out (:func:`carve_holdout`:
    random ratings, or each user's newest with ``carve="newest"`` — ``movierec evaluate``
    sets the carve from the protocol), every part is fitted on the rest, and the weights
    maximise NDCG@``k`` (default 20) of the carved ratings (seen movies excluded, as in the
    evaluation) for up to ``max_users`` carved users (:func:`fit_rank_weights`): start from
    the best part alone (weight 1, the others 0), then coordinate ascent over
    :data:`RANK_GRID` for every other part, keeping a change only if it raises the
    validation NDCG — so on the carve the blend is never worse than its best part, and a
    part that adds nothing keeps weight
    0. The parts are then refitted on all the data. Explicit ``weights`` skip all this.

    Args:
        parts: ``{label: {"model": registry name (default label), **params}}``
            (``None``: edlae, ials, a 64-factor ials, rp3beta, item-knn, popularity and
            local-ease, :data:`DEFAULT_RANK_PARTS`).
        weights: ``{label: w_m}``, one finite weight per part, held fixed (``None``: learned
            at fit).
        carve: ``"random"`` or ``"newest"`` (see above).
        holdout: fraction of each user's ratings carved out to learn the weights, in
            (0, 0.5].
        k: list length of the validation NDCG the weights maximise (20: a deeper list than
            the evaluated top 10 gives the search more carved hits per user and so less
            noisy weights; on ml-100k ``stratified-75-25`` validation, 10 outer seeds × 3
            carves, the blend's NDCG@10 rose from 0.2791 with ``k=10`` to 0.2810, 22 of 30
            carves up; ``benchmarks/tune_rerank.py``).
        max_users: carved users the weights are learned on (a seeded sample when more).
        seed: seed of the carve and of the user sample.

    Attributes:
        labels_: part labels; weights_: ``(n_parts,)`` the weights used.
        validation_ndcg_: validation NDCG@k of the blend (``None`` with fixed weights);
        validation_parts_ndcg_: ``{label: validation NDCG@k of the part alone}``.
        sub_attrs_: learned attributes of the parts (see module docstring).
    """

    name: ClassVar[str] = "rank-blend"

    def __init__(
        self,
        parts: dict[str, dict[str, Any]] | None = None,
        weights: dict[str, float] | None = None,
        carve: str = "random",
        holdout: float = 0.2,
        k: int = 20,
        max_users: int = 1000,
        seed: int = 0,
    ) -> None:
        self.parts = parts
        self.weights = weights
        self.carve = carve
        self.holdout = holdout
        self.k = k
        self.max_users = max_users
        self.seed = seed

    def _specs(self) -> dict[str, dict[str, Any]]:
        return dict(DEFAULT_RANK_PARTS if self.parts is None else self.parts)

    def _weights(self) -> dict[str, float]:
        """The weights in use: learned ones once fitted, else the fixed ``weights``."""
        if hasattr(self, "weights_"):
            return {label: float(w) for label, w in zip(self.labels_, self.weights_, strict=True)}
        if self.weights is not None:
            return dict(self.weights)
        return {label: 1.0 for label in self._specs()}

    def _validate(self) -> None:
        _check_parts("rank-blend", "parts", self.parts)
        if self.weights is not None:
            w = self.weights
            if not isinstance(w, dict) or set(w) != set(self._specs()):
                raise ConfigError(
                    f"rank-blend: weights must name exactly the parts {sorted(self._specs())}, "
                    f"got {sorted(w) if isinstance(w, dict) else w!r}"
                )
            for label, value in w.items():
                if not isinstance(value, int | float) or not np.isfinite(value):
                    raise ConfigError(
                        f"rank-blend: weight of {label!r} must be finite, got {value!r}"
                    )
            if not any(value != 0 for value in w.values()):
                raise ConfigError("rank-blend: at least one weight must be non-zero")
        if self.carve not in CARVES:
            raise ConfigError(
                f"rank-blend: carve must be one of {', '.join(CARVES)}, got {self.carve!r}"
            )
        if not isinstance(self.holdout, int | float) or not 0.0 < self.holdout <= 0.5:
            raise ConfigError(f"rank-blend: holdout must be in (0, 0.5], got {self.holdout!r}")
        for key in ("k", "max_users"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"rank-blend: {key} must be an integer >= 1, got {value!r}")
        for model in self._build().values():  # the parts' own hyperparameters
            model._validate()

    def _build(self) -> dict[str, Recommender]:
        return build_parts(self._specs())

    def warm_up(self) -> None:
        warm_up_parts(self, self._build)

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        labels = list(self._specs())
        self.labels_ = labels
        self.validation_ndcg_: float | None = None
        self.validation_parts_ndcg_: dict[str, float] = {}
        if self.weights is not None:
            w = np.array([float(self.weights[label]) for label in labels])
        else:
            w = self._learn_weights(data, items, labels)
        parts = {label: fitcache.fit(m, data, items) for label, m in self._build().items()}
        store_parts(self, parts)
        self.weights_ = w

    def _learn_weights(
        self, data: Interactions, items: ItemCatalog | None, labels: list[str]
    ) -> np.ndarray:
        """Weights learned on a carve of ``data`` (see the class docstring)."""
        rest, rows, cols, _ = carve_holdout(
            data, float(self.holdout), int(self.seed), str(self.carve)
        )
        users = np.unique(rows)
        if users.size < 2:
            raise ConfigError(
                f"rank-blend: holdout {self.holdout} leaves {users.size} users to learn weights"
            )
        cap = int(min(self.max_users, max(2, 5e7 // max(1, data.n_items * len(labels)))))
        if users.size > cap:
            rng = np.random.default_rng(int(self.seed))
            users = np.sort(rng.choice(users, cap, replace=False))
        parts = self._build()
        for model in parts.values():
            model.fit(rest, items)
        z = np.stack([finite_zscore(parts[label].score(users)) for label in labels]).astype(
            np.float32
        )
        seen = rest.matrix[users].toarray() != 0
        pos = np.searchsorted(users, rows)
        keep = (pos < users.size) & (users[np.minimum(pos, users.size - 1)] == rows)
        relevant = np.zeros((users.size, data.n_items), dtype=bool)
        relevant[pos[keep], cols[keep]] = True
        w, value, alone = fit_rank_weights(z, seen, relevant, int(self.k))
        self.validation_ndcg_ = value
        self.validation_parts_ndcg_ = dict(zip(labels, alone, strict=True))
        return w

    def _combine(self, rows_scores: Mapping[str, np.ndarray]) -> np.ndarray:
        w = self._weights()
        out: np.ndarray | None = None
        dead: np.ndarray | None = None
        for label, scores in rows_scores.items():
            finite = np.isfinite(scores)
            term = float(w[label]) * finite_zscore(scores)
            out = term if out is None else out + term
            dead = ~finite if dead is None else dead & ~finite
        assert out is not None and dead is not None
        out[dead] = -np.inf
        return out.astype(np.float32)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Blended z-scores, shape ``(b, n_items)`` float32."""
        parts = restore_parts(self, self._build)
        rows = np.asarray(user_rows, dtype=np.int64)
        return self._combine({label: m.score(rows) for label, m in parts.items()})

    @property
    def abilities(self) -> frozenset[str]:
        """``fold_in`` when every part has it; ``explain`` when a part has it;
        ``explain_ratings`` when every part folds in and one has ``explain_ratings``."""
        parts = _parts_of(self).values()
        folds = all("fold_in" in m.abilities for m in parts)
        out = {"fold_in"} if folds else set()
        if any("explain" in m.abilities for m in parts):
            out.add("explain")
        if folds and any("explain_ratings" in m.abilities for m in parts):
            out.add("explain_ratings")
        return frozenset(out)

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Blend of the parts' fold-ins (every part must support ``fold_in``)."""
        parts = restore_parts(self, self._build)
        got = {label: m.fold_in(ratings)[None, :] for label, m in parts.items()}
        return self._combine(got)[0]

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """Each movie's reason from the part that adds most to its blended score.

        For movie ``i`` the parts are ranked by their term ``c_m = w_m · z_m(u)_i`` of the
        blend; the first with a positive term that gives a reason is cited, followed by its
        name and its share ``c_m / Σ_m |c_m|`` of the blended score ("… — edlae, 41% of the
        blended score"); ``""`` when none does.
        """
        return self.explain_users([user_id], [item_ids])[0]

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch: each user's score rows (as :meth:`explain` computes
        them, one user at a time), the parts' reasons in batches."""
        parts = restore_parts(self, self._build)
        if "explain" not in self.abilities:
            raise NotSupportedError(f"no part of this {self.name} can explain")
        users, items = batch_shape(user_ids, item_ids)
        rows = self.data_.users.index(users)
        terms = (
            np.stack(
                [
                    self._terms(parts, {k: m.score(rows[[a]]) for k, m in parts.items()}, items[a])
                    for a in range(users.size)
                ]
            )
            if users.size
            else None
        )
        return self._reasons(
            parts, terms, items, "explain", lambda m: m.explain_users(users, items)
        )

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}`` (fold-in scores)."""
        parts = restore_parts(self, self._build)
        if "explain_ratings" not in self.abilities:
            raise NotSupportedError(f"{self.name}: its parts cannot explain for new users")
        ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))
        scores = {label: m.fold_in(ratings)[None, :] for label, m in parts.items()}
        return self._reasons(
            parts,
            self._terms(parts, scores, ids)[None],
            ids[None, :],
            "explain_ratings",
            lambda m: [m.explain_ratings(ratings, ids)],
        )[0]

    def _terms(
        self, parts: Mapping[str, Recommender], scores: Mapping[str, np.ndarray], item_ids: Any
    ) -> np.ndarray:
        """One user's blend terms ``c_m = w_m · z_m(u)_i``, shape ``(n_parts, n)``, from their
        score rows ``scores[label]`` (1, n_items)."""
        cols, _ = explained_columns(self.data_, item_ids)
        w = self._weights()
        return np.stack([float(w[k]) * finite_zscore(scores[k])[0, cols] for k in parts])

    def _reasons(
        self,
        parts: Mapping[str, Recommender],
        terms: np.ndarray | None,
        item_ids: np.ndarray,
        ability: str,
        reasons_of: Reasons,
    ) -> list[list[str]]:
        """Reasons for ``item_ids`` (shape ``(b, n)``) from the blend terms (shape
        ``(b, n_parts, n)``); ``reasons_of(part)`` gives the batch reasons of a part that has
        ``ability`` (asked once, when first needed)."""
        b, n = item_ids.shape
        out: list[list[str]] = [[""] * n for _ in range(b)]
        if terms is None:
            return out
        valid = item_ids >= 0
        labels = list(parts)
        total = np.maximum(np.abs(terms).sum(axis=1), 1e-12)
        order = np.argsort(-terms, axis=1, kind="stable")
        got: dict[str, list[list[str]]] = {}
        for a in range(b):
            for r in range(n):
                if not valid[a, r]:
                    continue
                for m in order[a, :, r]:
                    label = labels[m]
                    if terms[a, m, r] <= 0:
                        break
                    if ability not in parts[label].abilities:
                        continue
                    if label not in got:
                        got[label] = reasons_of(parts[label])
                    if got[label][a][r]:
                        share = share_text(terms[a, m, r] / total[a, r])
                        out[a][r] = f"{got[label][a][r]} — {label}, {share} of the blended score"
                        break
        return out
