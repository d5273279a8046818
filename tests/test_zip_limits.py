"""Zip imports bounded from the central directory before anything is extracted (issue 27):
every entry counts (hidden ones and folders too), member names are bounded in length and
depth, an invalid UTF-8 name flagged as UTF-8 is refused, and messages name members by
their names in the archive, never by the server's folders."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from core.base.errors import DatasetError
from core.base.paths import cache_root
from core.base.public import uploads_root
from core.datasets.zip_import import (MAX_NAME_BYTES, MAX_NAME_DEPTH, UnsafeArchiveError,
                                      extract_zip_dataset, max_entries_for)
from tests.support.data import dataset_members, only_entries, write_zip


def refused(tmp_path: Path, archive: Path, match: str, **limits) -> UnsafeArchiveError:
    dest = tmp_path / "up"
    with pytest.raises(UnsafeArchiveError, match=match) as info:
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=dest, **limits)
    assert only_entries(dest) == []  # nothing extracted, no temp folder left
    assert str(tmp_path) not in str(info.value)  # no server path in the message
    return info.value


@pytest.fixture(scope="module")
def hidden_150k(tmp_path_factory) -> Path:
    archive = tmp_path_factory.mktemp("hidden") / "hidden.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
        for name, data in dataset_members().items():
            out.writestr(name, data)
        for i in range(150_000):
            out.writestr(f"flowers/.cache/{i}", b"")
    return archive


def test_150k_hidden_entries_are_refused_in_public_mode(hidden_150k, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    dest = uploads_root(cache_root()) / "session-hidden"
    with pytest.raises(UnsafeArchiveError, match=r"it has 150,011 entries \(folders and hidden "
                                                 r"files count too\), over the limit of 5,000"):
        extract_zip_dataset(zip_path_or_fileobj=hidden_150k, dest_dir=dest)
    assert max_entries_for(2_000) == 5_000
    assert [p for p in dest.iterdir() if p.is_dir()] == []


def test_hidden_entries_count_toward_the_limit(tmp_path):
    members = dataset_members() | {f"flowers/._{i}.jpg": b"x" for i in range(1_100)}
    refused(tmp_path, write_zip(tmp_path / "h.zip", members), match=r"over the limit of 1,010",
            max_files=5)
    # the same archive is fine under the default limits: hidden entries are still skipped
    root = extract_zip_dataset(zip_path_or_fileobj=tmp_path / "h.zip", dest_dir=tmp_path / "ok")
    assert sorted(p.name for p in root.iterdir()) == ["LICENSE.txt", "daisy", "roses"]


def test_an_end_record_that_understates_the_entries(tmp_path):
    members = dataset_members() | {f"flowers/.h{i}": b"" for i in range(1_100)}
    archive = write_zip(tmp_path / "lie.zip", members)
    raw = bytearray(archive.read_bytes())
    end = raw.rfind(b"PK\x05\x06")
    raw[end + 8:end + 12] = struct.pack("<HH", 3, 3)  # entries on this disk, in all
    archive.write_bytes(bytes(raw))
    refused(tmp_path, archive, match=r"it has 1,111 entries", max_files=5)


def test_an_oversized_directory_is_refused_from_the_end_record(tmp_path):
    members = dataset_members() | {"flowers/daisy/x.jpg": b"x"}
    archive = write_zip(tmp_path / "big.zip", members)
    raw = bytearray(archive.read_bytes())
    end = raw.rfind(b"PK\x05\x06")
    raw[end + 12:end + 16] = struct.pack("<I", 50_000_000)  # directory size
    archive.write_bytes(bytes(raw))
    refused(tmp_path, archive, match=r"50,000,000-byte directory", max_files=5)


@pytest.mark.parametrize("name, match", [
    ("flowers/daisy/" + "n" * 300 + ".jpg", r"has a 304-byte file or folder name, over the "
                                            r"limit of 255 bytes"),
    ("flowers/" + "d/" * 2_100 + "x.jpg", rf"-byte name, over the limit of {MAX_NAME_BYTES:,}"),
    ("flowers/" + "d/" * MAX_NAME_DEPTH + "x.jpg", rf"folders deep, over the limit of "
                                                   rf"{MAX_NAME_DEPTH}"),
    ("flowers/.hidden/" + "h" * 300, r"300-byte file or folder name"),  # hidden: checked too
])
def test_member_names_are_bounded(tmp_path, name, match):
    error = refused(tmp_path, write_zip(tmp_path / "n.zip", dataset_members() | {name: b"x"}),
                    match=match)
    assert len(error.member) <= 120  # the message shows a cut name, not 4 KB of it


def test_names_at_the_limits_are_accepted(tmp_path):
    deep = "flowers/daisy/" + "d/" * (MAX_NAME_DEPTH - 3) + "x.jpg"
    members = dataset_members() | {"flowers/daisy/" + "n" * 251 + ".jpg": b"x", deep: b"x"}
    root = extract_zip_dataset(zip_path_or_fileobj=write_zip(tmp_path / "ok.zip", members),
                               dest_dir=tmp_path / "up")
    assert (root / "daisy" / ("n" * 251 + ".jpg")).is_file()


def test_invalid_utf8_flagged_as_utf8_is_refused(tmp_path):
    members = dataset_members() | {"flowers/daisy/caf\u00e9.jpg": b"x"}  # written UTF-8 flagged
    archive = write_zip(tmp_path / "utf.zip", members)
    raw = archive.read_bytes()
    assert raw.count("\u00e9".encode()) == 2  # local header and directory
    archive.write_bytes(raw.replace("\u00e9".encode(), b"\xff\xfe"))
    error = refused(tmp_path, archive, match=r"flagged as UTF-8 that is not valid UTF-8")
    assert error.member == "flowers/daisy/caf\ufffd\ufffd.jpg"


def test_unwritable_members_name_the_member_only(tmp_path, monkeypatch):
    from core.datasets import zip_import

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "secret" / "where"))

    data = io.BytesIO(write_zip(tmp_path / "ok.zip", dataset_members()).read_bytes())
    monkeypatch.setattr(zip_import, "open", fail, raising=False)  # the member's write
    with pytest.raises(DatasetError) as caught:
        extract_zip_dataset(zip_path_or_fileobj=data, dest_dir=tmp_path / "up")
    message = str(caught.value)
    assert message.startswith("Archive member 'flowers/") and "No space left" in message
    assert str(tmp_path) not in message
