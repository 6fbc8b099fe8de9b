"""Following the production pointer: each server process swaps its model without a restart.

Every ``poll`` seconds (``MOVIEREC_SWAP_POLL``, default 2; ``0`` turns it off) a process
reads the store's production pointer (:func:`movierec.store.versions.production_pointer`:
one primary-key read, through the store gate, so it never takes a connection a request is
owed). When the pointer names another version than the one last seen (``movierec models
promote``, ``rollback``, a promoting ``retrain``), the process, in a worker thread (never
on the event loop):

1. reads the version's row and checks its file's SHA-256 against it;
2. loads the model (:func:`movierec.models.load_model`) and builds a new
   :class:`~movierec.api.service.Serving` around it (catalogue, co-ratings, warm-up);
3. replaces ``app.state.serving`` in one assignment.

A request takes the :class:`Serving` when it starts (:mod:`movierec.api.deps`) and keeps
it, so in-flight requests finish on the old model and new ones get the new model: no
request fails, none sees half of each. The swap delay is at most ``poll`` seconds plus the
load (a few hundred ms on ml-100k; see docs/serving.md). A version that cannot be loaded
(missing or damaged file, SHA-256 mismatch) leaves the old model serving; the error is in
``/health`` (``swap.error``) and the log, and that version is not retried until the pointer
moves again. ``N`` workers poll independently: ``N / poll`` reads a second in all.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from movierec.api import metrics
from movierec.api.gates import Gate, Overloaded
from movierec.api.schemas import SwapInfo
from movierec.api.storehandle import StoreHandle
from movierec.errors import ModelError, MovieRecError
from movierec.models import Recommender, load_model
from movierec.store.versions import VersionInfo, get_version, production_pointer

if TYPE_CHECKING:
    from movierec.api.service import Serving

log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_version(info: VersionInfo, home: Path) -> Recommender:
    """The model of a registered version, after checking its file against the SHA-256
    registered with it.

    Raises:
        ModelError: the file is missing or is not the registered one. ModelFileError: it
            is damaged.
    """
    path = info.file(home)
    if not path.is_file():
        raise ModelError(f"model version {info.id}: {info.path} is missing under the home")
    if file_sha256(path) != info.sha256:
        raise ModelError(
            f"model version {info.id}: {info.path} is not the registered file (SHA-256 differs)"
        )
    return load_model(path)


class ModelSwap:
    """One process's follower of the production pointer (see the module docstring).

    Args:
        store: the store (no engine: nothing to follow).
        gate: the store gate the polls go through.
        build: a fitted model and its version -> the :class:`Serving` to swap in.
        home: where version files live (``VersionInfo.path`` is relative to it).
        poll: seconds between polls (``<= 0``: never poll).
        seen: the pointer's value when the app was built (only a change is followed).
        publish: called with each new :class:`Serving` (assigns ``app.state.serving``).
    """

    def __init__(
        self,
        store: StoreHandle,
        gate: Gate,
        build: Callable[[Recommender, VersionInfo], Serving],
        home: Path,
        poll: float,
        seen: int | None,
        publish: Callable[[Serving], None],
    ) -> None:
        self.store = store
        self.gate = gate
        self.build = build
        self.home = home
        self.poll = float(poll)
        self.seen = seen
        self.pointer = seen
        self.publish = publish
        self.swaps = 0
        self.error = ""
        self._failed: int | None = None

    @property
    def enabled(self) -> bool:
        return self.poll > 0 and self.store.engine is not None

    def read_pointer(self) -> int | None:
        """The pointer now (blocking: in the store gate's thread); ``None`` without one."""
        if not self.store.available():
            return None
        with self.store.session() as db:
            pointer = production_pointer(db)
        return None if pointer is None else int(pointer)

    def load(self, version_id: int) -> Serving:
        """Read, check and load ``version_id`` and build its :class:`Serving` (blocking)."""
        with self.store.session() as db:
            info = get_version(db, version_id)
        return self.build(load_version(info, self.home), info)

    async def check(self) -> bool:
        """One poll: swap if the pointer moved. True if a new model was swapped in."""
        try:
            pointer = await self.gate.run_within(max(self.poll, 0.5), self.read_pointer)
        except (Overloaded, SQLAlchemyError, MovieRecError) as exc:
            log.warning("production pointer not read: %s", exc)
            return False
        self.pointer = pointer
        if pointer is None or pointer == self.seen or pointer == self._failed:
            return False
        try:
            serving = await asyncio.to_thread(self.load, pointer)
        except (MovieRecError, SQLAlchemyError, OSError) as exc:
            self._failed = pointer
            self.error = f"version {pointer} not loaded: {exc}"
            metrics.STORE_ERRORS.labels(operation="swap").inc()
            log.error("model swap failed, still serving the old model: %s", exc)
            return False
        self.publish(serving)
        self.seen, self._failed, self.error = pointer, None, ""
        self.swaps += 1
        metrics.SWAPS.inc()
        metrics.set_model_version(serving.version)
        log.info("swapped in model version %d (%s)", pointer, serving.model.name)
        return True

    async def run(self) -> None:
        """Poll until cancelled (the app's lifespan starts and cancels it)."""
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - a poll must never end the loop
                log.exception("model swap poll failed")

    def info(self, serving: Serving) -> SwapInfo:
        """What ``/health`` says about the pointer, this process and every live worker
        (from the workers' metric files: :func:`movierec.api.metrics.worker_versions`)."""
        workers = metrics.worker_versions() or {os.getpid(): serving.version}
        workers[os.getpid()] = serving.version
        return SwapInfo(
            poll=self.poll if self.enabled else 0.0,
            production_version=self.pointer,
            in_sync=self.pointer is None or serving.version == self.pointer,
            swaps=self.swaps,
            error=self.error,
            worker=os.getpid(),
            workers=workers,
            all_in_sync=self.pointer is None or all(v == self.pointer for v in workers.values()),
        )
