"""A release's files from a local zip or folder: safe extraction and locating the folder.

- :func:`extract_release` writes the release folder of a zip into a folder. The archive is
  refused as a whole if any member has an absolute path, a ``..`` component or is a
  symlink; only the release folder is extracted (a flat archive or one with a single
  top-level folder is accepted too).
- :func:`find_release_root` finds the release files in a folder or its sub-folder.
- :func:`local_release` opens a local source (zip or folder) for reading without installing
  it: a folder is used in place, a zip is extracted into a temporary folder that is removed
  when the ``with`` block ends, whatever happens in it (an error, Ctrl-C).
- :func:`open_release` is the same for "the source if given, else the installed copy".

:func:`movierec.data.download.download` installs releases with the same extraction.
"""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from movierec.config import Layout
from movierec.data.datasets import DatasetSpec
from movierec.errors import DataError, DownloadError

_CHUNK = 1 << 16


def find_release_root(folder: Path, spec: DatasetSpec) -> Path:
    """``folder`` itself if it holds the release files, else its release sub-folder.

    Raises:
        DataError: neither holds every one of ``spec.required_files``.
    """
    for candidate in (folder, folder / spec.archive_folder, folder / spec.name):
        if all((candidate / name).is_file() for name in spec.required_files):
            return candidate
    names = ", ".join(spec.required_files)
    raise DataError(f"folder {folder} does not contain the {spec.name} files ({names})")


def extract_release(
    zip_path: Path, dest: Path, spec: DatasetSpec, label: str | None = None
) -> Path:
    """Extract the release folder of ``zip_path`` into the existing folder ``dest``.

    Args:
        zip_path: the archive.
        dest: an existing (empty) folder; receives the files of the release folder.
        spec: the release (its ``archive_folder`` is looked for first).
        label: how to name the archive in messages (e.g. the URL it came from).

    Returns:
        ``dest``.

    Raises:
        DownloadError: not a zip, corrupt or truncated, an unsafe member, or no release
            folder (the caller removes ``dest``).
    """
    label = label or str(zip_path)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DownloadError(
            f"{label} is not a valid zip archive (truncated or corrupt download?): {exc}"
        ) from None
    with archive:
        members = safe_members(archive, spec, label)
        try:
            for info, rel in members:
                target = dest.joinpath(*rel.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise DownloadError(
                f"{label} is corrupt (truncated or damaged download?): {exc}"
            ) from None
    return dest


@contextmanager
def local_release(spec: DatasetSpec, source: str | Path) -> Iterator[Path]:
    """The folder holding ``spec``'s files from a local ``source``, for the ``with`` block.

    Args:
        spec: the release.
        source: an extracted folder (or its parent), or a zip laid out like the GroupLens
            archive.

    Yields:
        The release folder: ``source`` (or its release sub-folder) itself, or a temporary
        folder holding the zip's release files, removed when the block ends.

    Raises:
        DataError: ``source`` does not exist or lacks the release files.
        DownloadError: a bad zip (see :func:`extract_release`).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        yield find_release_root(path, spec)
        return
    if not path.is_file():
        raise DataError(f"source {source} does not exist (expected a .zip or a folder)")
    with tempfile.TemporaryDirectory(prefix=f"movierec-{spec.name}-") as tmp:
        yield find_release_root(extract_release(path, Path(tmp), spec), spec)


@contextmanager
def open_release(
    spec: DatasetSpec, source: str | Path | None = None, layout: Layout | None = None
) -> Iterator[Path]:
    """The folder of ``spec``'s files for the ``with`` block: from ``source`` when given
    (see :func:`local_release`), else the installed ``data/raw/<name>/`` of ``layout``.

    Raises:
        DataError: no source and nothing installed (the message says what to run), or the
            folder lacks the release files.
    """
    if source is not None:
        with local_release(spec, source) as folder:
            yield folder
        return
    installed = layout.raw_dir / spec.name if layout is not None else Path("data/raw", spec.name)
    if not installed.is_dir():
        home = f" --home {layout.home}" if layout is not None else ""
        raise DataError(
            f"no {spec.name} data at {installed}: run 'movierec download --dataset "
            f"{spec.name}{home}' first, or pass --source PATH (the {spec.name} .zip or its "
            "extracted folder)"
        )
    yield find_release_root(installed, spec)


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "'..' component"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return None


def safe_members(
    archive: zipfile.ZipFile, spec: DatasetSpec, label: str
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Members to extract with their paths relative to the release folder.

    The whole archive is refused if any member is unsafe. Members under
    ``spec.archive_folder/`` are taken; failing that, the single top-level folder, or the
    archive root if files sit there. Other members (``__MACOSX/`` ...) are skipped.
    """
    infos = archive.infolist()
    for info in infos:
        reason = _unsafe_reason(info)
        if reason:
            raise DownloadError(
                f"refusing to extract {label}: unsafe member {info.filename!r} ({reason})"
            )
    paths = [(info, PurePosixPath(info.filename.replace("\\", "/"))) for info in infos]
    tops = {p.parts[0] for info, p in paths if len(p.parts) > 1 and p.parts[0] != "__MACOSX"}
    flat = any(len(p.parts) == 1 and not info.is_dir() for info, p in paths)
    if spec.archive_folder in tops:
        root: str | None = spec.archive_folder
    elif len(tops) == 1 and not flat:
        root = next(iter(tops))
    elif flat:
        root = None
    else:
        raise DownloadError(f"{label} does not contain the folder {spec.archive_folder}/")
    out = []
    for info, p in paths:
        if root is None:
            if p.parts and p.parts[0] != "__MACOSX":
                out.append((info, p))
        elif len(p.parts) > 1 and p.parts[0] == root:
            out.append((info, PurePosixPath(*p.parts[1:])))
    return out
