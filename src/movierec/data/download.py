"""Step 1: fetch a MovieLens release, extract it safely, verify its checksums.

:func:`download` puts the release's files in ``data/raw/<dataset>/``
(:attr:`movierec.config.Layout.dataset_dir`). Guarantees:

- **No needless I/O**: if that folder already holds files with the expected SHA-256
  digests, nothing is fetched or copied (no network I/O at all).
- **Sources**: the registry URL by default; ``source`` may be another http(s) URL, a local
  ``.zip`` (``file://`` URLs too), or a local folder already extracted (its files are copied).
- **Network**: httpx streaming with a timeout; transient failures (read errors, timeouts
  while reading, HTTP 408/429/5xx, a truncated body) are retried ``retries`` times with
  exponential backoff (``backoff * 2**attempt`` seconds). An unreachable host (DNS failure,
  connection refused, connect timeout) fails at once with a one-line :class:`DownloadError`
  explaining ``--source`` / ``MOVIEREC_SOURCE``; other HTTP errors (404...) are not retried.
- **Safe extraction** (:func:`movierec.data.archive.extract_release`): the archive is
  refused as a whole if any member has an absolute path, a ``..`` component or is a
  symlink. Only the release folder is extracted (a flat archive or one with a single
  top-level folder is accepted too).
- **Atomic**: files are extracted/copied into a temporary sibling folder, verified there,
  then renamed into place (:func:`movierec.atomic.atomic_path`). Any failure — corrupt or
  truncated zip, checksum mismatch, full disk (:class:`movierec.atomic.DiskFullError`),
  Ctrl-C — leaves the previous folder untouched and removes the temporary files.

Checksums default to the registry's (:class:`movierec.data.datasets.DatasetSpec`); pass
``checksums`` to override them, e.g. for synthetic archives in tests
(:func:`movierec.data.synthetic.content_checksums`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import httpx

from movierec.atomic import DiskFullError, atomic_path
from movierec.config import Layout
from movierec.data.archive import extract_release, find_release_root
from movierec.data.datasets import DatasetSpec, get_dataset
from movierec.errors import ChecksumError, ConfigError, DataError, DownloadError

log = logging.getLogger("movierec")

Checksums = Mapping[str, str | None]

_CHUNK = 1 << 16
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class TransientDownloadError(DownloadError):
    """Transient network failures outlasted every retry (worth retrying later).

    Other :class:`DownloadError` cases (unreachable host, HTTP 404, bad archive) are not
    transient: an orchestrator should not retry them.
    """


# ---------------------------------------------------------------------------- checksums
def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (streamed)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def verify_dataset(directory: Path, spec: DatasetSpec, checksums: Checksums | None = None) -> None:
    """Check that ``directory`` holds the release: every required file, matching digests.

    Args:
        directory: an extracted release folder.
        spec: the release (its ``required_files`` must exist).
        checksums: file name -> expected SHA-256 (``None``: only existence is checked);
            defaults to ``spec.checksums``.

    Raises:
        DataError: a required file is missing.
        ChecksumError: a file's digest differs (message names file, expected and got).
    """
    expected = dict(spec.checksums if checksums is None else checksums)
    for name in dict.fromkeys([*spec.required_files, *expected]):
        if not (directory / name).is_file():
            raise DataError(f"{name} is missing from {directory}")
    for name, digest in expected.items():
        if digest is None:
            continue
        got = sha256_file(directory / name)
        if got != digest.lower():
            raise ChecksumError(
                f"checksum mismatch for {name}: expected sha256 {digest}, got {got}"
            )


def is_valid_dataset(
    directory: Path, spec: DatasetSpec, checksums: Checksums | None = None
) -> bool:
    """Whether :func:`verify_dataset` passes (no exception)."""
    try:
        verify_dataset(directory, spec, checksums)
    except DataError:
        return False
    return True


# ---------------------------------------------------------------------------- local pins
PINS_FILE = "checksums.json"
"""Trust-on-first-use digests, under ``data/raw/``: ``{dataset: {file: sha256}}``."""


def _pins_path(layout: Layout) -> Path:
    return layout.raw_dir / PINS_FILE


def _all_pins(layout: Layout) -> dict[str, dict[str, str]]:
    """The whole pin file, ``{dataset: {file: sha256}}`` (empty when there is none)."""
    path = _pins_path(layout)
    if not path.is_file():
        return {}
    try:
        pins = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a valid checksum pin file ({exc}); delete it") from None
    if not isinstance(pins, dict):
        return {}
    return {
        str(name): {str(k): str(v) for k, v in files.items()}
        for name, files in pins.items()
        if isinstance(files, dict)
    }


def read_pins(layout: Layout, spec: DatasetSpec) -> dict[str, str]:
    """The SHA-256 digests pinned locally for ``spec``'s files (empty when none)."""
    return _all_pins(layout).get(spec.name, {})


def effective_checksums(layout: Layout, spec: DatasetSpec) -> dict[str, str | None]:
    """The registry's digests, with files it leaves unpinned (``None``: the large releases,
    whose digests were not published where this project could fetch them) filled from the
    local pins."""
    pins = read_pins(layout, spec)
    return {name: digest or pins.get(name) for name, digest in spec.checksums.items()}


def pin_unpinned(layout: Layout, spec: DatasetSpec, folder: Path) -> dict[str, str]:
    """Record, once, the SHA-256 of every file the registry leaves unpinned.

    Trust on first use: the first verified install of a release fixes its content; every
    later install (a re-download, another ``--source``) must then match it or fail with
    :class:`~movierec.errors.ChecksumError`, keeping the previous folder. Returns the newly
    pinned digests (already pinned files are never overwritten).
    """
    pins = _all_pins(layout)
    pinned = pins.get(spec.name, {})
    new = {
        name: sha256_file(folder / name)
        for name, digest in spec.checksums.items()
        if digest is None and name not in pinned and (folder / name).is_file()
    }
    if new:
        path = _pins_path(layout)
        pins[spec.name] = {**pinned, **new}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        log.info("pinned sha256 of %s in %s", ", ".join(sorted(new)), path)
    return new


# ---------------------------------------------------------------------------- entry point
def download(
    layout: Layout,
    source: str | None = None,
    *,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool | None = None,
    checksums: Checksums | None = None,
    force: bool = False,
    backoff: float = 0.5,
) -> Path:
    """Make ``layout.dataset_dir`` hold the verified release files and return that folder.

    Args:
        layout: artifact layout; ``layout.dataset`` names the registry entry.
        source: ``None`` (the registry URL), an http(s) URL, a local zip (or ``file://``
            URL), or a local folder with the extracted files (or its parent).
        timeout: seconds for connecting and for each read.
        retries: extra attempts after a transient network failure (0 = try once).
        progress: show a rich progress bar; ``None`` = only when stderr is a terminal.
        checksums: file -> SHA-256 overriding the registry's (synthetic data in tests).
            Without it, files the registry leaves unpinned are checked against the digests
            pinned locally by the first install (:func:`pin_unpinned`), and pinned then.
        force: fetch again even if the folder is already valid.
        backoff: first retry delay in seconds, doubled at each retry.

    Returns:
        ``layout.dataset_dir`` (e.g. ``data/raw/ml-100k``).

    Raises:
        DownloadError: unreachable host, HTTP error, corrupt/truncated/unsafe archive;
            :class:`TransientDownloadError` when transient failures outlast the retries.
        ChecksumError: extracted files do not match (previous folder kept).
        DataError: the source does not exist or lacks required files.
        ConfigError: unknown dataset, unsupported source scheme, negative retries/timeout.
        DiskFullError: the disk filled up (previous folder kept).
    """
    spec = get_dataset(layout.dataset)
    if retries < 0 or timeout <= 0:
        raise ConfigError("download needs retries >= 0 and timeout > 0")
    target = layout.dataset_dir
    pin = checksums is None
    if pin:
        checksums = effective_checksums(layout, spec)
    if not force and target.is_dir():
        try:
            verify_dataset(target, spec, checksums)
        except DataError as exc:
            log.warning("existing %s is not valid (%s); fetching it again", target, exc)
        else:
            log.info("%s already present and verified; nothing to download", target)
            if pin:
                pin_unpinned(layout, spec, target)
            return target

    kind, where = _resolve_source(source, spec)
    layout.raw_dir.mkdir(parents=True, exist_ok=True)
    show = sys.stderr.isatty() if progress is None else progress
    if kind == "dir":
        root = find_release_root(Path(where), spec)
        if root.resolve() == target.resolve():
            verify_dataset(root, spec, checksums)
            if pin:
                pin_unpinned(layout, spec, target)
            return target
        _install_folder(root, target, spec, checksums)
    elif kind == "zip":
        _install_zip(Path(where), target, spec, checksums)
    else:
        part = layout.raw_dir / f".{spec.name}.zip.part-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            _fetch(
                where,
                part,
                timeout=timeout,
                retries=retries,
                backoff=backoff,
                show=show,
                size_hint=spec.size_bytes if source is None else None,
            )
            _install_zip(part, target, spec, checksums, label=where)
        finally:
            part.unlink(missing_ok=True)
    if pin:
        pin_unpinned(layout, spec, target)
    log.info("%s ready in %s", spec.name, target)
    return target


# ---------------------------------------------------------------------------- sources
def _resolve_source(source: str | None, spec: DatasetSpec) -> tuple[str, str]:
    """Classify ``source`` as ``("url", url)``, ``("zip", path)`` or ``("dir", path)``."""
    if source is None or not str(source).strip():
        return "url", spec.url
    source = str(source).strip()
    if re.match(r"^https?://", source, re.IGNORECASE):
        return "url", source
    if source.lower().startswith("file://"):
        path = Path(unquote(urlparse(source).path))
    elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        raise ConfigError(
            f"unsupported source {source!r}: use an http(s) URL, a local .zip or a local folder"
        )
    else:
        path = Path(source).expanduser()
    if path.is_dir():
        return "dir", str(path)
    if path.is_file():
        return "zip", str(path)
    raise DataError(f"source {source} does not exist (expected a .zip, a folder or a URL)")


def _install_folder(
    root: Path, target: Path, spec: DatasetSpec, checksums: Checksums | None
) -> None:
    """Copy the regular files under ``root`` into ``target`` atomically, then verify."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    with atomic_path(target) as tmp:
        tmp.mkdir()
        for path in files:
            dest = tmp / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)  # contents only: no read-only modes carried over
        verify_dataset(tmp, spec, checksums)


# ---------------------------------------------------------------------------- archives
def _install_zip(
    zip_path: Path,
    target: Path,
    spec: DatasetSpec,
    checksums: Checksums | None,
    label: str | None = None,
) -> None:
    """Extract the release folder of ``zip_path`` into ``target`` atomically, then verify."""
    with atomic_path(target) as tmp:
        tmp.mkdir()
        extract_release(zip_path, tmp, spec, label)
        verify_dataset(tmp, spec, checksums)


# ---------------------------------------------------------------------------- network
class _IncompleteBody(Exception):
    """The server closed the connection before sending Content-Length bytes."""


def _offline_message(url: str, exc: Exception) -> str:
    host = urlparse(url).hostname or url
    return (
        f"cannot reach {host} ({exc or type(exc).__name__}); no network? Fetch {url} elsewhere "
        "and pass it with --source PATH_OR_URL (or MOVIEREC_SOURCE=...): a .zip, an extracted "
        "folder or a mirror URL"
    )


def _fetch(
    url: str,
    dest: Path,
    *,
    timeout: float,
    retries: int,
    backoff: float,
    show: bool,
    size_hint: int | None,
) -> None:
    """Stream ``url`` into ``dest`` with retries on transient failures (see module doc)."""
    attempts = retries + 1
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            _fetch_once(url, dest, timeout=timeout, show=show, size_hint=size_hint)
            return
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            raise DownloadError(_offline_message(url, exc)) from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status not in _RETRY_STATUS:
                raise DownloadError(
                    f"HTTP {status} fetching {url}; check the URL or use --source with a local copy"
                ) from None
            last = exc
        except (httpx.TransportError, _IncompleteBody) as exc:
            last = exc
        if attempt + 1 < attempts:
            delay = backoff * 2**attempt
            log.warning(
                "download attempt %d/%d failed (%s); retrying in %.1f s",
                attempt + 1,
                attempts,
                last,
                delay,
            )
            time.sleep(delay)
    raise TransientDownloadError(
        f"could not fetch {url} after {attempts} attempt(s): {last or 'unknown error'}; "
        "use --source with a local copy"
    )


def _fetch_once(url: str, dest: Path, *, timeout: float, show: bool, size_hint: int | None) -> None:
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        with client.stream("GET", url) as resp:
            resp.raise_for_status()
            length = resp.headers.get("content-length")
            expected = int(length) if length and length.isdigit() else None
            try:
                with open(dest, "wb") as out, _progress(show, expected or size_hint, url) as tick:
                    for chunk in resp.iter_bytes(_CHUNK):
                        out.write(chunk)
                        tick(len(chunk))
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise DiskFullError(
                        f"disk full while downloading {url} to {dest.parent}"
                    ) from exc
                raise
            if expected is not None and resp.num_bytes_downloaded != expected:
                raise _IncompleteBody(f"got {resp.num_bytes_downloaded} of {expected} bytes")


@contextmanager
def _progress(show: bool, total: int | None, url: str) -> Iterator[Callable[[int], None]]:
    """A byte-count callback; draws a rich progress bar on stderr when ``show``."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(PurePosixPath(urlparse(url).path).name or url, total=total)
        yield lambda n: bar.advance(task, n)
