"""Reading images and file metadata at URIs (`s3://`, `gs://`, `file://`) or local paths,
through `pyarrow.fs` (a pyarrow dependency Ray Data itself uses for the same URIs).

Every failure of the remote side — no credentials, no network, no such bucket, a scheme
pyarrow does not know — becomes one DatasetError naming the URI and what to check, instead
of pyarrow's OSError/ArrowInvalid (or a retry loop of several minutes for GCS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from core.base.errors import DatasetError

# GCS retries a failing request for 15 minutes by default; offline, that is a hang
GCS_RETRY_SECONDS = 20


def is_uri(location: str) -> bool:
    return "://" in location


def scheme_of(location: str) -> str:
    return location.split("://", 1)[0].lower() if is_uri(location) else ""


def filesystem_for(uri: str):
    """(pyarrow filesystem, path inside it) for a URI; DatasetError when it cannot open."""
    from pyarrow import fs

    try:
        if scheme_of(uri) in ("gs", "gcs"):
            return (fs.GcsFileSystem(retry_time_limit=timedelta(seconds=GCS_RETRY_SECONDS)),
                    uri.split("://", 1)[1])
        return fs.FileSystem.from_uri(uri)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for one cause
        raise remote_error(uri, error) from None


def remote_error(uri: str, error: BaseException) -> DatasetError:
    """The one message for a URI this machine cannot reach or read."""
    text = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    scheme = scheme_of(uri)
    if scheme in ("s3", "gs", "gcs"):
        fix = ("check the URI, this machine's network, and its credentials (s3: "
               "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws; gs: "
               "GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`); on "
               "a cluster every node needs them")
    elif scheme in ("", "file"):
        fix = "check the path; on a cluster it must be on a file system every node sees"
    else:
        fix = (f"use a scheme pyarrow.fs reads (s3://, gs://, file://) or a local path, not "
               f"{scheme}://")
    return DatasetError(f"Cannot read {uri}: {text}. Fix: {fix}.")


@dataclass(frozen=True)
class FileStat:
    """What a listing says about one file: enough to notice that it changed."""

    uri: str
    size: Optional[int]
    mtime_ns: Optional[int]


def stat_files(uris: Sequence[str]) -> list[FileStat]:
    """Size and modification time of each URI or local path, asked per file system in one
    call; DatasetError naming the first one that is not a file."""
    from pyarrow import fs

    groups: dict[tuple[str, str], list[int]] = {}
    for position, uri in enumerate(uris):
        groups.setdefault(_filesystem_key(uri), []).append(position)
    stats: list[Optional[FileStat]] = [None] * len(uris)
    for positions in groups.values():
        first = _as_uri(uris[positions[0]])
        filesystem, _ = filesystem_for(first)
        paths = [_path_in(filesystem, _as_uri(uris[p])) for p in positions]
        try:
            infos = filesystem.get_file_info(paths)
        except Exception as error:
            raise remote_error(first, error) from None
        for position, info in zip(positions, infos):
            if info.type != fs.FileType.File:
                what = "no such file" if info.type == fs.FileType.NotFound else "not a file"
                raise DatasetError(f"Cannot read {uris[position]}: {what}. Fix: correct or "
                                   f"remove it from the list (on a cluster the path must be one "
                                   f"every node sees).")
            stats[position] = FileStat(uri=uris[position], size=info.size,
                                       mtime_ns=info.mtime_ns)
    return [s for s in stats if s is not None]


def list_files(prefix: str) -> list[FileStat]:
    """Every file under a URI prefix (recursive), sorted, with size and mtime."""
    from pyarrow import fs

    filesystem, path = filesystem_for(prefix)
    try:
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.File:
            return [FileStat(prefix, info.size, info.mtime_ns)]
        if info.type != fs.FileType.Directory:
            raise DatasetError(f"Nothing at {prefix}. Fix: check the URI (and, for s3:// or "
                               f"gs://, this machine's credentials for it).")
        found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
    except DatasetError:
        raise
    except Exception as error:
        raise remote_error(prefix, error) from None
    head = prefix.split("://", 1)[0] + "://"
    if scheme_of(prefix) in ("", "file"):
        head = "file://"
    return sorted((FileStat(head + f.path, f.size, f.mtime_ns) for f in found
                   if f.type == fs.FileType.File), key=lambda s: s.uri)


def is_file(uri: str) -> bool:
    """Whether a file is at `uri` (DatasetError when the file system cannot be asked)."""
    from pyarrow import fs

    filesystem, path = filesystem_for(uri)
    try:
        return filesystem.get_file_info(path).type == fs.FileType.File
    except Exception as error:
        raise remote_error(uri, error) from None


def read_bytes(location: str) -> bytes:
    """A file's bytes from a URI or a local path."""
    if not is_uri(location):
        return Path(location).read_bytes()
    filesystem, path = filesystem_for(location)
    try:
        with filesystem.open_input_stream(path) as stream:
            return stream.read()
    except FileNotFoundError:
        raise
    except Exception as error:
        raise remote_error(location, error) from None


def read_image(location: str) -> np.ndarray:
    """uint8 H×W×3, decoded the way folder datasets are (`core.datasets.image_io`)."""
    from core.datasets.image_io import ImageReadError, decode_rgb, load_rgb

    if not is_uri(location):
        return load_rgb(location)
    try:
        data = read_bytes(location)
    except FileNotFoundError:
        raise ImageReadError(location, "file not found") from None
    return decode_rgb(data, name=location)


def _as_uri(location: str) -> str:
    return location if is_uri(location) else "file://" + str(Path(location).expanduser().absolute())


def _filesystem_key(location: str) -> tuple[str, str]:
    """Locations that one pyarrow file system serves: same scheme, same bucket."""
    uri = _as_uri(location)
    scheme, rest = uri.split("://", 1)
    return scheme.lower(), rest.split("/", 1)[0] if scheme.lower() not in ("file",) else ""


def _path_in(filesystem, uri: str) -> str:
    from pyarrow import fs

    if isinstance(filesystem, fs.LocalFileSystem):
        return uri.split("://", 1)[1]
    return filesystem.normalize_path(uri.split("://", 1)[1])
