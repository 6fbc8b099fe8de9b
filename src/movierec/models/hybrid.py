"""A switching/weighted hybrid of a collaborative model and content: :class:`Hybrid`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from movierec.errors import ConfigError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models import fitcache
from movierec.models.base import Recommender
from movierec.models.baseline import Popularity
from movierec.models.common.batch import batch_shape
from movierec.models.common.foldin import fold_ratings
from movierec.models.common.reasons import explained_columns
from movierec.models.common.zscore import zscore
from movierec.models.content import ContentBased
from movierec.models.parts import restore_parts, store_parts, warm_up_parts


class Hybrid(Recommender):
    """Weighted hybrid of a collaborative model and content-based filtering.

    For user ``u`` with ``n_u`` training ratings::

        s_ui = α_u · z(c_u)_i + (1 − α_u) · z(t_u)_i,        α_u = n_u / (n_u + β)

    where ``c_u`` are the collaborative model's scores, ``t_u`` the :class:`ContentBased`
    scores, and ``z`` z-normalises a user's scores over the catalogue. So the blend leans on
    content for users with little history and on collaboration for heavy raters.
    Fallbacks: for a *cold movie* (no training rating) or one the collaborative model cannot
    score (``-inf``) the collaborative term is 0 (the average z), since collaborative scores
    for it carry no information, so it is ranked by ``(1 − α_u)·z(t_u)_i`` alone — content
    decides, but for heavy raters it does not outrank well-supported movies. Without a
    catalogue (``items=None`` at fit) the content part is replaced by :class:`Popularity`
    (damped mean); a user with no rating at all (in the training vocabulary without
    ratings, or ``fold_in({})``) gets popularity.

    Args:
        collaborative: registry name of the collaborative model (not ``hybrid``/``content``);
            default ``ease``, the best top-N ranker on a validation split of ``u1.base``
            (precision@10 0.121 blended with β=5 vs 0.119 for ``ease`` alone; 0.085 with
            ``item-knn``, 0.059 with ``user-knn``). ``beta`` = 0.585 is what
            ``movierec evaluate --tune`` found on validation (stratified-75-25 protocol).
        collaborative_params: its hyperparameters (JSON-able dict), ``None`` for defaults.
        content_params: :class:`ContentBased` hyperparameters, ``None`` for defaults.
        beta: β ≥ 0 of ``α_u``; 0 means collaboration only wherever it applies.

    Attributes:
        counts_: ``(n_users,)`` ratings per user; item_counts_: ``(n_items,)`` per movie.
        sub_attrs_: ``{part: [attribute names]}`` of the nested models, whose learned state
            is stored on the hybrid as ``<part>__<attribute>`` (so the base class saves it).
        has_content_: whether a catalogue was given (content part fitted).
    """

    name = "hybrid"
    declared_abilities: ClassVar[frozenset[str]] = frozenset(
        {"fold_in", "explain", "explain_ratings"}
    )

    def __init__(
        self,
        collaborative: str = "ease",
        collaborative_params: dict[str, Any] | None = None,
        content_params: dict[str, Any] | None = None,
        beta: float = 0.585,
    ) -> None:
        self.collaborative = collaborative
        self.collaborative_params = collaborative_params
        self.content_params = content_params
        self.beta = beta

    def _validate(self) -> None:
        from movierec.models.registry import MODELS

        if self.collaborative in ("hybrid", "content") or self.collaborative not in MODELS:
            valid = sorted(set(MODELS) - {"hybrid", "content"})
            raise ConfigError(
                f"hybrid: collaborative must be one of {', '.join(valid)}, "
                f"got {self.collaborative!r}"
            )
        for key in ("collaborative_params", "content_params"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"hybrid: {key} must be a mapping or None, got {value!r}")
        if not isinstance(self.beta, int | float) or not self.beta >= 0:
            raise ConfigError(f"hybrid: beta must be a number >= 0, got {self.beta!r}")

    def _build(self) -> dict[str, Recommender]:
        from movierec.models.registry import make_model

        return {
            "collab": make_model(self.collaborative, **(self.collaborative_params or {})),
            "content": ContentBased(**(self.content_params or {})),
            "pop": Popularity(method="damped_mean"),
        }

    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        subs = self._build()
        if items is None:
            del subs["content"]
        subs = {label: fitcache.fit(m, data, items) for label, m in subs.items()}
        self.has_content_ = items is not None
        self.counts_ = np.diff(data.matrix.indptr).astype(np.int64)
        self.item_counts_ = np.diff(data.matrix.tocsc().indptr).astype(np.int64)
        store_parts(self, subs)

    def warm_up(self) -> None:
        warm_up_parts(self, self._build)

    def _models(self) -> dict[str, Recommender]:
        """The fitted nested models (rebuilt from the flattened state after :func:`load_model`)."""
        return restore_parts(self, self._build)

    @property
    def abilities(self) -> frozenset[str]:
        """``fold_in``, ``explain`` and ``explain_ratings`` always (the content or popularity
        part has them); ``similar_items`` when the collaborative model has it or the content
        part was fitted (a catalogue was given; assumed before fitting)."""
        collab = self._models()["collab"] if hasattr(self, "data_") else self._build()["collab"]
        if "similar_items" in collab.abilities or getattr(self, "has_content_", True):
            return self.declared_abilities | {"similar_items"}
        return self.declared_abilities

    # ------------------------------------------------------------------ scoring
    def alpha(self, n_ratings: np.ndarray) -> np.ndarray:
        """``α = n / (n + β)`` (1 when β = 0 and n > 0)."""
        n = np.asarray(n_ratings, dtype=np.float64)
        return np.divide(n, n + float(self.beta), out=np.zeros_like(n), where=(n + self.beta) > 0)

    def _blend(self, collab: np.ndarray | None, side: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        z_side = zscore(side)
        z_side = np.where(np.isfinite(z_side), z_side, 0.0)
        if collab is None:
            return z_side.astype(np.float32)
        z_c = zscore(collab)
        a = alpha[:, None]
        cold = (self.item_counts_ == 0)[None, :] | ~np.isfinite(z_c)
        out = np.where(cold, 0.0, a * z_c) + (1 - a) * z_side
        return out.astype(np.float32)

    def _side(self) -> Recommender:
        subs = self._models()
        return subs["content"] if "content" in subs else subs["pop"]

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Blended z-scores, shape ``(b, n_items)`` float32."""
        subs = self._models()
        rows = np.asarray(user_rows, dtype=np.int64)
        collab = subs["collab"].score(rows)
        side = self._side().score(rows)
        out = self._blend(collab, side, self.alpha(self.counts_[rows]))
        empty = self.counts_[rows] == 0  # no history at all: popularity
        if empty.any():
            out[empty] = zscore(subs["pop"].score(rows[empty]))
        return out

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Blend of the parts' fold-ins; content only if the collaborative model cannot fold
        in, popularity when there are no ratings."""
        subs = self._models()
        fold_ratings(self.data_, ratings)  # validates ids
        if len(ratings) == 0:
            return zscore(subs["pop"].fold_in({})[None, :])[0].astype(np.float32)
        side = self._side().fold_in(ratings)[None, :]
        collab = None
        if "fold_in" in subs["collab"].abilities:
            collab = subs["collab"].fold_in(ratings)[None, :]
        return self._blend(collab, side, self.alpha(np.array([len(ratings)])))[0]

    def _combine(
        self, a: float, cols: np.ndarray, side: list[str], collab: list[str] | None
    ) -> list[str]:
        """Per movie: the collaborative and the side reason, the one with more weight first
        (``a`` = ``α_u``); the side reason alone for a cold movie; a part's ``""`` left out."""
        out = []
        for t, c in enumerate(cols):
            if collab is None or self.item_counts_[c] == 0:
                order = [side[t]]
            elif a >= 0.5:
                order = [collab[t], side[t]]
            else:
                order = [side[t], collab[t]]
            out.append("; ".join(r for r in order if r))
        return out

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """The collaborative reason and the content reason, the one with more weight
        (``α_u`` vs ``1 − α_u``) first; the content reason alone for cold movies."""
        return self.explain_users([user_id], [item_ids])[0]

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch, from the parts' batch reasons."""
        subs = self._models()
        users, items = batch_shape(user_ids, item_ids)
        alphas = self.alpha(self.counts_[self.data_.users.index(users)])
        cols, _ = explained_columns(self.data_, items.ravel())
        cols = cols.reshape(items.shape)
        side = self._side().explain_users(users, items)
        collab = None
        if "explain" in subs["collab"].abilities:
            collab = subs["collab"].explain_users(users, items)
        return [
            self._combine(float(alphas[a]), cols[a], side[a], None if collab is None else collab[a])
            for a in range(users.size)
        ]

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}`` (a collaborative
        model that cannot explain new users is left out)."""
        subs = self._models()
        fold_ratings(self.data_, ratings)
        cols, _ = explained_columns(self.data_, item_ids)
        side = self._side().explain_ratings(ratings, item_ids)
        collab = None
        if "explain_ratings" in subs["collab"].abilities:
            collab = subs["collab"].explain_ratings(ratings, item_ids)
        a = float(self.alpha(np.array([len(ratings)]))[0])
        return self._combine(a, cols, side, collab)

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The collaborative model's item similarities if it has them, else content's."""
        subs = self._models()
        if "similar_items" in subs["collab"].abilities:
            return subs["collab"].similar_items(item_ids, n)
        return self._side().similar_items(item_ids, n)
