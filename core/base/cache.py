"""An on-disk cache of named numpy arrays plus a JSON manifest, one folder per key.

Layout: <root>/<kind>/<key>/{<name>.npy..., manifest.json}. Entries appear atomically
(written to a temp folder, then renamed), carry per-file sizes and checksums, and are
opened with mmap. No pickle anywhere: arrays are loaded with allow_pickle=False.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from core.base.atomic import atomic_folder, remove_folder
from core.base.cache_budget import (enforce_public_budget, folder_size,  # noqa: F401
                                    mark_public_made, touch_if_public_made)
from core.base.hashing import hash_file
from core.base.jsonio import manifest_json
from core.base.paths import cache_root

MANIFEST = "manifest.json"
_verified: set[tuple[str, int, int]] = set()  # files whose checksum matched in this process


class CorruptEntryWarning(UserWarning):
    """A cache entry failed its checks and will be recomputed."""


@dataclass
class CacheEntry:
    path: Path
    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def _file_record(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "blake2b": hash_file(path)}


class ArrayCache:
    """Entries of one kind (transfer values, projections, ...) under a cache root."""

    def __init__(self, *, kind: str, root: str | Path | None = None) -> None:
        self.kind = kind
        self.dir = cache_root(root) / kind
        self.dir.mkdir(parents=True, exist_ok=True)

    def entry_path(self, key: str) -> Path:
        return self.dir / key

    def work_path(self, key: str) -> Path:
        """A folder for resumable work in progress on `key` (kept across crashes)."""
        return self.dir / f"{key}.partial"

    def exists(self, key: str) -> bool:
        return (self.entry_path(key) / MANIFEST).is_file()

    def load(self, key: str, *, mmap: bool = True, verify: bool = True) -> CacheEntry | None:
        """The entry, or None when missing. A damaged entry is removed (with a warning)."""
        path = self.entry_path(key)
        if not (path / MANIFEST).is_file():
            return None
        try:
            entry = self._read(path, mmap=mmap, verify=verify)
            touch_if_public_made(path)  # its last use, for the public cache budget
            return entry
        except Exception as error:  # any damage means: recompute, never load
            warnings.warn(f"Cache entry {path} is damaged ({error}); it will be recomputed.",
                          CorruptEntryWarning, stacklevel=2)
            self.remove(key)
            return None

    def _read(self, path: Path, *, mmap: bool, verify: bool) -> CacheEntry:
        manifest = json.loads((path / MANIFEST).read_text())
        arrays = {}
        for name, record in manifest["files"].items():
            file = path / name
            stat = file.stat()
            if stat.st_size != record["bytes"]:
                raise ValueError(f"{name} has {stat.st_size} bytes, manifest says {record['bytes']}")
            token = (str(file), stat.st_mtime_ns, stat.st_size)
            if verify and token not in _verified:
                if hash_file(file) != record["blake2b"]:
                    raise ValueError(f"{name} checksum mismatch")
                _verified.add(token)
            array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
            expected = record.get("shape")
            if expected is not None and list(array.shape) != expected:
                raise ValueError(f"{name} has shape {array.shape}, manifest says {expected}")
            arrays[name.removesuffix(".npy")] = array
        return CacheEntry(path=path, manifest=manifest, arrays=arrays)

    def save(self, key: str, *, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> CacheEntry:
        """Write an entry atomically; if another writer won the race, keep theirs. In a
        public app the entry is marked public-made and the public cache budget enforced
        (core.base.cache_budget), least recently used public entries out first."""
        from core.base.public import is_public

        public = is_public()
        written: dict[str, int] = {}  # file name → inode, hashed while writing
        with atomic_folder(self.entry_path(key), replace=False) as tmp:
            if public:
                mark_public_made(tmp)
            files = {}
            for name, array in arrays.items():
                file = tmp / f"{name}.npy"
                np.save(file, np.ascontiguousarray(array), allow_pickle=False)
                files[file.name] = {**_file_record(file), "shape": list(np.shape(array)),
                                    "dtype": str(np.asarray(array).dtype)}
                written[file.name] = file.stat().st_ino
            full = {**manifest, "key": key, "kind": self.kind, "files": files,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            (tmp / MANIFEST).write_text(manifest_json(full))
        _trust_written(self.entry_path(key), written)
        entry = self.load(key)
        if entry is None:
            raise RuntimeError(f"cache entry {key} vanished right after it was written")
        if public:
            enforce_public_budget(self.dir.parent, keep=[self.entry_path(key)])
        return entry

    def load_or_compute(self, key: str, compute) -> tuple[CacheEntry, str]:
        """The entry for `key` and "hit", or compute it once and return it with "miss".

        `compute()` returns (arrays, manifest). It runs under the key's inter-process lock, so
        concurrent callers compute once; a caller that waited reads the winner's entry.
        """
        entry = self.load(key)
        if entry is not None:
            return entry, "hit"
        with self.lock(key):
            entry = self.load(key)  # another process may have finished while we waited
            if entry is not None:
                return entry, "hit"
            try:
                arrays, manifest = compute()
            except BaseException:
                self._count_partial_if_public(key)  # stopped: its finished chunks stay
                raise
            return self.save(key, arrays=arrays, manifest=manifest), "miss"

    def _count_partial_if_public(self, key: str) -> None:
        """Work a public visitor's stopped job left (work_path) counts toward the public
        cache budget like an entry, so stopped extractions cannot fill the disk."""
        from core.base.public import is_public

        work = self.work_path(key)
        if is_public() and work.is_dir():
            mark_public_made(work)
            enforce_public_budget(self.dir.parent, keep=[work])

    def remove(self, key: str) -> None:
        remove_folder(self.entry_path(key))  # renamed first: no reader sees half of it

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive inter-process lock on `key` (blocks until it is free)."""
        lock_file = self.dir / f"{key}.lock"
        with open(lock_file, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def keys(self) -> list[str]:
        return sorted(p.name for p in self.dir.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())

    def manifest(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.entry_path(key) / MANIFEST).read_text())
        except (OSError, ValueError):
            return None


def cache_summary(root: str | Path | None = None) -> dict[str, Any]:
    """Location, total size and entry count per kind (for the CLI and the dashboard)."""
    base = cache_root(root)
    kinds = {}
    for kind_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        entries = [p for p in kind_dir.iterdir() if p.is_dir() and (p / MANIFEST).is_file()]
        kinds[kind_dir.name] = {"entries": len(entries), "bytes": folder_size(kind_dir)}
    return {"path": str(base), "bytes": sum(k["bytes"] for k in kinds.values()), "kinds": kinds}


def clear_cache(root: str | Path | None = None) -> int:
    """Delete every cache entry under the root (keeps the folder); returns bytes freed."""
    from core.base.public import refuse_if_public

    refuse_if_public("Clearing the cache", why="it is shared by every visitor")
    base = cache_root(root)
    freed = 0
    for child in base.iterdir():
        if child.name == ".gitkeep":
            continue
        if child.is_dir():
            freed += folder_size(child)
            shutil.rmtree(child, ignore_errors=True)
        else:
            freed += child.stat().st_size
            child.unlink(missing_ok=True)
    return freed


def _trust_written(folder: Path, written: dict[str, int]) -> None:
    """Count the files this process just hashed while writing them as verified, so opening
    the entry right after does not hash them again (hundreds of MB for 70,000 values). Only
    the same files (inode): a writer that won the race keeps its own, which are checked."""
    for name, inode in written.items():
        try:
            stat = (folder / name).stat()
        except OSError:
            continue
        if stat.st_ino == inode:
            _verified.add((str(folder / name), stat.st_mtime_ns, stat.st_size))
