"""download(): sources, safe extraction, checksums, retries, and nothing lost on failure."""

from __future__ import annotations

import errno
import io
import shutil
import socket
import time
import zipfile
from pathlib import Path

import pytest

from movierec.atomic import DiskFullError
from movierec.config import Layout
from movierec.data import download as dl
from movierec.data.datasets import get_dataset
from movierec.data.download import download, sha256_file, verify_dataset
from movierec.errors import ChecksumError, ConfigError, DataError, DownloadError
from tests.data.helpers import leftovers, snapshot

SPEC = get_dataset("ml-100k")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _install(layout: Layout, synth_zip: Path, sums: dict) -> dict[str, bytes]:
    download(layout, str(synth_zip), checksums=sums)
    return snapshot(layout.dataset_dir)


def _zip_with(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16  # S_IFLNK
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


# ---------------------------------------------------------------------------- sources
def test_local_zip_is_extracted_and_verified(layout, synth_dir, synth_zip, synth_sums):
    path = download(layout, str(synth_zip), checksums=synth_sums)
    assert path == layout.dataset_dir
    assert snapshot(path) == snapshot(synth_dir)
    assert leftovers(layout.raw_dir) == []


@pytest.mark.parametrize("parent", [False, True])
def test_local_folder_is_copied(layout, synth_dir, synth_sums, parent):
    source = synth_dir.parent if parent else synth_dir
    path = download(layout, str(source), checksums=synth_sums)
    assert snapshot(path) == snapshot(synth_dir)


def test_file_url_source(layout, synth_dir, synth_zip, synth_sums):
    download(layout, synth_zip.as_uri(), checksums=synth_sums)
    assert snapshot(layout.dataset_dir) == snapshot(synth_dir)


def test_http_download_then_no_network_io(layout, synth_dir, synth_zip, synth_sums, http_server):
    url = http_server.serve("/ml-100k.zip", synth_zip.read_bytes())
    download(layout, url, checksums=synth_sums, progress=True)
    assert http_server.requests == ["/ml-100k.zip"]
    assert snapshot(layout.dataset_dir) == snapshot(synth_dir)
    # second run: files present and valid -> not a single request
    assert download(layout, url, checksums=synth_sums) == layout.dataset_dir
    assert http_server.requests == ["/ml-100k.zip"]


def test_valid_folder_needs_no_source_at_all(layout, synth_zip, synth_sums):
    _install(layout, synth_zip, synth_sums)
    dead = f"http://127.0.0.1:{_closed_port()}/ml-100k.zip"
    assert download(layout, dead, checksums=synth_sums) == layout.dataset_dir


def test_invalid_existing_folder_is_replaced(layout, synth_dir, synth_zip, synth_sums):
    _install(layout, synth_zip, synth_sums)
    (layout.dataset_dir / "u.data").write_text("tampered\n")
    download(layout, str(synth_zip), checksums=synth_sums)
    assert snapshot(layout.dataset_dir) == snapshot(synth_dir)


def test_force_fetches_again(layout, synth_zip, synth_sums, http_server):
    url = http_server.serve("/z.zip", synth_zip.read_bytes())
    download(layout, url, checksums=synth_sums)
    download(layout, url, checksums=synth_sums, force=True)
    assert len(http_server.requests) == 2


def test_flat_archive_and_renamed_folder_are_accepted(layout, synth_dir, synth_sums, tmp_path):
    for i, prefix in enumerate(["", "ml-100k-copy/"]):
        z = tmp_path / f"a{i}.zip"
        z.write_bytes(_zip_with({prefix + p.name: p.read_bytes() for p in synth_dir.iterdir()}))
        download(layout, str(z), checksums=synth_sums, force=True)
        assert snapshot(layout.dataset_dir) == snapshot(synth_dir)


# ---------------------------------------------------------------------------- network errors
def test_no_network_fails_fast_with_source_hint(layout):
    url = f"http://127.0.0.1:{_closed_port()}/ml-100k.zip"
    t0 = time.perf_counter()
    with pytest.raises(DownloadError) as err:
        download(layout, url, retries=3, backoff=1.0)
    assert time.perf_counter() - t0 < 1.0  # no retries, no backoff
    msg = str(err.value)
    assert "--source" in msg and "MOVIEREC_SOURCE" in msg and "\n" not in msg
    assert not layout.dataset_dir.exists()


def test_http_404_is_not_retried(layout, http_server):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(layout, http_server.url("/missing.zip"), retries=3, backoff=0)
    assert http_server.requests == ["/missing.zip"]


def test_transient_errors_are_retried(layout, synth_dir, synth_zip, synth_sums, http_server):
    url = http_server.serve("/z.zip", synth_zip.read_bytes(), fail_first=2)
    download(layout, url, checksums=synth_sums, retries=3, backoff=0)
    assert http_server.requests == ["/z.zip"] * 3
    assert snapshot(layout.dataset_dir) == snapshot(synth_dir)


def test_retries_give_up(layout, http_server):
    url = http_server.serve("/z.zip", b"x", fail_first=10)
    with pytest.raises(dl.TransientDownloadError, match="after 2 attempt"):
        download(layout, url, retries=1, backoff=0)
    assert len(http_server.requests) == 2


def test_truncated_body_keeps_previous_folder(layout, synth_zip, synth_sums, http_server):
    before = _install(layout, synth_zip, synth_sums)
    url = http_server.serve("/z.zip", synth_zip.read_bytes(), truncate=True)
    with pytest.raises(DownloadError):
        download(layout, url, checksums=synth_sums, retries=1, backoff=0, force=True)
    assert len(http_server.requests) == 2
    assert snapshot(layout.dataset_dir) == before
    assert leftovers(layout.raw_dir) == []


# ---------------------------------------------------------------------------- bad archives
def test_truncated_zip(layout, synth_zip, synth_sums, tmp_path):
    before = _install(layout, synth_zip, synth_sums)
    bad = tmp_path / "trunc.zip"
    data = synth_zip.read_bytes()
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DownloadError, match="not a valid zip") as err:
        download(layout, str(bad), checksums=synth_sums, force=True)
    assert "\n" not in str(err.value)
    assert snapshot(layout.dataset_dir) == before


def test_corrupt_member_data(layout, synth_dir, synth_sums, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(synth_dir.iterdir()):
            zf.write(p, f"ml-100k/{p.name}")
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("ml-100k/u.data")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(start + 10, start + 60):  # damage the deflate stream of u.data
        data[k] ^= 0xFF
    bad = tmp_path / "corrupt.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="corrupt"):
        download(layout, str(bad), checksums=synth_sums)
    assert not layout.dataset_dir.exists()
    assert leftovers(layout.raw_dir) == []


def test_not_a_zip(layout, tmp_path):
    bad = tmp_path / "page.zip"
    bad.write_text("<html>not found</html>")
    with pytest.raises(DownloadError, match="not a valid zip"):
        download(layout, str(bad))


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("ml-100k/../../evil.txt", "'..'"),
        ("../evil.txt", "'..'"),
        ("/tmp/movierec-evil.txt", "absolute"),
        ("C:/evil.txt", "absolute"),
    ],
)
def test_unsafe_members_are_refused(
    layout, synth_dir, synth_zip, synth_sums, tmp_path, member, reason
):
    before = _install(layout, synth_zip, synth_sums)
    members = {f"ml-100k/{p.name}": p.read_bytes() for p in synth_dir.iterdir()}
    members[member] = b"pwned"
    bad = tmp_path / "evil.zip"
    bad.write_bytes(_zip_with(members))
    with pytest.raises(DownloadError, match=f"unsafe member.*{reason}"):
        download(layout, str(bad), checksums=synth_sums, force=True)
    assert snapshot(layout.dataset_dir) == before
    assert not (layout.raw_dir.parent / "evil.txt").exists()
    assert not (layout.home / "evil.txt").exists()
    assert not Path("/tmp/movierec-evil.txt").exists()


def test_symlink_member_is_refused(layout, synth_dir, synth_sums, tmp_path):
    members = {f"ml-100k/{p.name}": p.read_bytes() for p in synth_dir.iterdir()}
    bad = tmp_path / "link.zip"
    bad.write_bytes(_zip_with(members, symlink="ml-100k/u.occupation"))
    with pytest.raises(DownloadError, match="symbolic link"):
        download(layout, str(bad), checksums=synth_sums)
    assert not layout.dataset_dir.exists()


def test_archive_without_the_release_folder(layout, tmp_path):
    bad = tmp_path / "other.zip"
    bad.write_bytes(_zip_with({"a/x.txt": b"1", "b/y.txt": b"2"}))
    with pytest.raises(DownloadError, match="does not contain the folder ml-100k/"):
        download(layout, str(bad))


# ---------------------------------------------------------------------------- checksums
def test_checksum_mismatch_keeps_previous_folder(
    layout, synth_dir, synth_zip, synth_sums, tmp_path
):
    before = _install(layout, synth_zip, synth_sums)
    other = tmp_path / "other" / "ml-100k"
    shutil.copytree(synth_dir, other)
    with open(other / "u.data", "a") as fh:
        fh.write("1\t1\t5\t881250949\n")
    with pytest.raises(ChecksumError) as err:
        download(layout, str(other), checksums=synth_sums, force=True)
    msg = str(err.value)
    assert "u.data" in msg and synth_sums["u.data"] in msg and sha256_file(other / "u.data") in msg
    assert snapshot(layout.dataset_dir) == before
    assert leftovers(layout.raw_dir) == []


def test_registry_checksums_reject_synthetic_data(layout, synth_zip):
    with pytest.raises(ChecksumError, match="checksum mismatch for u.data: expected sha256 0641"):
        download(layout, str(synth_zip))
    assert not layout.dataset_dir.exists()


def test_verify_dataset_names_missing_file(synth_dir, tmp_path):
    partial = tmp_path / "p"
    shutil.copytree(synth_dir, partial)
    (partial / "u.item").unlink()
    with pytest.raises(DataError, match="u.item is missing"):
        verify_dataset(partial, SPEC, checksums={})


# ---------------------------------------------------------------------------- interruptions
@pytest.mark.parametrize(
    ("exc", "expected"),
    [(KeyboardInterrupt(), KeyboardInterrupt), (OSError(errno.ENOSPC, "full"), DiskFullError)],
)
def test_interrupted_extraction_keeps_previous_folder(
    layout, synth_zip, synth_sums, monkeypatch, exc, expected
):
    before = _install(layout, synth_zip, synth_sums)
    calls = []
    real = shutil.copyfileobj

    def flaky(src, dst, length=0):
        calls.append(1)
        if len(calls) == 3:
            dst.write(b"partial")
            raise exc
        return real(src, dst, length)

    monkeypatch.setattr(dl.shutil, "copyfileobj", flaky)
    with pytest.raises(expected):
        download(layout, str(synth_zip), checksums=synth_sums, force=True)
    assert snapshot(layout.dataset_dir) == before
    assert leftovers(layout.raw_dir) == []


def test_disk_full_while_downloading(layout, synth_zip, synth_sums, http_server, monkeypatch):
    url = http_server.serve("/z.zip", synth_zip.read_bytes())
    real_open = open

    class FullFile(io.BytesIO):
        def write(self, data):  # type: ignore[override]
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(path, mode="r", *args, **kwargs):
        if ".part-" in str(path) and "w" in mode:
            return FullFile()
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(dl, "open", fake_open, raising=False)
    with pytest.raises(DiskFullError, match="disk full"):
        download(layout, url, checksums=synth_sums)
    assert not layout.dataset_dir.exists()
    assert leftovers(layout.raw_dir) == []


# ---------------------------------------------------------------------------- bad options
def test_missing_source(layout, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        download(layout, str(tmp_path / "nope.zip"))


def test_folder_without_release_files(layout, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="does not contain the ml-100k files"):
        download(layout, str(tmp_path / "empty"))


def test_unsupported_scheme(layout):
    with pytest.raises(ConfigError, match="unsupported source"):
        download(layout, "ftp://example.org/ml-100k.zip")


def test_bad_options(layout):
    with pytest.raises(ConfigError):
        download(layout, retries=-1)
    with pytest.raises(ConfigError, match="unknown dataset"):
        download(Layout(layout.home, "ml-7k"))


def test_ctrl_c_while_fetching(layout, synth_zip, synth_sums, http_server, monkeypatch):
    before = _install(layout, synth_zip, synth_sums)
    url = http_server.serve("/z.zip", synth_zip.read_bytes())

    def interrupted(url, dest, **kwargs):
        dest.write_bytes(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_fetch_once", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download(layout, url, checksums=synth_sums, force=True)
    assert snapshot(layout.dataset_dir) == before
    assert leftovers(layout.raw_dir) == []


def _ml1m_folder(root: Path, rating: str = "5") -> Path:
    folder = root / "ml-1m"
    folder.mkdir(parents=True)
    (folder / "ratings.dat").write_text(f"1::1::{rating}::978300760\n", encoding="latin-1")
    (folder / "movies.dat").write_text("1::Toy Story (1995)::Animation\n", encoding="latin-1")
    (folder / "users.dat").write_text("1::F::1::10::48067\n", encoding="latin-1")
    return folder


def test_unpinned_release_is_pinned_on_first_install_then_enforced(tmp_path: Path) -> None:
    """ml-1m's digests are not in the registry: the first install pins them locally, and a
    later source with different content is refused, keeping the installed folder."""
    layout = Layout(tmp_path / "home", "ml-1m")
    assert all(v is None for v in get_dataset("ml-1m").checksums.values())
    good = _ml1m_folder(tmp_path / "a")
    target = download(layout, str(good))
    pins = dl.read_pins(layout, get_dataset("ml-1m"))
    assert pins == {n: sha256_file(good / n) for n in ("ratings.dat", "movies.dat", "users.dat")}
    assert download(layout, str(good)) == target  # same content: accepted again
    before = snapshot(target)
    other = _ml1m_folder(tmp_path / "b", rating="4")
    with pytest.raises(ChecksumError, match="ratings.dat"):
        download(layout, str(other), force=True)
    assert snapshot(target) == before
    assert dl.read_pins(layout, get_dataset("ml-1m")) == pins  # never overwritten


def test_corrupt_pin_file_is_a_clear_error(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "home", "ml-1m")
    layout.raw_dir.mkdir(parents=True)
    (layout.raw_dir / dl.PINS_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="checksum pin file"):
        download(layout, str(_ml1m_folder(tmp_path / "a")))
