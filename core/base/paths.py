"""Where things live on disk."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ENV = "TRANSFER_LENS_CACHE"


def cache_root(override: str | Path | None = None) -> Path:
    """The cache folder: an explicit override, else $TRANSFER_LENS_CACHE, else <repo>/cache."""
    default = os.environ.get(CACHE_ENV) or REPO_ROOT / "cache"
    if override and Path(override).expanduser() != Path(default).expanduser():
        from core.base.public import refuse_if_public

        refuse_if_public("Choosing the cache location", why="the operator sets it")
    chosen = override or default
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
