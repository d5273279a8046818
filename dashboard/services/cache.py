"""The cache panel: size, the entries of one dataset, and clearing (then forgetting what
was memoised, since it may no longer match the disk)."""

from __future__ import annotations

import streamlit as st

from core.base.paths import cache_root
from dashboard.services.datasets import limited_dataset, load_dataset
from dashboard.services.memo import memo

# kinds whose folders are not ArrayCache entries
_NOT_ENTRIES = ("uploads", "exports")


def cache_folder() -> str:
    return str(cache_root())


@st.cache_data(ttl=60, show_spinner=False)
def cache_overview(root: str) -> dict:
    """Size and entry counts of the cache (walks the folder, so kept for a minute)."""
    from core.base.cache import cache_summary

    return cache_summary(root)


def forget_everything() -> None:
    """After the cache is cleared nothing memoised may be trusted to match the disk."""
    memo().clear()
    cache_overview.clear()
    load_dataset.clear()  # an uploaded dataset's files were in the cache folder
    limited_dataset.clear()


def clear_cache() -> int:
    """Delete the cache folder's contents and forget everything memoised; bytes freed."""
    from core.base.cache import clear_cache as clear

    freed = clear()
    forget_everything()
    return freed


def dataset_cache_entries(source: str) -> tuple[list[tuple[str, str]], int]:
    """The cache entries that belong to one dataset (any subset, backbone or input size):
    its transfer values (their manifest names the dataset's source) and every entry computed
    from them (projections, kNN graphs, heads, ...: their manifest names the values' key).
    Returns ([(kind, key)], bytes)."""
    from core.base.cache import ArrayCache, folder_size
    from core.features.transfer_values import KIND

    root = cache_root()
    values = ArrayCache(kind=KIND)
    tv_keys = {key for key in values.keys()
               if (values.manifest(key) or {}).get("dataset_source") == source}
    found, size = [], 0
    if not tv_keys:
        return found, size
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.startswith(".") or folder.name in _NOT_ENTRIES:
            continue
        cache = ArrayCache(kind=folder.name)
        for key in cache.keys():
            manifest = cache.manifest(key) or {}
            fields = manifest.get("key_fields") or {}
            if ((folder.name == KIND and key in tv_keys) or manifest.get("tv_key") in tv_keys
                    or (isinstance(fields, dict) and fields.get("tv") in tv_keys)):
                found.append((folder.name, key))
                size += folder_size(cache.entry_path(key))
    return found, size


def clear_dataset_cache(entries: list[tuple[str, str]]) -> int:
    """Delete these entries (from dataset_cache_entries); bytes freed."""
    from core.base.cache import ArrayCache, folder_size

    freed = 0
    for kind, key in entries:
        cache = ArrayCache(kind=kind)
        path = cache.entry_path(key)
        if path.exists():
            freed += folder_size(path)
            cache.remove(key)
    forget_everything()
    return freed
