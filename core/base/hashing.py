"""Stable hashes for cache keys and fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np


def new_hasher() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=16)


def hash_key(fields: dict[str, Any]) -> str:
    """Hash a dict of everything that changes an output into a short hex key."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def hash_array(array: np.ndarray, hasher=None) -> str:
    hasher = hasher or new_hasher()
    array = np.ascontiguousarray(array)
    hasher.update(f"{array.dtype.str}{array.shape}".encode())
    hasher.update(memoryview(array).cast("B"))
    return hasher.hexdigest()


def hash_file(path: str | Path, hasher=None, chunk: int = 1 << 20) -> str:
    hasher = hasher or new_hasher()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            hasher.update(block)
    return hasher.hexdigest()
