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
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from movierec.atomic import atomic_path
from movierec.errors import ConfigError, DataError, ModelError, ModelFileError
from movierec.interactions import Interactions, ItemCatalog, Vocabulary

__all__ = [
    "DECODE_ERRORS",
    "FORMAT_VERSION",
    "damaged",
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
        arrays[f"c/{key}/movieId"] = value.ids
        arrays[f"c/{key}/year"] = value.years
        state[f"{key}#titles"] = list(value.titles)
        state[f"{key}#genres"] = list(value.genres)
    elif value is None or isinstance(value, str | int | float | bool | list | dict):
        state[key] = value
    elif isinstance(value, np.integer | np.floating):
        state[key] = value.item()
    else:
        raise ModelError(f"cannot save attribute {key} of type {type(value).__name__}")


def write_model_file(
    path: str | os.PathLike[str], arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> Path:
    """Write ``arrays`` and the JSON ``meta`` atomically to ``path`` (``.npz``).

    ``meta["entries"]`` lists the array names, so that a reader can tell a file whose
    index was damaged from a complete one (:func:`read_arrays`).
    """
    meta = {**meta, "entries": sorted(arrays)}
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays, **{META_KEY: blob})
    return path


DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    ValueError,  # also json/Unicode decoding, object arrays refused (allow_pickle=False)
    LookupError,  # KeyError, IndexError
    TypeError,
    AttributeError,
    ArithmeticError,  # OverflowError
    MemoryError,
    RuntimeError,  # zipfile: "encrypted" or an unsupported feature (NotImplementedError)
    SyntaxError,  # an .npy header numpy cannot parse
    tokenize.TokenError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    DataError,
    ConfigError,
)
"""What decoding a damaged or foreign file raises (numpy, zipfile, json, the model's own
checks): :func:`damaged` turns each into one :class:`ModelFileError`."""

_META_TYPES = {
    "format_version": int,
    "package_version": str,
    "model": str,
    "params": dict,
    "state": dict,
    "data_fingerprint": str,
}


def damaged(path: str | os.PathLike[str], reason: BaseException | str) -> ModelFileError:
    """The one error of an unusable model file: ``<path> is damaged or not a movierec model
    (<reason>); retrain with movierec train`` (the reason is one line, at most 160
    characters)."""
    if isinstance(reason, BaseException):
        reason = _reason(reason)
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return ModelFileError(
        f"{path} is damaged or not a movierec model ({reason}); retrain with movierec train"
    )


def _reason(exc: BaseException) -> str:
    """A short, readable account of a decoding error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, KeyError):
        return f"missing entry {text}"
    if isinstance(exc, ValueError) and "pickle" in text:
        kind = "an object array" if "Object arrays" in text else "data"
        return f"holds {kind} that only pickle could read: not a numpy .npz model"
    if isinstance(exc, EOFError | zipfile.BadZipFile | struct.error | zlib.error) or not text:
        return f"{type(exc).__name__}{': ' + text if text else ''}"
    return text


def _open(path: Path) -> Any:
    """``np.load`` of an existing model file (``ModelError`` if it is missing/unreadable)."""
    if not path.is_file():
        raise ModelError(f"no model at {path}; run 'movierec train' first")
    if path.stat().st_size == 0:
        raise damaged(path, "empty file")
    try:
        npz = np.load(path, allow_pickle=False)
    except PermissionError as exc:
        raise ModelError(f"cannot read the model at {path}: {exc.strerror}") from None
    except (OSError, *DECODE_ERRORS) as exc:
        raise damaged(path, exc) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise damaged(path, "a single numpy array, not a model archive")
    return npz


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of a saved model, without loading its arrays.

    Raises:
        ModelError: no file at ``path``. ModelFileError: the file is damaged, or is not a
            movierec model (no metadata, or metadata without its required fields).
    """
    path = Path(path)
    with _open(path) as npz:
        try:
            raw = npz[META_KEY]
            meta = json.loads(bytes(raw).decode("utf-8"))
        except (OSError, *DECODE_ERRORS) as exc:
            if isinstance(exc, KeyError):
                raise damaged(path, "no movierec metadata") from None
            raise damaged(path, exc) from None
    if not isinstance(meta, dict):
        raise damaged(path, "metadata is not a JSON object")
    for key, kind in _META_TYPES.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise damaged(path, f"metadata field {key!r} is missing or not a {kind.__name__}")
    return meta


def read_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The learned arrays of a saved model (check :func:`read_metadata` first).

    Every entry is read in full, so zip's CRC-32 check covers all the bytes; the names must
    be those the metadata lists (files written before the list existed are not checked).

    Raises:
        ModelFileError: a damaged entry, an object array, or entries missing or extra.
    """
    path = Path(path)
    with _open(path) as npz:
        try:
            arrays = {k: npz[k] for k in npz.files if k != META_KEY}
            meta = json.loads(bytes(npz[META_KEY]).decode("utf-8"))
        except (OSError, *DECODE_ERRORS) as exc:
            raise damaged(path, exc) from None
    listed = meta.get("entries") if isinstance(meta, dict) else None
    if listed is not None and sorted(arrays) != sorted(map(str, listed)):
        missing = sorted(set(map(str, listed)) - set(arrays))
        extra = sorted(set(arrays) - set(map(str, listed)))
        raise damaged(path, f"entries missing {missing[:3]} or unexpected {extra[:3]}")
    return arrays


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
        titles, genres = state[f"{key}#titles"], state[f"{key}#genres"]
        setattr(obj, key, ItemCatalog(p["movieId"], titles, p["year"], genres))  # type: ignore[arg-type]
    for key, value in state.items():
        if "#" not in key:
            setattr(obj, key, value)
