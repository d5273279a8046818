"""Where visitors' uploads go: one folder per app session, removed when the session ends or
after the public policy's time limit, so nothing one visitor uploads is seen by another."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from core.base.paths import cache_root
from core.base.public import policy, uploads_root

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


def session_uploads_dir(*, session_id: str) -> Path:
    """The session's own uploads folder (created on first use).

    In a public app it lies under the public uploads root, the only place core reads
    uploaded datasets from; locally uploads are shared under <cache>/uploads as before.
    """
    if not _SESSION_ID.match(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    if policy().enabled:
        folder = uploads_root(cache_root()) / session_id
    else:
        folder = cache_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_session_uploads(*, session_id: str) -> None:
    """Delete a public session's uploads (when the session ends)."""
    if _SESSION_ID.match(session_id):
        shutil.rmtree(uploads_root(cache_root()) / session_id, ignore_errors=True)


def prune_uploads(*, max_age_seconds: float | None = None, now: float | None = None) -> int:
    """Remove public sessions' upload folders untouched for longer than the limit (default:
    the policy's upload_ttl_seconds); returns how many were removed."""
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
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*")])
