"""A size budget for what public visitors add to the cache, least recently used out first.

In a public app every cache entry a visitor's request writes is marked public-made (an
empty PUBLIC_MARK file inside it, whose modification time is the entry's last use), and so
is the work folder (`<key>.partial`: finished chunks) a stopped public job leaves. Entries
made otherwise (the operator's precomputed cache) carry no mark and are never evicted, and
a published bundle lives outside the cache altogether. After each public write, marked
entries beyond PublicPolicy.max_public_cache_bytes, or beyond max_public_cache_entries in
number (each public write walks every marked entry: many tiny ones, such as a class
activation map per gallery page, would otherwise make every write slower without bound),
are removed, least recently used first, skipping any in use: used within IN_USE_SECONDS (a
session may still hold it memory-mapped and read it again) or locked by a writer.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from core.base.atomic import remove_folder

PUBLIC_MARK = ".public"
IN_USE_SECONDS = 900.0


@dataclass(frozen=True)
class MarkedEntry:
    path: Path
    bytes: int
    last_used: float  # epoch seconds


def mark_public_made(folder: Path) -> None:
    """Mark `folder` (an entry being written) as made by a public visitor, used now."""
    (folder / PUBLIC_MARK).touch()


def touch_if_public_made(folder: Path) -> None:
    """Record a use of `folder` when it is public-made (one stat otherwise)."""
    mark = folder / PUBLIC_MARK
    try:
        os.utime(mark)
    except OSError:
        pass  # unmarked (the operator's) or just evicted: nothing to record


def folder_size(path: Path) -> int:
    """Bytes of the files under `path`. A writer may rename its temp folder into place (or a
    file may be deleted) during the walk: what vanishes is skipped, not an error."""
    total = 0
    for folder, _, files in os.walk(path):  # os.walk skips a folder gone before its listing
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def marked_entries(root: Path) -> list[MarkedEntry]:
    """Every public-made entry under the cache `root` (<kind>/<key>/), least recently used
    first."""
    found = []
    for mark in root.glob(f"*/*/{PUBLIC_MARK}"):
        folder = mark.parent
        if folder.name.startswith("."):
            continue  # a temporary or deleted folder
        try:
            found.append(MarkedEntry(folder, folder_size(folder), mark.stat().st_mtime))
        except OSError:
            continue  # removed meanwhile
    return sorted(found, key=lambda e: e.last_used)


def _locked(entry: Path) -> bool:
    """Whether a writer holds the entry's lock (ArrayCache.lock's file beside it; a
    `<key>.partial` work folder shares its key's lock)."""
    lock = entry.parent / f"{entry.name.removesuffix('.partial')}.lock"
    if not lock.exists():
        return False
    try:
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        return True
    return False


def enforce_public_budget(root: Path, *, budget: int | None = None,
                          max_entries: int | None = None, keep: Iterable[Path] = (),
                          now: float | None = None) -> list[Path]:
    """Remove public-made entries under `root`, least recently used first, until they fit
    `budget` bytes and `max_entries` entries (defaults: PublicPolicy's
    max_public_cache_bytes and max_public_cache_entries); never one in `keep`, used within
    IN_USE_SECONDS, or locked. Returns the removed folders."""
    from core.base.public import policy

    rules = policy()
    budget = rules.max_public_cache_bytes if budget is None else budget
    max_entries = rules.max_public_cache_entries if max_entries is None else max_entries
    now = time.time() if now is None else now
    keep = {Path(p).resolve() for p in keep}
    entries = marked_entries(root)
    total, count = sum(e.bytes for e in entries), len(entries)
    removed = []
    for entry in entries:
        if total <= budget and count <= max_entries:
            break
        if (entry.path.resolve() in keep or now - entry.last_used < IN_USE_SECONDS
                or _locked(entry.path)):
            continue
        if not remove_folder(entry.path):
            continue
        total, count = total - entry.bytes, count - 1
        removed.append(entry.path)
    return removed
