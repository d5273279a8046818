"""Safe .zip import: refusals for unsafe members and bombs, and the happy round trip."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from core.datasets.folder import load_image_folder
from core.datasets.zip_import import UnsafeArchiveError, extract_zip_dataset
from core.base.errors import DatasetError
from tests.support.data import dataset_members, only_entries, write_zip


# --- happy path -------------------------------------------------------------------------

def test_round_trip_to_load_image_folder(tmp_path):
    archive = write_zip(tmp_path / "flowers.zip", dataset_members())
    dest = tmp_path / "uploads"
    root = extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=dest)
    assert root.name == "flowers" and root.parent.parent == dest
    assert not (root.parent / "__MACOSX").exists() and not (root / ".DS_Store").exists()
    ds = load_image_folder(path=root)
    assert ds.class_names == ("daisy", "roses") and len(ds) == 8 and ds.skipped == ()

    # The same folder on disk, loaded directly, has the same content fingerprint.
    direct = tmp_path / "direct" / "flowers"
    for name, data in dataset_members().items():
        if name.startswith("flowers/") and name.endswith(".jpg"):
            (direct / name[len("flowers/"):]).parent.mkdir(parents=True, exist_ok=True)
            (direct / name[len("flowers/"):]).write_bytes(data)
    assert load_image_folder(path=direct).fingerprint == ds.fingerprint


def test_reupload_is_a_no_op_returning_the_same_path(tmp_path):
    archive = write_zip(tmp_path / "flowers.zip", dataset_members())
    dest = tmp_path / "uploads"
    first = extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=dest)
    marker = first / "daisy" / "0.jpg"
    mtime = marker.stat().st_mtime_ns
    again = extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=dest)
    from_bytes = extract_zip_dataset(zip_path_or_fileobj=io.BytesIO(archive.read_bytes()),
                                     dest_dir=dest)
    assert first == again == from_bytes
    assert marker.stat().st_mtime_ns == mtime  # not extracted again
    assert len(only_entries(dest)) == 1  # no leftover temporary folders


def test_non_seekable_stream(tmp_path):
    data = write_zip(tmp_path / "f.zip", dataset_members()).read_bytes()

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self.inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    root = extract_zip_dataset(zip_path_or_fileobj=Pipe(), dest_dir=tmp_path / "up")
    assert root == extract_zip_dataset(zip_path_or_fileobj=tmp_path / "f.zip",
                                       dest_dir=tmp_path / "up")


def test_archive_without_a_top_level_folder(tmp_path):
    archive = write_zip(tmp_path / "flat.zip", dataset_members(prefix=""))
    root = extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=tmp_path / "up")
    assert root.parent == tmp_path / "up"
    assert load_image_folder(path=root).class_names == ("daisy", "roses")


def test_small_highly_compressible_member_is_allowed(tmp_path):
    members = dataset_members()
    members["flowers/daisy/blank.bmp"] = bytes(200_000)  # deflates ~1000:1 but is tiny
    root = extract_zip_dataset(zip_path_or_fileobj=write_zip(tmp_path / "z.zip", members),
                               dest_dir=tmp_path / "up")
    assert (root / "daisy" / "blank.bmp").stat().st_size == 200_000


# --- refusals ---------------------------------------------------------------------------

def _refused(tmp_path: Path, members: dict, match: str, **limits) -> UnsafeArchiveError:
    archive = write_zip(tmp_path / "bad.zip", members, compression=limits.pop("compression",
                                                                         zipfile.ZIP_DEFLATED))
    dest = tmp_path / "up"
    with pytest.raises(UnsafeArchiveError, match=match) as info:
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=dest, **limits)
    assert isinstance(info.value, DatasetError)
    assert only_entries(dest) == []  # nothing extracted, no temp folder left behind
    assert not (tmp_path / "evil.png").exists()
    return info.value


@pytest.mark.parametrize("name,problem", [
    ("../evil.png", "path traversal"),
    ("flowers/../../evil.png", "path traversal"),
    ("/tmp/evil.png", "absolute path"),
    ("C:/Windows/evil.png", "drive letter"),
    ("C:evil.png", "drive letter"),
    ("..\\evil.png", "backslashes"),
])
def test_unsafe_paths_are_refused(tmp_path, name, problem):
    members = dataset_members()
    members[name] = b"payload"
    error = _refused(tmp_path, members, match=problem)
    assert error.member == name and repr(name) in str(error)


def test_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("flowers/daisy/link.jpg")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    members = dataset_members()
    members[link] = b"/etc/passwd"
    error = _refused(tmp_path, members, match="symbolic link")
    assert error.member == "flowers/daisy/link.jpg"


def test_too_many_files(tmp_path):
    members = {f"d/c{i % 2}/{i}.jpg": b"x" for i in range(6)}
    _refused(tmp_path, members, match="limit of 5 files", max_files=5)


def test_too_large_total(tmp_path):
    members = {"d/a/1.bin": bytes(800), "d/b/2.bin": bytes(800)}
    error = _refused(tmp_path, members, match="limit of 1,000 bytes", max_total_bytes=1000,
                     compression=zipfile.ZIP_STORED)
    assert error.member == "d/b/2.bin"


def test_high_ratio_bomb(tmp_path):
    members = dataset_members()
    members["flowers/daisy/bomb.bmp"] = bytes(5 << 20)  # 5 MiB of zeros deflates ~1000:1
    error = _refused(tmp_path, members, match=r"compression ratio limit of 200:1")
    assert error.member == "flowers/daisy/bomb.bmp"


def test_duplicate_member_names(tmp_path):
    members = dataset_members()
    archive = tmp_path / "dup.zip"
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(archive, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
            z.writestr("flowers/daisy/0.jpg", b"other")
    with pytest.raises(UnsafeArchiveError, match="appears twice"):
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=tmp_path / "up")


def test_encrypted_member_is_refused(tmp_path):
    archive = write_zip(tmp_path / "enc.zip",
                        {"flowers/daisy/secret.jpg": b"x", **dataset_members()})
    raw = bytearray(archive.read_bytes())
    # zipfile cannot write encrypted members; set the "encrypted" flag bit of the first one
    # in its local header (offset 6) and directory entry (offset 8).
    raw[raw.find(b"PK\x03\x04") + 6] |= 0x1
    raw[raw.find(b"PK\x01\x02") + 8] |= 0x1
    archive.write_bytes(bytes(raw))
    dest = tmp_path / "up"
    with pytest.raises(UnsafeArchiveError, match="encrypted") as info:
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=dest)
    assert info.value.member == "flowers/daisy/secret.jpg"
    assert only_entries(dest) == []


def test_member_lying_about_its_size_is_refused_while_streaming(tmp_path):
    data = bytes(range(256)) * 8  # 2048 bytes, stored so the patch below stays simple
    archive = write_zip(tmp_path / "liar.zip", {"d/a/x.bin": data, "d/b/y.bin": b"y"},
                   compression=zipfile.ZIP_STORED)
    raw = bytearray(archive.read_bytes())
    # Declare 100 bytes uncompressed in the local header (offset 22) and directory (24).
    local = raw.find(b"PK\x03\x04")
    central = raw.find(b"PK\x01\x02")
    struct.pack_into("<I", raw, local + 22, 100)
    struct.pack_into("<I", raw, central + 24, 100)
    archive.write_bytes(bytes(raw))
    dest = tmp_path / "up"
    with pytest.raises(DatasetError, match="d/a/x.bin"):
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=dest)
    assert only_entries(dest) == []


def test_not_a_zip(tmp_path):
    bogus = tmp_path / "photos.zip"
    bogus.write_bytes(b"this is not a zip" * 10)
    with pytest.raises(DatasetError, match="not a readable .zip"):
        extract_zip_dataset(zip_path_or_fileobj=bogus, dest_dir=tmp_path / "up")


def test_missing_zip(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        extract_zip_dataset(zip_path_or_fileobj=tmp_path / "nope.zip", dest_dir=tmp_path / "up")


def test_archive_with_only_junk(tmp_path):
    archive = write_zip(tmp_path / "junk.zip", {"__MACOSX/._a.jpg": b"x", ".DS_Store": b"y"})
    with pytest.raises(DatasetError, match="contains no files"):
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=tmp_path / "up")
