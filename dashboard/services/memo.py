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


class Memo:
    """A small thread-safe LRU map shared by all sessions of this server process."""

    def __init__(self, max_items: int) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.max_items = max_items

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> Any:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)


@st.cache_resource(show_spinner=False)
def memo() -> Memo:
    return Memo(max_items=48)


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
