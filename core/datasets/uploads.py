"""Where visitors' uploads go: one folder per app session, removed when the session ends or
after the public policy's time limit, so nothing one visitor uploads is seen by another;
and how messages name a file in an upload (as inside the visitor's .zip)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from core.base.paths import cache_root
from core.base.public import policy, uploads_root

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
    if policy().enabled:
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
    root = uploads_root(cache_root())
    if not root.is_dir():
        return 0
    limit = policy().upload_ttl_seconds if max_age_seconds is None else max_age_seconds
    now = time.time() if now is None else now
    removed = 0
    for folder in root.iterdir():
        if folder.is_dir() and now - _last_touched(folder) > limit:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


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
    if not policy().enabled:
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
