"""The :class:`Recommender` base class every model implements.

Conventions (scikit-learn / implicit style):

* the constructor takes only hyperparameters as explicit keywords and stores them unchanged;
  :meth:`Recommender._validate` checks them when :meth:`fit` is called;
* learned state lives in attributes ending in ``_``;
* ``fit`` converts input, calls ``_fit`` and returns ``self``;
* everything is batch-first in index space: :meth:`score` takes an array of user rows and
  returns a dense ``(n_batch, n_items)`` block, :meth:`predict_rows` takes aligned
  (row, column) pairs; the public :meth:`recommend` and :meth:`predict` take MovieLens ids
  and are implemented once here on top of them;
* optional abilities are *declared* (:attr:`declared_abilities`, or the :attr:`abilities`
  property of a model whose abilities depend on its parts); an ability a model does not
  have raises :class:`~movierec.errors.NotSupportedError`.

Saving writes the model file of :mod:`movierec.models.common.modelfile`;
:func:`movierec.models.registry.load_model` reads it back.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from movierec import __version__
from movierec.errors import ConfigError, ModelError, NotSupportedError
from movierec.interactions import Dataset, Interactions, ItemCatalog
from movierec.models.common.batch import batch_shape
from movierec.models.common.biases import cold_estimate
from movierec.models.common.modelfile import FORMAT_VERSION, learned_state, write_model_file
from movierec.models.common.topk import top_ids, top_k

__all__ = ["ABILITIES", "Recommender", "top_k"]

ABILITIES = frozenset(
    {"predict", "fold_in", "fold_in_ratings", "explain", "explain_ratings", "similar_items"}
)
"""The optional abilities a model may declare (each is the method of that name)."""


def _ranks_only(name: str) -> NotSupportedError:
    return NotSupportedError(
        f"model {name!r} only ranks items and cannot predict ratings; use a rating-prediction model"
    )


class Recommender(ABC):
    """Abstract recommender over an :class:`~movierec.interactions.Interactions` matrix.

    Subclasses set :attr:`name`, implement ``__init__`` (keywords only), ``_fit`` and
    :meth:`score`, and declare the optional abilities they implement in
    :attr:`declared_abilities` (rating-prediction models declare ``"predict"`` and
    implement :meth:`predict_rows`).

    Attributes:
        data_: the training interactions (kept for seen-item exclusion and id mapping).
        items_catalog_: the movie catalogue given to ``fit`` (may be ``None``).
    """

    name: ClassVar[str] = "base"
    declared_abilities: ClassVar[frozenset[str]] = frozenset()
    """The optional abilities (names from :data:`ABILITIES`) every fitted instance of the
    class has; each other ability raises :class:`NotSupportedError`."""
    personalised: ClassVar[bool] = True
    """Whether scores order the movies differently for different users (``False``: one
    ranking for everyone, minus the movies each user rated)."""
    predicts_ratings: ClassVar[bool] = False
    """``"predict"`` in :attr:`declared_abilities` (set from it; do not assign)."""
    score_is_rating: ClassVar[bool] = False
    """``score`` (and ``fold_in``) give the unclipped predicted rating: ``predict`` is their
    clipped value at the pair, and :meth:`fold_in_ratings` comes for free."""
    explains_ratings_as_user: ClassVar[bool] = False
    """:meth:`explain_ratings` given a training user's own training ratings returns exactly
    :meth:`explain`'s reasons for that user (so the explanation chain need not ask it for
    a training user). ``tests/models/contract.py`` checks the claim of every model making it."""

    data_: Interactions
    items_catalog_: ItemCatalog | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(set(cls.declared_abilities) - ABILITIES)
        if unknown:
            raise TypeError(f"{cls.__name__} declares unknown abilities {unknown}")
        if "predicts_ratings" in vars(cls):
            raise TypeError(f"{cls.__name__}: declare 'predict' instead of predicts_ratings")
        cls.predicts_ratings = "predict" in cls.declared_abilities

    @property
    def abilities(self) -> frozenset[str]:
        """The optional abilities of this (fitted) model; :attr:`declared_abilities` unless
        the model's abilities depend on its parameters or parts (ensembles)."""
        return self.declared_abilities

    # ------------------------------------------------------------------ params
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self"]

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as passed to the constructor."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate(self) -> None:  # noqa: B027 - optional hook
        """Check hyperparameters; raise :class:`ConfigError` naming the bad one."""

    def validate(self) -> Self:
        """Check the hyperparameters now (``fit`` does too); return ``self``.

        Raises:
            ConfigError: naming the first invalid hyperparameter.
        """
        self._validate()
        return self

    # ------------------------------------------------------------------ fitting
    def fit(self, data: Interactions | Dataset, items: ItemCatalog | None = None) -> Self:
        """Learn from ``data`` (and optional movie metadata); return ``self``.

        ``data`` is the ratings matrix, or a loaded :class:`~movierec.interactions.Dataset`
        (``movierec.load(...)``), whose catalogue is used when ``items`` is not given.
        """
        if isinstance(data, Dataset):
            data, items = data.interactions, items if items is not None else data.catalog
        self._validate()
        if data.nnz == 0:
            raise ConfigError(f"{self.name}: cannot fit on an empty ratings matrix")
        self.data_ = data
        self.items_catalog_ = items
        self._fit(data, items)
        return self

    @abstractmethod
    def _fit(self, data: Interactions, items: ItemCatalog | None) -> None:
        """Model-specific training."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "data_"):
            raise ModelError(f"{self.name} is not fitted; call fit() first")

    # ------------------------------------------------------------------ scoring
    @abstractmethod
    def score(self, user_rows: np.ndarray) -> np.ndarray:
        """Scores over all items for a batch of users.

        Args:
            user_rows: shape ``(b,)`` row indices into ``data_``.

        Returns:
            float32 array, shape ``(b, n_items)``; higher is better. ``-inf`` marks an
            item the model cannot score.
        """

    def predict_rows(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """Predicted ratings for aligned index-space pairs ``(user_rows[i], item_cols[i])``
        (rows/columns of ``data_``), shape ``(n,)``; what :meth:`predict` computes."""
        raise _ranks_only(self.name)

    def bias_terms(self) -> tuple[float, np.ndarray, np.ndarray] | None:
        """``(μ, b_u (n_users,), b_i (n_items,))`` of a model with a global mean and
        user / movie biases, used for cold pairs (:meth:`predict_cold`); ``None`` (the
        default) for a model without them."""
        return None

    def predict_cold(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """Predicted ratings for pairs whose user row or movie column is ``-1`` (unknown to
        training), shape ``(n,)`` float64, clipped to the rating scale.

        With :meth:`bias_terms`: ``μ + [u known] b_u + [i known] b_i``
        (:func:`~movierec.models.common.biases.cold_estimate`, Surprise's fallback: an
        unknown movie gets the user's bias, an unknown user the movie's bias); without:
        the training mean rating.
        """
        self._check_fitted()
        rows = np.asarray(user_rows, dtype=np.int64)
        terms = self.bias_terms()
        if terms is None:
            est = np.full(rows.size, float(self.data_.matrix.data.mean()), dtype=np.float64)
        else:
            est = cold_estimate(*terms, rows, np.asarray(item_cols, dtype=np.int64))
        lo, hi = self.data_.rating_scale
        return np.clip(est, lo, hi)

    def predict(self, user_ids: Any, movie_ids: Any) -> Any:
        """Predicted ratings for MovieLens ids, clipped to the rating scale.

        Args:
            user_ids, movie_ids: a user id and a movie id, or 1-D arrays of them (of the
                same length, or one of them a single id used for every pair).

        Returns:
            a ``float`` for two scalars, else a float array of shape ``(n,)``.

        Raises:
            NotSupportedError: the model only ranks (no ``"predict"`` ability).
            UnknownIdError: a user or movie is not in the training vocabulary.
            ConfigError: the two arrays do not pair up.
        """
        if not self.predicts_ratings:
            raise _ranks_only(self.name)
        self._check_fitted()
        users, movies = np.asarray(user_ids), np.asarray(movie_ids)
        if users.ndim > 1 or movies.ndim > 1:
            raise ConfigError("predict takes ids or 1-D arrays of ids")
        try:
            users, movies = np.broadcast_arrays(np.atleast_1d(users), np.atleast_1d(movies))
        except ValueError:
            raise ConfigError(
                f"predict got {users.size} user ids for {movies.size} movie ids"
            ) from None
        out = self.predict_rows(self.data_.users.index(users), self.data_.items.index(movies))
        if np.ndim(user_ids) == 0 and np.ndim(movie_ids) == 0:
            return float(out[0])
        return out

    def recommend(
        self,
        user_ids: Any,
        n: int = 10,
        exclude_seen: bool = True,
        candidates: Any | None = None,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for a user (or each of several users), best first.

        Args:
            user_ids: an external user id, or an array of them, shape ``(b,)``.
            n: list length (>= 1).
            exclude_seen: drop items the user rated in the training data.
            candidates: optional external item ids to restrict the ranking to.
            batch_size: users scored per :meth:`score` call (bounds memory).

        Returns:
            ``(item_ids, scores)``: external movie ids (int64) and float32 scores, shape
            ``(n,)`` for a single user id, ``(b, n)`` for an array. Where fewer than ``n``
            items can be recommended, the tail holds item id ``-1`` and score ``-inf``.
        """
        self._check_fitted()
        if int(n) < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        rows = self.data_.users.index(np.atleast_1d(np.asarray(user_ids)))
        mask = None
        if candidates is not None:
            cand_cols = self.data_.items.index(np.atleast_1d(np.asarray(candidates)))
            mask = np.ones(self.data_.n_items, dtype=bool)
            mask[cand_cols] = False  # True = excluded
        ids, scores = self._recommend_rows(rows, int(n), exclude_seen, mask, batch_size)
        if np.ndim(user_ids) == 0:
            return ids[0], scores[0]
        return ids, scores

    def _recommend_rows(
        self,
        rows: np.ndarray,
        n: int,
        exclude_seen: bool,
        excluded: np.ndarray | None,
        batch_size: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        out_ids = np.full((rows.size, n), -1, dtype=np.int64)
        out_scores = np.full((rows.size, n), -np.inf, dtype=np.float32)
        seen = self.data_.matrix
        for start in range(0, rows.size, batch_size):
            batch = rows[start : start + batch_size]
            scores = np.array(self.score(batch), dtype=np.float32, copy=True)
            scores[np.isnan(scores)] = -np.inf
            if excluded is not None:
                scores[:, excluded] = -np.inf
            if exclude_seen:
                sub = seen[batch]
                scores[np.repeat(np.arange(batch.size), np.diff(sub.indptr)), sub.indices] = -np.inf
            stop = start + batch.size
            out_ids[start:stop], out_scores[start:stop] = top_ids(scores, n, self.data_.items.ids)
        return out_ids, out_scores

    # ------------------------------------------------------------------ serving
    def warm_up(self) -> None:
        """Get ready for many requests in a long-lived process (the API server calls it
        before traffic): load what makes each request fast even if loading costs more than
        one request does, e.g. compiled kernels. One-shot commands never call it. The base
        class has nothing to load."""
        return None

    # ------------------------------------------------------------------ optional abilities
    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Most similar items to each of ``item_ids``: ``(ids, scores)`` of shape ``(b, n)``."""
        raise NotSupportedError(f"model {self.name!r} does not provide item similarities")

    def fold_in(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Scores over all items, shape ``(n_items,)``, for a new user's ``{movieId: rating}``."""
        raise NotSupportedError(f"model {self.name!r} cannot score new users without retraining")

    def fold_in_ratings(self, ratings: Mapping[int, float]) -> np.ndarray:
        """Predicted ratings (clipped to the scale), shape ``(n_items,)``, for a new user's
        ``{movieId: rating}``: what :meth:`predict` would give had they been in training
        (rating-prediction models that support :meth:`fold_in`; :meth:`fold_in` clipped
        when :attr:`score_is_rating`)."""
        if self.score_is_rating and "fold_in" in self.abilities:
            lo, hi = self.data_.rating_scale
            return np.clip(self.fold_in(ratings), lo, hi)
        raise NotSupportedError(
            f"model {self.name!r} cannot predict ratings for new users without retraining"
        )

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """A short, true reason for each of ``item_ids`` (external ids) recommended to the
        training user ``user_id``.

        Returns:
            one string per item, aligned with ``item_ids``. A reason that cites a
            similarity, weight or share cites a positive one (as printed); an item the
            model cannot justify with a positive reason (and a padding id ``-1``) gets
            ``""``: the model declines for that item and the caller falls back to another
            reason (:mod:`movierec.explain`).

        Raises:
            NotSupportedError: the model has no ``"explain"`` ability.
            UnknownIdError: the user or a movie is unknown.
        """
        raise NotSupportedError(f"model {self.name!r} cannot explain its recommendations")

    def explain_users(self, user_ids: Any, item_ids: Any) -> list[list[str]]:
        """:meth:`explain` for a batch of training users.

        Args:
            user_ids: external user ids, shape ``(b,)``.
            item_ids: external movie ids, shape ``(b, n)``: row ``u`` is the list of
                ``user_ids[u]`` (``-1`` padding gets ``""``).

        Returns:
            ``b`` lists of ``n`` reasons, each exactly what :meth:`explain` gives for that
            user and list. This default asks :meth:`explain` once per user; the model
            families override it with vectorised code (:mod:`movierec.models.common.batch`).
        """
        users, items = batch_shape(user_ids, item_ids)
        return [self.explain(int(u), row) for u, row in zip(users.tolist(), items, strict=True)]

    def explain_ratings(self, ratings: Mapping[int, float], item_ids: Any) -> list[str]:
        """:meth:`explain` for a new user given as ``{movieId: rating}`` (the input of
        :meth:`fold_in`); the same conventions (aligned list, ``""`` where the model
        declines).

        Raises:
            NotSupportedError: the model has no ``"explain_ratings"`` ability.
            UnknownIdError: a rated or explained movie is unknown.
        """
        raise NotSupportedError(f"model {self.name!r} cannot explain for new users")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model atomically to ``path`` (``.npz``; see
        :mod:`movierec.models.common.modelfile`)."""
        self._check_fitted()
        arrays, state = learned_state(self)
        meta = {
            "format_version": FORMAT_VERSION,
            "package_version": __version__,
            "model": self.name,
            "params": self.get_params(),
            "data_fingerprint": self.data_.fingerprint(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "n_users": self.data_.n_users,
            "n_items": self.data_.n_items,
            "state": state,
        }
        return write_model_file(path, arrays, meta)
