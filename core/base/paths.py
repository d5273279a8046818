"""Where things live on disk."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ENV = "TRANSFER_LENS_CACHE"


def cache_root(override: str | Path | None = None) -> Path:
    """The cache folder: an explicit override, else $TRANSFER_LENS_CACHE, else <repo>/cache."""
    chosen = override or os.environ.get(CACHE_ENV) or REPO_ROOT / "cache"
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
