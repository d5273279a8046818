"""Atomic writes, all the same way: write beside the target, fsync, then rename, so a reader
sees the old file (or folder) or the new one, and a crash leaves no half-written one.

- `atomic_write_bytes`, `atomic_save_npy`, `atomic_save_npz`: one file from data in memory.
- `atomic_path`: for writers that want a path rather than a handle (Keras `model.save`,
  `save_weights`): a temp path with the target's suffixes, renamed onto the target after.
- `atomic_folder`: a folder of files (cache entries, saved heads), renamed into place whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


MANY_FILES = 256  # past this, one os.sync() beats an fsync per file (~1 ms each)


def _fsync_tree(folder: Path) -> None:
    """Flush every file under `folder` to disk before it is renamed into place."""
    files = [file for file in folder.rglob("*") if file.is_file()]
    if len(files) > MANY_FILES:  # e.g. an extracted image dataset
        os.sync()
        return
    for file in files:
        _fsync_file(file)


def _fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (not every file system lets a folder be fsynced)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path` ending in the same suffixes (Keras checks them); once
    the block has written it, fsync it and rename it onto `path`. On error nothing changes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(path.suffixes[-2:])  # ".weights.h5", ".keras", ".npz"
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffixes}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    _atomic_write(Path(path), lambda handle: handle.write(data))


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    _atomic_write(Path(path), lambda handle: np.save(handle, np.ascontiguousarray(array),
                                                     allow_pickle=False))


def atomic_save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    _atomic_write(Path(path), lambda handle: np.savez(handle, **arrays))


@contextmanager
def atomic_folder(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temp folder beside `path` to fill; after the block, fsync its files and rename
    it into place. An existing folder at `path` is replaced (`replace=True`: moved aside first,
    so readers never see a mix of old and new files) or kept (`replace=False`: another writer
    of the same content won the race). On error nothing changes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        _fsync_tree(tmp)
        if replace and path.exists():
            old = path.parent / f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.old"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, path)
            except OSError:  # the folder appeared meanwhile: keep the other writer's copy
                if replace or not path.is_dir():
                    raise
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_folder(path: str | Path) -> bool:
    """Remove the folder `path` as one step for readers: renamed aside (a hidden name beside
    it) first, then deleted, so nobody sees it half-removed. False when it was not there."""
    path = Path(path)
    doomed = path.parent / f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.deleted"
    try:
        os.rename(path, doomed)
    except OSError:
        return False
    shutil.rmtree(doomed, ignore_errors=True)
    return True
