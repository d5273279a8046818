"""Safe extraction of an uploaded .zip holding a class-folder image dataset."""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from core.base.atomic import atomic_folder
from core.base.errors import DatasetError
from core.base.hashing import new_hasher
from core.datasets.uploads import upload_room

# Bumped when extraction rules change, so old extractions are not reused under new rules.
_EXTRACT_VERSION = b"zip-import-v2\0"
_CHUNK = 1 << 20
# Compression ratio is only judged on members at least this big: a small blank BMP can
# legitimately deflate 1000:1, and small members cannot inflate to much anyway
# (max_total_bytes caps the total).
RATIO_MIN_BYTES = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
# Member names: what every common file system takes (255 bytes a component) and a depth no
# dataset needs; longer ones failed as OSErrors deep in extraction.
MAX_NAME_PART_BYTES = 255
MAX_NAME_BYTES = 1_024
MAX_NAME_DEPTH = 32
# Every entry counts (folders, hidden files, __MACOSX twins), since each costs a parse and
# a check: Finder's archives hold about two entries per file plus one per folder.
ENTRIES_PER_FILE = 2
EXTRA_ENTRIES = 1_000
# A central-directory record is 46 bytes plus the name, extra field and comment: bounded
# by this, the directory is never parsed into memory beyond max_entries' worth.
MAX_RECORD_BYTES = 46 + MAX_NAME_BYTES + 2 * 1_024


class UnsafeArchiveError(DatasetError):
    """A zip member breaks a safety rule (path, symlink, size, count or ratio limit)."""

    def __init__(self, member: str | None, problem: str) -> None:
        self.member = member
        self.problem = problem
        subject = "it" if member is None else f"member {member!r}"
        super().__init__(f"Refusing to extract the archive: {subject} {problem}")


def extract_zip_dataset(*, zip_path_or_fileobj: str | Path | BinaryIO, dest_dir: str | Path,
                        max_total_bytes: int = 2_000_000_000, max_files: int = 200_000,
                        max_ratio: float = 200) -> Path:
    """Extract a dataset .zip into `dest_dir/<content hash>/` and return the dataset root.

    Every member is checked before anything is written (paths, name length and depth,
    type, declared sizes, count of every entry, ratio; the entry count and directory size
    from the end record before the directory is parsed; in a public app, room in the budget
    of all visitors' uploads, core.datasets.uploads.upload_room) and bytes are counted again
    while streaming, since declared sizes can lie. Messages name members by their names in the
    archive, never by the server's folders.
    Extraction goes to a temporary folder renamed into place, so a half-extracted archive is
    never visible and re-uploading the same bytes returns the same folder without work.
    The root is the archive's single top-level folder if it has one.
    """
    dest = Path(dest_dir)
    max_total_bytes, max_files = _public_limits(dest, max_total_bytes, max_files)
    dest.mkdir(parents=True, exist_ok=True)
    with _open_source(zip_path_or_fileobj, dest) as source:
        key = _content_key(source)
        max_entries = max_entries_for(max_files)
        _check_directory_size(source, max_entries=max_entries)
        try:
            archive = zipfile.ZipFile(source)
        except UnicodeDecodeError as exc:
            # the name's "UTF-8" flag is set but its bytes are not UTF-8
            name = exc.object.decode("utf-8", "replace") if isinstance(exc.object, bytes) else "?"
            raise UnsafeArchiveError(name, "has a name flagged as UTF-8 that is not valid "
                                           "UTF-8. Fix: re-create the .zip with your system's "
                                           "'Compress' (or rename the file).") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise DatasetError(f"The upload is not a readable .zip file ({exc}). Create it "
                               "with your system's 'Compress' or 'Send to > Compressed folder'."
                               ) from None
        with archive:
            members = _plan(archive, max_total_bytes=max_total_bytes, max_files=max_files,
                            max_ratio=max_ratio, max_entries=max_entries)
            final = dest / key
            if not final.is_dir():
                # a public app's uploads together stay within their budget (checked here,
                # from the declared sizes, before a byte is written)
                with upload_room(needed=sum(info.file_size for info, _ in members),
                                 folder=dest):
                    _extract_atomically(archive, members, final,
                                        max_total_bytes=max_total_bytes, max_ratio=max_ratio)
    return _dataset_root(final)


@contextmanager
def _open_source(source: str | Path | BinaryIO, dest: Path) -> Iterator[BinaryIO]:
    """A seekable binary handle on the upload; closes it only if we opened it."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise DatasetError(f"Zip file {path} does not exist. Check the path.")
        with open(path, "rb") as handle:
            yield handle
    elif getattr(source, "seekable", lambda: False)():
        source.seek(0)
        yield source
    else:
        # zipfile must seek (the directory is at the end), so spool a pipe to disk first.
        with tempfile.TemporaryFile(dir=dest) as handle:
            shutil.copyfileobj(source, handle, _CHUNK)
            handle.seek(0)
            yield handle


def _content_key(handle: BinaryIO) -> str:
    hasher = new_hasher()
    hasher.update(_EXTRACT_VERSION)
    handle.seek(0)
    while block := handle.read(_CHUNK):
        hasher.update(block)
    handle.seek(0)
    return hasher.hexdigest()


def max_entries_for(max_files: int) -> int:
    """How many entries of any kind (folders and hidden ones too) an archive of at most
    `max_files` files may have."""
    return ENTRIES_PER_FILE * max_files + EXTRA_ENTRIES


def _check_directory_size(handle: BinaryIO, *, max_entries: int) -> None:
    """Refuse, from the end record alone, an archive declaring more than `max_entries`
    entries or a central directory larger than they need (zipfile would parse all of it)."""
    try:
        end = zipfile._EndRecData(handle)  # the stdlib's own end-record reader
    except (OSError, EOFError, struct.error):
        end = None
    finally:
        handle.seek(0)
    if end is None:
        return  # not a zip: ZipFile says so in the usual words
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if entries > max_entries:
        raise UnsafeArchiveError(None, f"has {entries:,} entries (folders and hidden files "
                                       f"count too), over the limit of {max_entries:,}")
    if size > max_entries * MAX_RECORD_BYTES:
        raise UnsafeArchiveError(None, f"has a {size:,}-byte directory of its entries, over "
                                       f"the {max_entries * MAX_RECORD_BYTES:,} bytes "
                                       f"{max_entries:,} entries need")


def _check_name(name: str) -> None:
    """Bounded name: bytes per component and in all, and folder depth."""
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_NAME_BYTES:
        raise UnsafeArchiveError(_short(name), f"has a {len(encoded):,}-byte name, over "
                                                  f"the limit of {MAX_NAME_BYTES:,}")
    parts = encoded.split(b"/")
    if len([p for p in parts if p]) > MAX_NAME_DEPTH:
        raise UnsafeArchiveError(_short(name), f"is {len(parts) - 1} folders deep, over "
                                                  f"the limit of {MAX_NAME_DEPTH}")
    longest = max(len(p) for p in parts)
    if longest > MAX_NAME_PART_BYTES:
        raise UnsafeArchiveError(_short(name), f"has a {longest}-byte file or folder name, "
                                               f"over the limit of {MAX_NAME_PART_BYTES} bytes")


def _short(name: str, keep: int = 120) -> str:
    """A member name cut for a message (a refused name can be thousands of characters)."""
    return name if len(name) <= keep else name[:keep - 40] + "…" + name[-39:]


def _safe_parts(name: str) -> list[str] | None:
    """Path components of a member name, or None for entries to skip; raises if unsafe."""
    _check_name(name)
    if "\0" in name:
        raise UnsafeArchiveError(name, "has a NUL character in its name")
    if "\\" in name:
        # Windows treats backslash as a separator, so '..\\x' could escape on extraction there.
        raise UnsafeArchiveError(name, "uses backslashes in its path (zip paths must use '/')")
    if name.startswith("/"):
        raise UnsafeArchiveError(name, "has an absolute path")
    if _DRIVE.match(name):
        raise UnsafeArchiveError(name, "starts with a drive letter")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(name, "contains '..' (path traversal outside the target folder)")
    if not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return None  # macOS resource forks, .DS_Store and other hidden files
    return parts


def _plan(archive: zipfile.ZipFile, *, max_total_bytes: int, max_files: int,
          max_ratio: float, max_entries: int) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Check every member against the rules using the central directory; list the files."""
    members: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    seen: set[str] = set()
    total = 0
    entries = archive.infolist()
    if len(entries) > max_entries:  # the end record understated them
        raise UnsafeArchiveError(None, f"has {len(entries):,} entries (folders and hidden "
                                       f"files count too), over the limit of {max_entries:,}")
    for info in entries:
        parts = _safe_parts(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(info.filename, "is a symbolic link; symlinks are not allowed")
        # Only Unix-made archives keep a file type in the high bits; others may hold noise.
        if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(info.filename, "is a special file (device, FIFO or socket)")
        if parts is None or info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise UnsafeArchiveError(info.filename, "is encrypted; upload an archive without a "
                                                    "password")
        key = "/".join(parts).casefold()  # case-insensitive file systems would merge these
        if key in seen:
            raise UnsafeArchiveError(info.filename, "appears twice in the archive")
        seen.add(key)
        members.append((info, tuple(parts)))
        if len(members) > max_files:
            raise UnsafeArchiveError(info.filename, f"exceeds the limit of {max_files:,} files")
        total += info.file_size
        if total > max_total_bytes:
            raise UnsafeArchiveError(info.filename, f"takes the uncompressed total past the "
                                                    f"limit of {max_total_bytes:,} bytes")
        _check_ratio(info.filename, info.file_size, info.compress_size, max_ratio)
    if not members:
        raise DatasetError("The archive contains no files (hidden files and __MACOSX are "
                           "ignored). Zip the dataset folder itself.")
    return members


def _check_ratio(name: str, size: int, compressed: int, max_ratio: float) -> None:
    if size >= RATIO_MIN_BYTES and size > max_ratio * max(compressed, 1):
        raise UnsafeArchiveError(name, f"expands {size / max(compressed, 1):,.0f}:1, beyond the "
                                       f"compression ratio limit of {max_ratio:g}:1 (zip bomb?)")


def _extract_atomically(archive: zipfile.ZipFile,
                        members: list[tuple[zipfile.ZipInfo, tuple[str, ...]]], final: Path, *,
                        max_total_bytes: int, max_ratio: float) -> None:
    # replace=False: another upload of the same bytes that finished first left an identical copy
    with atomic_folder(final, replace=False) as temp:
        temp_resolved = temp.resolve()
        total = 0
        for info, parts in members:
            target = temp.joinpath(*parts)
            # Belt and braces after _safe_parts: the resolved target must stay inside temp.
            if not target.resolve().is_relative_to(temp_resolved):
                raise UnsafeArchiveError(info.filename, "resolves outside the target folder")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise UnsafeArchiveError(info.filename, "needs a folder where another member "
                                                        "is a file") from None
            except OSError as exc:
                raise _unwritable(info.filename, exc) from None
            total += _stream_member(archive, info, target, already=total,
                                    max_total_bytes=max_total_bytes, max_ratio=max_ratio)


def _stream_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, *,
                   already: int, max_total_bytes: int, max_ratio: float) -> int:
    """Copy one member, counting real bytes against the size, total and ratio limits."""
    written = 0
    try:
        # "xb" refuses to overwrite anything (including a planted symlink).
        with archive.open(info) as src, open(target, "xb") as out:
            while block := src.read(_CHUNK):
                written += len(block)
                if written > info.file_size:
                    raise UnsafeArchiveError(info.filename, f"inflates past its declared size of "
                                                            f"{info.file_size:,} bytes")
                if already + written > max_total_bytes:
                    raise UnsafeArchiveError(info.filename, "takes the uncompressed total past "
                                                            f"the limit of {max_total_bytes:,} "
                                                            "bytes")
                _check_ratio(info.filename, written, info.compress_size, max_ratio)
                out.write(block)
    except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError) as exc:
        # Bad CRC, truncated data, unsupported compression method, ...
        raise DatasetError(f"Archive member {info.filename!r} is corrupt or unsupported ({exc}). "
                           "Re-create the .zip and upload it again.") from None
    except FileExistsError:
        raise UnsafeArchiveError(info.filename, "clashes with another member's path") from None
    except OSError as exc:
        raise _unwritable(info.filename, exc) from None
    return written


def _unwritable(member: str, exc: OSError) -> DatasetError:
    """A member the file system refused (strerror only: the server's folder stays out)."""
    return DatasetError(f"Archive member {_short(member)!r} cannot be written here "
                        f"({exc.strerror or type(exc).__name__}). Rename it or re-create the "
                        f".zip.")


def _dataset_root(folder: Path) -> Path:
    """The single top-level folder when the archive wraps the dataset in one.

    A lone folder without sub-folders is a single class, not a wrapper: keeping the outer
    folder lets the loader say "only one class" instead of "no class sub-folders".
    """
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and any(e.is_dir() for e in entries[0].iterdir()):
        return entries[0]
    return folder


def _public_limits(dest: Path, max_total_bytes: int, max_files: int) -> tuple[int, int]:
    """In a public app: extract only into the uploads folder, within the upload limits."""
    from core.base.paths import cache_root
    from core.base.public import is_inside, policy, refuse_if_public, uploads_root

    rules = policy()
    if not rules.enabled:
        return max_total_bytes, max_files
    if not is_inside(dest, uploads_root(cache_root())):
        refuse_if_public(f"Extracting an archive into {dest}",
                         why="uploads are kept in each visitor's own folder")
    return min(max_total_bytes, rules.max_upload_bytes), min(max_files, rules.max_upload_images)
