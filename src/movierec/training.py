"""Training a local model on the cleaned ratings, and loading it back.

The model file is ``models/recommender.npz`` under the working directory
(:class:`~movierec.config.Layout`); it records the data fingerprint, so a model trained on
other data is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from movierec import threads
from movierec.atomic import atomic_path
from movierec.config import Layout
from movierec.errors import DataError, ModelError
from movierec.interactions import Interactions, ItemCatalog
from movierec.models import Recommender, load_model
from movierec.models.common.modelfile import FORMAT_VERSION, read_metadata
from movierec.models.registry import make_model

log = logging.getLogger("movierec")


@dataclass
class TrainResult:
    """What :func:`fit_model` produced."""

    model: Recommender
    path: str
    fingerprint: str
    n_users: int
    n_items: int
    n_ratings: int
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    threads: int = 1

    def __str__(self) -> str:
        return (
            f"trained {self.model.name} on {self.n_ratings:,} ratings "
            f"({self.n_users:,} users x {self.n_items:,} movies) in {self.seconds:.2f} s "
            f"on {self.threads} thread{'s' if self.threads != 1 else ''} "
            f"-> {self.path} (data {self.fingerprint})"
        )


def load_catalog(layout: Layout) -> ItemCatalog:
    """The movie catalogue (``data/raw/movies.csv``)."""
    from movierec.data.ingest import load_movies

    return ItemCatalog.from_frame(load_movies(layout.movies_csv))


def load_training_data(layout: Layout) -> tuple[Interactions, ItemCatalog]:
    """The cleaned ratings (``data/processed/ratings_clean.csv``) and the movie catalogue."""
    if not layout.clean_ratings_csv.is_file():
        raise DataError(
            f"no cleaned ratings at {layout.clean_ratings_csv}; run 'movierec transform' first"
        )
    from movierec.data.ingest import load_ratings

    ratings = load_ratings(layout.clean_ratings_csv)
    return Interactions.from_frame(ratings), load_catalog(layout)


def fit_model(layout: Layout, model_name: str, params: dict[str, Any] | None = None) -> TrainResult:
    """Fit ``model_name`` on the cleaned data of ``layout`` and save it atomically."""
    model = make_model(model_name, **(params or {}))
    data, catalog = load_training_data(layout)
    t0 = time.perf_counter()
    model.fit(data, catalog)
    seconds = time.perf_counter() - t0
    path = model.save(layout.model_path)
    _write_source(layout, data.fingerprint())
    log.info("trained %s in %.2f s", model_name, seconds)
    return TrainResult(
        model=model,
        path=str(path),
        fingerprint=data.fingerprint(),
        n_users=data.n_users,
        n_items=data.n_items,
        n_ratings=data.nnz,
        seconds=seconds,
        params=model.get_params(),
        threads=threads.current(),
    )


def _source_path(layout: Layout) -> Path:
    """``models/recommender.source.json``: the digest of the cleaned ratings a model was
    trained on and their data fingerprint."""
    return layout.model_path.with_suffix(".source.json")


def _write_source(layout: Layout, fingerprint: str) -> None:
    csv = layout.clean_ratings_csv
    before = file_stat(csv)
    digest = file_sha256(csv)
    stat = before if file_stat(csv) == before else None  # changed while hashed: no shortcut
    text = json.dumps({"ratings_sha256": digest, "fingerprint": fingerprint, "stat": stat})
    with atomic_path(_source_path(layout)) as tmp:
        tmp.write_text(text, encoding="utf-8")


def current_fingerprint(layout: Layout) -> str:
    """The data fingerprint of the cleaned ratings: from ``recommender.source.json`` when
    the file is the one recorded at training, else computed from the file.

    "The one recorded": the same size, modification time (ns) and inode as when it was
    hashed (the check ``make`` and git's index make; no read at all, where hashing 640 MB
    at 25M ratings takes ~1 s), else the same SHA-256 (~100× faster than parsing the CSV).
    """
    csv = layout.clean_ratings_csv
    try:
        source = json.loads(_source_path(layout).read_text(encoding="utf-8"))
        if source.get("stat") is not None and source["stat"] == file_stat(csv):
            return str(source["fingerprint"])
        if source.get("ratings_sha256") == file_sha256(csv):
            return str(source["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from movierec.data.ingest import load_ratings

    return Interactions.from_frame(load_ratings(csv)).fingerprint()


def file_stat(path: Path) -> list[int]:
    """``[size, mtime_ns, inode]`` of a file: what changes when its bytes are rewritten."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def trained_model_is_current(
    layout: Layout, model_name: str, params: dict[str, Any] | None = None
) -> bool:
    """True if ``models/recommender.npz`` is the configured model with the same
    hyperparameters, trained on the current cleaned ratings by a compatible movierec:
    retraining would reproduce it (every model is deterministic under its seed), so a
    resumed pipeline can skip the step."""
    if not (layout.model_path.is_file() and layout.clean_ratings_csv.is_file()):
        return False
    try:
        meta = read_metadata(layout.model_path)
    except ModelError:
        return False
    wanted = make_model(model_name, **(params or {})).get_params()
    same_params = json.dumps(meta.get("params"), sort_keys=True) == json.dumps(
        wanted, sort_keys=True
    )
    if meta.get("model") != model_name or not same_params:
        return False
    if meta.get("format_version") != FORMAT_VERSION:
        return False
    return bool(meta.get("data_fingerprint") == current_fingerprint(layout))


def load_trained(layout: Layout, check_data: bool = True) -> Recommender:
    """Load ``models/recommender.npz``; refuse it if it was trained on other data.

    The check compares the model's data fingerprint with the current cleaned ratings (when
    they exist), so a model left over from another dataset or filter setting is not used.
    """
    expected = None
    if check_data and layout.clean_ratings_csv.is_file():
        expected = current_fingerprint(layout)
    return load_model(layout.model_path, expected_fingerprint=expected)
