"""The dashboard's door to `core`: every load or computation goes through here, once.

Two layers keep reruns fast. `st.cache_resource` holds datasets (shared, read-only).
A process-wide memo holds results of core calls that core already caches on disk
(transfer values, projections, kNN graphs, figures), so a rerun does not even re-open
them; the disk cache still makes a fresh process (or another user) fast.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

import streamlit as st

from core.datasets.base import ImageDataset
from core.base.paths import cache_root
from dashboard import state
from dashboard.components import progress_panel


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


@st.cache_resource(show_spinner=False)
def memo() -> Memo:
    return Memo(max_items=48)


def _root() -> str:
    """Part of every memo key: tests (and users) may point the cache elsewhere."""
    return str(cache_root())


def remembered(key: tuple, compute: Callable[[], Any]) -> Any:
    """The memoised value for `key`, computing (and keeping) it when missing."""
    full_key = (_root(), *key)
    value = memo().get(full_key)
    if value is None:
        value = memo().put(full_key, compute())
    return value


def forget_everything() -> None:
    """After the cache is cleared nothing memoised may be trusted to match the disk."""
    memo().clear()
    cache_overview.clear()
    full_dataset.clear()  # an uploaded dataset's files were in the cache folder
    limited_dataset.clear()


# --- datasets ---

@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def full_dataset(name: str) -> ImageDataset:
    from core.datasets.registry import load_dataset

    return load_dataset(name=name)


@st.cache_resource(show_spinner=False, max_entries=8)
def limited_dataset(name: str, limit: int | None) -> ImageDataset:
    """A reproducible random subset that keeps each split's share (or the whole set)."""
    return full_dataset(name).limited(limit=limit)


# --- transfer values ---

@dataclass(frozen=True)
class Settings:
    """Everything in the sidebar that the transfer values depend on."""

    dataset: str  # a built-in name or a folder path
    dataset_label: str
    backbone: str
    image_size: int
    limit: int | None  # None: the whole dataset


def transfer_values(settings: Settings):
    """Transfer values for the settings: memo, then disk cache, else computed with progress."""
    from core.features.transfer_values import (compute_transfer_values, load_transfer_values,
                                      transfer_values_key)

    dataset = limited_dataset(settings.dataset, settings.limit)
    key = transfer_values_key(dataset=dataset, backbone=settings.backbone,
                              image_size=settings.image_size)
    cached = memo().get((_root(), "tv", key))
    if cached is not None:
        return cached
    tv = load_transfer_values(key=key)
    if tv is None:
        if st.session_state.get("paused_extraction") == key:
            _show_paused()
            return None
        label = (f"Starting {settings.backbone} to embed {len(dataset):,} images at "
                 f"{settings.image_size} px…")
        stop_slot = st.empty()
        # Clicking Stop reruns the script, which interrupts extraction at its next progress
        # update; the callback marks the key so the rerun does not simply start again.
        stop_slot.button("Stop", key="stop_extraction", on_click=_pause, args=(key,),
                         icon=":material/stop_circle:",
                         help="Stops after the current batch; finished chunks are kept.")
        explain = st.empty()
        explain.caption(
            f"First time for this dataset, backbone and input size: every image goes through "
            f"{settings.backbone} once, and the transfer values are cached, so next time they "
            "load in a second. The views open as soon as this is done.")
        try:
            with progress_panel(label, starting="loading the model, first batch…") as panel:
                tv = compute_transfer_values(dataset=dataset, backbone=settings.backbone,
                                             image_size=settings.image_size, progress=panel)
        finally:
            stop_slot.empty()
            explain.empty()
        state.record_tv_status(key, "miss", tv.seconds)
        cache_overview.clear()
    return memo().put((_root(), "tv", key), tv)


def _pause(key: str) -> None:
    st.session_state["paused_extraction"] = key


def _resume() -> None:
    st.session_state.pop("paused_extraction", None)


def _show_paused() -> None:
    st.warning("Extraction stopped. The chunks already finished are kept in the cache; "
               "resuming continues from there.", icon=":material/pause_circle:")
    st.button("Resume extraction", on_click=_resume, type="primary", key="resume_extraction")


# --- analysis results (core caches these on disk; the memo skips even the disk read) ---

def projection(tv, *, method: str, dims: int, params: dict | None = None):
    from core.analysis.projections import compute_projection

    params_id = json.dumps(params or {}, sort_keys=True)

    def compute():
        with progress_panel(f"Computing the {method.upper()} projection of {tv.n:,} points…") \
                as panel:
            return compute_projection(tv=tv, method=method, dims=dims, params=params,
                                      progress=panel)

    return remembered(("projection", tv.key, method, dims, params_id), compute)


def knn(tv, *, n_neighbors: int = 15):
    from core.analysis.neighbors import knn_graph

    def compute():
        with progress_panel(f"Finding the nearest neighbours of {tv.n:,} points…") as panel:
            return knn_graph(tv=tv, n_neighbors=n_neighbors, progress=panel)

    return remembered(("knn", tv.key, n_neighbors), compute)


def nearest(tv, index: int, k: int = 8) -> list[tuple[int, float]]:
    from core.analysis.neighbors import nearest_neighbors

    knn(tv)  # build (or load) the shared graph once, with a spinner, before the look-up
    return nearest_neighbors(tv=tv, index=int(index), k=k)


def separability(tv) -> dict:
    from core.analysis.separability import separability as compute

    def run():
        with st.spinner("Measuring how separable the classes are (kNN accuracy)…"):
            return compute(tv=tv)

    return remembered(("separability", tv.key), run)


@st.cache_data(ttl=60, show_spinner=False)
def cache_overview(root: str) -> dict:
    """Size and entry counts of the cache (walks the folder, so kept for a minute)."""
    from core.base.cache import cache_summary

    return cache_summary(root)


@dataclass
class Workspace:
    """What every view works on: the embedded dataset and its transfer values."""

    settings: Settings
    dataset: ImageDataset  # the embedded subset, aligned row-for-row with tv
    total: int  # images in the whole dataset
    tv: Any  # core.features.transfer_values.TransferValues
    # set when the views show a fine-tuned backbone's values: the fine-tuning
    # (core.finetune.evaluate.FineTuned) whose `after` is `tv`
    finetuned: Any = None

    @property
    def fine_tuned_view(self) -> bool:
        return self.finetuned is not None and self.tv is self.finetuned.after

    @property
    def values_backbone(self) -> str:
        """The backbone that turns an image into `tv`'s kind of values (for new images)."""
        return self.finetuned.result.backbone_name if self.fine_tuned_view else \
            self.settings.backbone

    @property
    def head(self) -> state.HeadRecord | None:
        """The head trained on exactly these transfer values in this session, if any."""
        return state.head_record(self.tv.key)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.tv.class_names

    def describe(self) -> str:
        s = self.settings
        count = (f"{self.tv.n:,} images" if self.tv.n == self.total
                 else f"{self.tv.n:,} of {self.total:,} images")
        backbone = f"**{s.backbone}**" + (" **fine-tuned**" if self.fine_tuned_view else "")
        return (f"**{s.dataset_label}** · {count} · {len(self.class_names)} classes · "
                f"{backbone} at {s.image_size} px → {self.tv.dim:,}-d transfer values")


def workspace(settings: Settings) -> Workspace | None:
    """The workspace for the settings; None while the user has paused extraction."""
    dataset = limited_dataset(settings.dataset, settings.limit)
    tv = transfer_values(settings)
    if tv is None:
        return None
    done = state.finetuned(tv.key)
    if done is not None and st.session_state.get(state.FEATURE_SPACE_KEY) == state.FINE_TUNED:
        tv = done.after
    return Workspace(settings=settings, dataset=dataset,
                     total=len(full_dataset(settings.dataset)), tv=tv, finetuned=done)
