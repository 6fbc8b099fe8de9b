"""The model file: one ``.npz`` holding every learned array of a model plus a JSON metadata
blob (format version, package version, model name, hyperparameters, data fingerprint,
creation time, and the learned values that are not arrays).

Learned attributes (names ending in ``_``) are flattened into npz entries by kind:
``a/<attr>`` a dense array; ``s/<attr>/{data,indices,indptr,shape}`` a sparse matrix (CSR);
``i/<attr>/{users,items}`` plus the sparse ``<attr>#matrix`` (and ``<attr>#timestamps``)
an :class:`~movierec.interactions.Interactions`; ``c/<attr>/{movieId,year}`` an
:class:`~movierec.interactions.ItemCatalog` (titles and genres in the JSON state); numbers,
strings, lists and dicts go to the JSON state. Loading never executes code
(``allow_pickle=False``). Writing is atomic.

This module knows the format only; :meth:`Recommender.save
<movierec.models.base.Recommender.save>` writes a model and
:func:`movierec.models.registry.load_model` rebuilds one by its registered name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from movierec.atomic import atomic_path
from movierec.errors import ModelError
from movierec.interactions import Interactions, ItemCatalog, Vocabulary

__all__ = [
    "FORMAT_VERSION",
    "learned_state",
    "read_arrays",
    "read_metadata",
    "restore_state",
    "write_model_file",
]

FORMAT_VERSION = 1
META_KEY = "__meta__"


def learned_state(obj: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The learned attributes of ``obj`` (public names ending in ``_``) as
    ``(npz arrays, JSON state)``; :class:`ModelError` for a value of a kind not listed in
    the module docstring."""
    arrays: dict[str, np.ndarray] = {}
    state: dict[str, Any] = {}
    for key, value in vars(obj).items():
        if key.endswith("_") and not key.startswith("_"):
            _pack(key, value, arrays, state)
    return arrays, state


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


def write_model_file(
    path: str | os.PathLike[str], arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> Path:
    """Write ``arrays`` and the JSON ``meta`` atomically to ``path`` (``.npz``)."""
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays, **{META_KEY: blob})
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a saved model, without loading its arrays."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no model at {path}; run 'movierec train' first")
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta: dict[str, Any] = json.loads(bytes(npz[META_KEY]).decode("utf-8"))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not a movierec model file ({exc})") from exc
    return meta


def read_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The learned arrays of a saved model (check :func:`read_metadata` first)."""
    with np.load(Path(path), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k != META_KEY}


def restore_state(obj: Any, files: dict[str, np.ndarray], state: dict[str, Any]) -> None:
    """Set the learned attributes of ``obj`` from :func:`learned_state`'s output."""
    sparse: dict[str, dict[str, np.ndarray]] = {}
    inter: dict[str, dict[str, np.ndarray]] = {}
    cats: dict[str, dict[str, np.ndarray]] = {}
    for name, arr in files.items():
        kind, _, rest = name.partition("/")
        if kind == "a":
            setattr(obj, rest, arr)
        else:
            key, _, part = rest.partition("/")
            {"s": sparse, "i": inter, "c": cats}[kind].setdefault(key, {})[part] = arr
    mats = {
        key: sp.csr_matrix((p["data"], p["indices"], p["indptr"]), shape=tuple(p["shape"]))
        for key, p in sparse.items()
    }
    for key, mat in mats.items():
        if "#" not in key:
            setattr(obj, key, mat)
    for key, p in inter.items():
        value = Interactions(
            mats[f"{key}#matrix"],
            Vocabulary(p["users"], kind="user"),
            Vocabulary(p["items"], kind="movie"),
            mats.get(f"{key}#timestamps"),
            tuple(state[f"{key}#scale"]),  # type: ignore[arg-type]
        )
        setattr(obj, key, value)
    for key, p in cats.items():
        year = pd.array(np.where(p["year"] < 0, None, p["year"]), dtype="Int64")
        frame = pd.DataFrame(
            {"title": state[f"{key}#titles"], "year": year, "genres": state[f"{key}#genres"]},
            index=pd.Index(p["movieId"], name="movieId"),
        )
        setattr(obj, key, ItemCatalog(frame))
    for key, value in state.items():
        if "#" not in key:
            setattr(obj, key, value)
