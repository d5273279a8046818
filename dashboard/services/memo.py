"""The process-wide memo: results of core calls that core already caches on disk.

`st.cache_resource` holds datasets (shared, read-only); this memo holds transfer values,
projections, kNN graphs and figures, so a rerun does not even re-open them; the disk cache
still makes a fresh process (or another user) fast.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import streamlit as st

from core.base.paths import cache_root
from dashboard.services.footprint import footprint

# The memo's bounds, declared once. Bytes are what a value keeps resident (footprint.py:
# arrays, pages of mapped cache files included, figures' dicts). Measured with the memory
# probe of benchmarks/workers/public_soak_worker.py (2026-12-07, under load): the public
# demo's views of its bundle hold ~27 MB here (its Data quality results 26 MB of it); a
# 10,000-image workspace (the public limit) adds ~57 MB (values 49.5, kNN graph 6.9). So a
# public server keeps the bundle's and at least three such workspaces, where the count
# alone kept ~10 of them (~5 entries each: ~0.6 GB); a local one keeps a 70,000-image
# Fashion-MNIST workspace (values 358 MB) with room to spare.
MEMO_ITEMS = 48
MEMO_BYTES = {"public": 256 * 2**20, "local": 1024 * 2**20}


class Memo:
    """A thread-safe LRU map shared by all sessions of this server process, bounded by
    items and by bytes (`size` of each value, taken once when it is put): the least
    recently used values go first, and a value larger than the whole budget is returned
    but not kept."""

    def __init__(self, *, max_items: int, max_bytes: int,
                 size: Callable[[Any], int] = lambda value: footprint(value).total) -> None:
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self.max_items, self.max_bytes = max_items, max_bytes
        self.nbytes = 0  # the kept values' sizes, summed

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: Any) -> Any:
        size = self._size(value)  # outside the lock: a large value takes milliseconds
        with self._lock:
            self._drop(key)
            if size <= self.max_bytes:
                self._items[key] = (value, size)
                self.nbytes += size
            while len(self._items) > self.max_items or self.nbytes > self.max_bytes:
                self._drop(next(iter(self._items)))
        return value

    def items(self) -> list[tuple[Hashable, Any, int]]:
        """(key, value, bytes) of every kept value, least recently used first."""
        with self._lock:
            return [(key, value, size) for key, (value, size) in self._items.items()]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: Hashable) -> None:
        """Forget `key` (the lock is held)."""
        if key in self._items:
            self.nbytes -= self._items.pop(key)[1]


@st.cache_resource(show_spinner=False)
def memo() -> Memo:
    from core.base.public import is_public

    return Memo(max_items=MEMO_ITEMS, max_bytes=MEMO_BYTES["public" if is_public() else "local"])


def root() -> str:
    """Part of every memo key: tests (and users) may point the cache elsewhere."""
    return str(cache_root())


def remembered(key: tuple, compute: Callable[[], Any], *,
               kept: Callable[[], None] | None = None) -> Any:
    """The memoised value for `key`, computing (and keeping) it when missing. `kept` runs
    after a computation (the ui's Report.kept: a long computation replaced the view, so it
    is drawn again)."""
    full_key = (root(), *key)
    value = memo().get(full_key)
    if value is None:
        value = memo().put(full_key, compute())
        if kept is not None:
            kept()
    return value
