"""Converted models for the non-TensorFlow runtimes, cached once.

A converted network is cached like any entry (`core.base.cache`: kind "converted_models", a
hashed dict of everything that changes it — what was converted, the runtime and its
converter's version — written atomically, checked by checksum, no pickle), as byte arrays
the runtime reads from memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.base.cache import ArrayCache
from core.base.hashing import hash_key

KIND = "converted_models"


def cached_conversion(*, fields: dict[str, Any], convert: Callable[[], dict[str, bytes]],
                      cache_dir: str | Path | None = None,
                      tensorflow: bool = True) -> dict[str, bytes]:
    """The files `convert()` makes for `fields` (name → bytes), from the cache or converted
    once and cached. TensorFlow is imported (quietly) only for a conversion, and only when
    `tensorflow` says the conversion needs it."""
    cache = ArrayCache(kind=KIND, root=cache_dir)

    def compute():
        if tensorflow:
            from core.base.tf_env import import_tensorflow

            import_tensorflow()
        files = convert()
        return ({name: np.frombuffer(data, np.uint8).copy() for name, data in files.items()},
                {"key_fields": fields})

    entry, _ = cache.load_or_compute(hash_key(fields), compute)
    return {name: np.asarray(array).tobytes() for name, array in entry.arrays.items()}
