"""Where visitors' uploads go: one folder per app session, removed when the session ends or
after the public policy's time limit, so nothing one visitor uploads is seen by another;
all of them together kept under the policy's byte budget (`upload_room`); and how messages
name a file in an upload (as inside the visitor's .zip)."""

from __future__ import annotations

import math
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.base import public as public_rules  # policy() looked up per call: tests replace it
from core.base.cache_budget import folder_size
from core.base.paths import cache_root
from core.base.public import PublicModeError, uploads_root

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
# a session's lease on its folder: this file's modification time is the session's last use
# (file dates of the upload itself say when it was made, not whether it is still open)
LAST_USE = ".last_use"
TOUCH_INTERVAL_SECONDS = 60.0  # a session renews its lease at most this often


def session_uploads_dir(*, session_id: str) -> Path:
    """The session's own uploads folder (created on first use).

    In a public app it lies under the public uploads root, the only place core reads
    uploaded datasets from; locally uploads are shared under <cache>/uploads as before.
    """
    if not _SESSION_ID.match(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    if public_rules.policy().enabled:
        folder = uploads_root(cache_root()) / session_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LAST_USE).touch()
        return folder
    folder = cache_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def touch_session_uploads(*, session_id: str, now: float | None = None) -> None:
    """Renew a public session's lease on its uploads folder (if it has one): prune_uploads
    keeps a folder its session used within the time limit, however old its files are."""
    if not _SESSION_ID.match(session_id):
        return
    stamp = uploads_root(cache_root()) / session_id / LAST_USE
    now = time.time() if now is None else now
    try:
        if now - stamp.stat().st_mtime < TOUCH_INTERVAL_SECONDS:
            return
    except FileNotFoundError:
        pass  # an older folder without a lease yet, or no folder
    try:
        stamp.touch()
        os.utime(stamp, (now, now))
    except FileNotFoundError:  # no uploads folder (pruned, or never made): nothing to keep
        pass


def remove_session_uploads(*, session_id: str) -> None:
    """Delete a public session's uploads (when the session ends)."""
    if _SESSION_ID.match(session_id):
        shutil.rmtree(uploads_root(cache_root()) / session_id, ignore_errors=True)


def prune_uploads(*, max_age_seconds: float | None = None, now: float | None = None) -> int:
    """Remove public sessions' upload folders not used for longer than the limit (default:
    the policy's upload_ttl_seconds): a session that has gone (Streamlit says nothing when a
    tab closes) stops renewing its lease. Returns how many were removed."""
    limit = (public_rules.policy().upload_ttl_seconds if max_age_seconds is None
             else max_age_seconds)
    now = time.time() if now is None else now
    removed = 0
    for folder in session_folders(uploads_root(cache_root())):
        if now - _last_touched(folder) > limit:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


# bytes promised to uploads being unpacked right now (not on disk yet), so two visitors
# uploading at once cannot both pass the budget on the same free space
_reserved: dict[object, int] = {}
_room_lock = threading.Lock()


@contextmanager
def upload_room(*, needed: int, folder: Path, now: float | None = None) -> Iterator[None]:
    """Hold `needed` bytes of the public uploads budget (PublicPolicy.max_public_upload_bytes,
    all sessions' folders together: uploads and the exports written beside them) for the
    block that unpacks an upload or writes an export into `folder` (its session's). Over
    budget, other sessions' folders go least recently used first, but never one used within
    `upload_protect_seconds` (nor `folder`'s own session); when that cannot make room,
    PublicModeError says when to try again. Does nothing outside a public app."""
    rules = public_rules.policy()
    if not rules.enabled:
        yield
        return
    root = uploads_root(cache_root())
    own = _session_folder(Path(folder), root)
    ticket = object()
    with _room_lock:
        now = time.time() if now is None else now
        folders = sorted((_last_touched(f), folder_size(f), f) for f in session_folders(root))
        used = sum(size for _, size, _ in folders) + sum(_reserved.values())
        waits = []  # (seconds until a folder may go, its bytes), for the refusal
        for last, size, other in folders:  # least recently used first
            if used + needed <= rules.max_public_upload_bytes:
                break
            if other == own:
                continue
            if now - last < rules.upload_protect_seconds:
                waits.append((last + rules.upload_protect_seconds - now, size))
                continue
            shutil.rmtree(other, ignore_errors=True)
            used -= size
        if used + needed > rules.max_public_upload_bytes:
            raise PublicModeError(_full_message(used + needed - rules.max_public_upload_bytes,
                                                waits, rules))
        _reserved[ticket] = needed
    try:
        yield
    finally:
        with _room_lock:
            _reserved.pop(ticket, None)


def _full_message(over: int, waits: list[tuple[float, int]], rules) -> str:
    """The refusal: how long until enough folders leave their protection window to make room
    (a session that keeps using its upload renews it, so this is the earliest)."""
    freed, seconds = 0, float(rules.upload_protect_seconds)
    for wait, size in sorted(waits):
        freed += size
        if freed >= over:
            seconds = wait
            break
    minutes = max(1, math.ceil(seconds / 60))
    return (f"The demo holds too many uploads right now (all visitors' uploads and exported "
            f"files together are kept under {rules.max_public_upload_bytes / 1e9:g} GB); try "
            f"again in {minutes} minute{'s' if minutes != 1 else ''}, or run Transfer Lens on "
            f"your own machine.")


def session_folders(root: Path) -> list[Path]:
    """The folders directly under `root`, symlinks left out (none when it does not exist
    yet): the sessions' folders under the uploads root, a session's exports under its own."""
    try:
        return [f for f in root.iterdir() if f.is_dir() and not f.is_symlink()]
    except FileNotFoundError:
        return []


def _session_folder(folder: Path, root: Path) -> Path | None:
    """The session folder (a child of `root`) that `folder` lies in, or None."""
    for base in {root, root.resolve()}:
        try:
            parts = folder.relative_to(base).parts
        except ValueError:
            continue
        return root / parts[0] if parts else None
    return None


def _last_touched(folder: Path) -> float:
    """The session's last use of the folder (its lease); for a folder without one, the
    newest of its file dates."""
    stamp = folder / LAST_USE
    if stamp.is_file():
        return stamp.stat().st_mtime
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*")])


def shown_path(path: str | Path, *, root: str | Path) -> str:
    """`path` as a message shows it: in a public app relative to what the visitor gave,
    elsewhere as it is. A path in an upload is named as inside the visitor's .zip
    (`bags/cats/3.png`; a folder ends in "/", the .zip's top level is "the .zip"), never by
    the server's folders or the session's token; any other path relative to the dataset
    `root` (the root itself: "the dataset folder")."""
    if not public_rules.policy().enabled:
        return str(path)
    inside_zip = _inside_upload(Path(path))
    if inside_zip is not None:
        if not inside_zip.parts:
            return "the .zip"
        return inside_zip.as_posix() + ("/" if Path(path).is_dir() else "")
    try:
        relative = Path(path).relative_to(root)
    except ValueError:
        return Path(path).name
    return relative.as_posix() if relative.parts else "the dataset folder"


def shown_subject(path: str | Path, *, root: str | Path) -> str:
    """shown_path at the start of a sentence ("The .zip has…", "bags/ has…")."""
    text = shown_path(path, root=root)
    return text[0].upper() + text[1:] if text.startswith("the ") else text


def _inside_upload(path: Path) -> Path | None:
    """`path` relative to the extracted .zip it lies in (an upload is extracted into
    public_uploads/<session token>/<content key>/), or None when it is in no upload."""
    root = uploads_root(cache_root())
    for base in {root, root.resolve()}:
        try:
            parts = path.relative_to(base).parts
        except ValueError:
            continue
        return Path(*parts[2:]) if len(parts) >= 2 else Path()
    return None
