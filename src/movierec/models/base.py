"""The :class:`Recommender` base class every model implements.

Conventions (scikit-learn / implicit style):

* the constructor takes only hyperparameters as explicit keywords and stores them unchanged;
  :meth:`Recommender._validate` checks them when :meth:`fit` is called;
* learned state lives in attributes ending in ``_``;
* ``fit`` converts input, calls ``_fit`` and returns ``self``;
* everything is batch-first: :meth:`score` takes an array of user rows and returns a dense
  ``(n_batch, n_items)`` block; :meth:`recommend` is implemented once here on top of it.

Saved models are one ``.npz`` file holding every learned array plus a JSON metadata blob
(format version, package version, model name, hyperparameters, data fingerprint, creation
time). Loading never executes code (``allow_pickle=False``).
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from movierec import __version__
from movierec.atomic import atomic_path
from movierec.errors import ConfigError, ModelError, NotSupportedError
from movierec.interactions import Interactions, ItemCatalog, Vocabulary

FORMAT_VERSION = 1
_META_KEY = "__meta__"


class Recommender(ABC):
    """Abstract recommender over an :class:`~movierec.interactions.Interactions` matrix.

    Subclasses set :attr:`name`, implement ``__init__`` (keywords only), ``_fit`` and
    :meth:`score`; rating-prediction models also set ``predicts_ratings = True`` and
    implement :meth:`predict`.

    Attributes:
        data_: the training interactions (kept for seen-item exclusion and id mapping).
        items_catalog_: the movie catalogue given to ``fit`` (may be ``None``).
    """

    name: ClassVar[str] = "base"
    predicts_ratings: ClassVar[bool] = False
    score_is_rating: ClassVar[bool] = False
    """``score`` (and ``fold_in``) give the unclipped predicted rating: ``predict`` is their
    clipped value at the pair, and :meth:`fold_in_ratings` comes for free."""

    data_: Interactions
    items_catalog_: ItemCatalog | None

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
    def fit(self, data: Interactions, items: ItemCatalog | None = None) -> Self:
        """Learn from ``data`` (and optional movie metadata); return ``self``."""
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

    def predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """Predicted ratings for aligned ``(user_rows[i], item_cols[i])`` pairs, shape ``(n,)``."""
        raise NotSupportedError(
            f"model {self.name!r} only ranks items and cannot predict ratings; "
            "use a rating-prediction model"
        )

    def predict_ids(self, user_ids: Any, item_ids: Any) -> np.ndarray:
        """:meth:`predict` for external MovieLens ids."""
        self._check_fitted()
        return self.predict(self.data_.users.index(user_ids), self.data_.items.index(item_ids))

    def recommend(
        self,
        user_ids: Any,
        n: int = 10,
        exclude_seen: bool = True,
        candidates: Any | None = None,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for each user, best first.

        Args:
            user_ids: external user ids, shape ``(b,)``.
            n: list length (>= 1).
            exclude_seen: drop items the user rated in the training data.
            candidates: optional external item ids to restrict the ranking to.
            batch_size: users scored per :meth:`score` call (bounds memory).

        Returns:
            ``(item_ids, scores)``, both shape ``(b, n)``; external movie ids (int64) and
            float32 scores. Where fewer than ``n`` items can be recommended, the tail holds
            item id ``-1`` and score ``-inf``.
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
        return self._recommend_rows(rows, int(n), exclude_seen, mask, batch_size)

    def _recommend_rows(
        self,
        rows: np.ndarray,
        n: int,
        exclude_seen: bool,
        excluded: np.ndarray | None,
        batch_size: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_items = self.data_.n_items
        out_ids = np.full((rows.size, n), -1, dtype=np.int64)
        out_scores = np.full((rows.size, n), -np.inf, dtype=np.float32)
        k = min(n, n_items)
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
            top = top_k(scores, k)
            top_scores = np.take_along_axis(scores, top, axis=1)
            ids = self.data_.items.ids[top]
            ids[~np.isfinite(top_scores)] = -1
            out_ids[start : start + batch.size, :k] = ids
            out_scores[start : start + batch.size, :k] = top_scores
        return out_ids, out_scores

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
        if self.score_is_rating:
            lo, hi = self.data_.rating_scale
            return np.clip(self.fold_in(ratings), lo, hi)
        raise NotSupportedError(
            f"model {self.name!r} cannot predict ratings for new users without retraining"
        )

    def explain(self, user_id: int, item_ids: Any) -> list[str]:
        """A short, true reason for each recommended item (external ids)."""
        raise NotSupportedError(f"model {self.name!r} cannot explain its recommendations")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model atomically to ``path`` (``.npz``; see module docstring)."""
        self._check_fitted()
        arrays: dict[str, np.ndarray] = {}
        state: dict[str, Any] = {}
        for key, value in vars(self).items():
            if not key.endswith("_") or key.startswith("_"):
                continue
            _pack(key, value, arrays, state)
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
        arrays[_META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
        return path


def _pack(key: str, value: Any, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
    """Flatten one learned attribute into npz arrays (+ JSON state)."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise ModelError(f"cannot save object array attribute {key}")
        arrays[f"a/{key}"] = value
    elif sp.issparse(value):
        csr = sp.csr_matrix(value)
        arrays[f"s/{key}/data"] = csr.data
        arrays[f"s/{key}/indices"] = csr.indices
        arrays[f"s/{key}/indptr"] = csr.indptr
        arrays[f"s/{key}/shape"] = np.asarray(csr.shape, dtype=np.int64)
    elif isinstance(value, Interactions):
        _pack(f"{key}#matrix", value.matrix, arrays, state)
        arrays[f"i/{key}/users"] = value.users.ids
        arrays[f"i/{key}/items"] = value.items.ids
        if value.timestamps is not None:
            _pack(f"{key}#timestamps", value.timestamps, arrays, state)
        state[f"{key}#scale"] = list(value.rating_scale)
    elif isinstance(value, ItemCatalog):
        frame = value.frame
        arrays[f"c/{key}/movieId"] = frame.index.to_numpy(dtype=np.int64)
        arrays[f"c/{key}/year"] = frame["year"].fillna(-1).to_numpy(dtype=np.int64)
        state[f"{key}#titles"] = frame["title"].astype(str).tolist()
        state[f"{key}#genres"] = frame["genres"].astype(str).tolist()
    elif value is None or isinstance(value, str | int | float | bool | list | dict):
        state[key] = value
    elif isinstance(value, np.integer | np.floating):
        state[key] = value.item()
    else:
        raise ModelError(f"cannot save attribute {key} of type {type(value).__name__}")


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a saved model, without loading its arrays."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no model at {path}; run 'movierec train' first")
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta: dict[str, Any] = json.loads(bytes(npz[_META_KEY]).decode("utf-8"))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not a movierec model file ({exc})") from exc
    return meta


def load_model(
    path: str | os.PathLike[str],
    expected_fingerprint: str | None = None,
) -> Recommender:
    """Load a model saved by :meth:`Recommender.save`.

    Raises:
        ModelError: missing/corrupt file, incompatible format or package version, or a
            data fingerprint different from ``expected_fingerprint``.
    """
    from movierec.models.registry import model_class

    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{path} has model format {meta.get('format_version')}, this movierec "
            f"{__version__} reads format {FORMAT_VERSION}; retrain with 'movierec train'"
        )
    if str(meta.get("package_version", "")).split(".")[:2] != __version__.split(".")[:2]:
        raise ModelError(
            f"{path} was written by movierec {meta.get('package_version')}, incompatible "
            f"with {__version__}; retrain with 'movierec train'"
        )
    if expected_fingerprint is not None and meta["data_fingerprint"] != expected_fingerprint:
        raise ModelError(
            f"{path} was trained on different data (fingerprint {meta['data_fingerprint']}, "
            f"current data {expected_fingerprint}); retrain with 'movierec train'"
        )
    cls = model_class(meta["model"])
    model = cls(**meta["params"])
    with np.load(path, allow_pickle=False) as npz:
        files = {k: npz[k] for k in npz.files if k != _META_KEY}
    _unpack_into(model, files, meta["state"])
    return model


def _unpack_into(model: Recommender, files: dict[str, np.ndarray], state: dict[str, Any]) -> None:
    import pandas as pd

    sparse: dict[str, dict[str, np.ndarray]] = {}
    inter: dict[str, dict[str, np.ndarray]] = {}
    cats: dict[str, dict[str, np.ndarray]] = {}
    for name, arr in files.items():
        kind, _, rest = name.partition("/")
        if kind == "a":
            setattr(model, rest, arr)
        else:
            key, _, part = rest.partition("/")
            {"s": sparse, "i": inter, "c": cats}[kind].setdefault(key, {})[part] = arr
    mats = {
        key: sp.csr_matrix((p["data"], p["indices"], p["indptr"]), shape=tuple(p["shape"]))
        for key, p in sparse.items()
    }
    for key, mat in mats.items():
        if "#" not in key:
            setattr(model, key, mat)
    for key, p in inter.items():
        value = Interactions(
            mats[f"{key}#matrix"],
            Vocabulary(p["users"], kind="user"),
            Vocabulary(p["items"], kind="movie"),
            mats.get(f"{key}#timestamps"),
            tuple(state[f"{key}#scale"]),  # type: ignore[arg-type]
        )
        setattr(model, key, value)
    for key, p in cats.items():
        year = pd.array(np.where(p["year"] < 0, None, p["year"]), dtype="Int64")
        frame = pd.DataFrame(
            {"title": state[f"{key}#titles"], "year": year, "genres": state[f"{key}#genres"]},
            index=pd.Index(p["movieId"], name="movieId"),
        )
        setattr(model, key, ItemCatalog(frame))
    for key, value in state.items():
        if "#" not in key:
            setattr(model, key, value)
    if not hasattr(model, "items_catalog_"):
        model.items_catalog_ = None


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest values per row, sorted descending; shape ``(b, k)``.

    Uses ``argpartition`` (O(n_items)) then sorts only the ``k`` winners; ties are broken by
    the lower column index so results are deterministic.
    """
    n_items = scores.shape[1]
    k = min(k, n_items)
    if k == n_items:
        part = np.tile(np.arange(n_items), (scores.shape[0], 1))
    else:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)
