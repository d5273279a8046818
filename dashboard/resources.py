"""The dashboard's only door to `core`: views and ui/ call these, never core directly.

Every load or computation goes through here, once.

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

from core.base.background import BackgroundJob, JobBoard
from core.base.errors import CancelledError, TransferLensError  # noqa: F401 (for ui/)
from core.base.progress import Progress
from core.base.paths import cache_root
from core.base.splits import SPLIT_CODES, SPLIT_NAMES  # noqa: F401 (SPLIT_NAMES for views)
from core.base.public import PublicModeError  # noqa: F401 (for ui/ and tests)
from core.base.splits import split_mask as _split_mask
from core.datasets.base import ImageDataset
from dashboard import state
from dashboard.ui.progress import computing_area, progress_panel, redraw_if_replaced


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


def _root() -> str:
    """Part of every memo key: tests (and users) may point the cache elsewhere."""
    return str(cache_root())


def remembered(key: tuple, compute: Callable[[], Any]) -> Any:
    """The memoised value for `key`, computing (and keeping) it when missing."""
    full_key = (_root(), *key)
    value = memo().get(full_key)
    if value is None:
        value = memo().put(full_key, compute())
        redraw_if_replaced()  # a long computation replaced the view: draw it again
    return value


def forget_everything() -> None:
    """After the cache is cleared nothing memoised may be trusted to match the disk."""
    memo().clear()
    cache_overview.clear()
    _load_dataset.clear()  # an uploaded dataset's files were in the cache folder
    limited_dataset.clear()


# --- datasets ---

def full_dataset(name: str) -> ImageDataset:
    """A built-in dataset, or a folder / .zip (core refuses server paths in a public app;
    here a public session is also kept out of other sessions' uploads)."""
    _refuse_others_upload(name)
    return _load_dataset(name)


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def _load_dataset(name: str) -> ImageDataset:
    from core.datasets.registry import load_dataset

    return load_dataset(name=name)


def _refuse_others_upload(name: str) -> None:
    from pathlib import Path

    from core.base.public import is_inside, uploads_root

    if not is_public() or name in dataset_catalog():
        return
    path = Path(name)
    if is_inside(path, uploads_root(cache_root())) and not is_inside(path, session_uploads()):
        raise PublicModeError("Another visitor's upload is not available in this public "
                              "Transfer Lens: every session sees only its own uploads. "
                              "Fix: upload your .zip in this session.")


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
    # a numeric target's name, None: the classes (not part of the transfer values' key, so
    # switching it never re-embeds)
    target: str | None = None


def tv_key(settings: Settings) -> str:
    """The cache key of the settings' transfer values (no extraction, no file read)."""
    from core.features.transfer_values import transfer_values_key

    dataset = limited_dataset(settings.dataset, settings.limit)
    return transfer_values_key(dataset=dataset, backbone=settings.backbone,
                               image_size=settings.image_size)


def transfer_values(settings: Settings, *, wait: bool = True):
    """Transfer values for the settings: memo, then disk cache, else extracted in the
    background (core.base.background) with progress. `wait`: draw the progress in the
    view's frame until they are ready; otherwise return None at once while the extraction
    runs (the caller shows the previous workspace meanwhile). None also while the user
    has paused this extraction."""
    from core.features.transfer_values import load_transfer_values

    dataset = limited_dataset(settings.dataset, settings.limit)
    key = tv_key(settings)
    cached = memo().get((_root(), "tv", key))
    if cached is not None:
        return cached
    tv, finished = None, _extractions.get(key)
    if finished is not None and finished.done:  # extracted in the background since
        tv = _collect_extraction(finished, key)
        if tv is not None:
            state.record_tv_status(key, "miss", tv.seconds)
            cache_overview.clear()
    tv = tv or load_transfer_values(key=key)
    if tv is None:
        if (why := state.extraction_paused(key)) is not None:
            _extractions.release(key, state.session_token())
            _show_paused(why, len(dataset))
            return None
        job = _extraction_job(settings, dataset, key)
        if not job.done and not wait:
            return None
        if not job.done:
            with computing_area("Computing transfer values"):  # alone in the view's frame
                _wait_for_extraction(job, settings, dataset, key)
        tv = _collect_extraction(job, key)
        if tv is None:  # stopped by everyone else just as this session asked again
            return transfer_values(settings, wait=wait)
        state.record_tv_status(key, "miss", tv.seconds)
        cache_overview.clear()
    return memo().put((_root(), "tv", key), tv)


# One extraction per set of transfer values for the whole server: sessions asking for the
# same values share it, and a rerun of the script (any click) does not interrupt it.
_extractions = JobBoard()


def _extraction_job(settings: Settings, dataset: ImageDataset, key: str) -> BackgroundJob:
    """The running extraction of `key` (joined), or a new one; a session waits for one
    extraction at a time, so the one it asked for before is let go (it stops unless
    another session still waits for it)."""
    from core.features.transfer_values import compute_transfer_values

    me = state.session_token()
    before = state.watch_extraction(key)
    if before is not None:
        _extractions.release(before, me)
    root = _root()

    def work(progress):
        return compute_transfer_values(dataset=dataset, backbone=settings.backbone,
                                       image_size=settings.image_size, cache_dir=root,
                                       progress=progress)

    return _extractions.submit(key, name=f"embedding {len(dataset):,} images", work=work,
                               watcher=me)


def running_extraction(settings: Settings) -> BackgroundJob | None:
    """The background extraction for these settings, while it runs."""
    job = _extractions.get(tv_key(settings))
    return job if job is not None and not job.done else None


def _collect_extraction(job: BackgroundJob, key: str):
    """The finished job's values; its error (a clear message) if it failed; None if it was
    stopped for want of watchers (the caller asks again)."""
    _extractions.forget(key, job)
    state.unwatch_extraction(key)
    if job.error is None:
        return job.result
    if job.cancelled:
        return None
    raise job.error


def _wait_for_extraction(job: BackgroundJob, settings: Settings, dataset: ImageDataset,
                         key: str) -> None:
    """Progress of the background extraction with a Stop button and a word on why, until
    it is done. A click reruns the script, which ends this wait, not the extraction."""
    stop_slot = st.empty()
    # Stop marks the key paused; the rerun then lets go of the job, which stops at its
    # next progress report (finished chunks are kept) unless another session waits for it.
    stop_slot.button("Stop", key="stop_extraction", on_click=state.pause_extraction,
                     args=(key,), icon=":material/stop_circle:",
                     help="Stops after the current batch; finished chunks are kept.")
    explain = st.empty()
    explain.caption(
        f"First time for this dataset, backbone and input size: every image goes through "
        f"{settings.backbone} once, and the transfer values are cached, so next time they "
        "load in a second. The views open as soon as this is done.")
    label = (f"Starting {settings.backbone} to embed {len(dataset):,} images at "
             f"{settings.image_size} px…")
    starting = Progress("loading the model, first batch", 0, len(dataset))
    try:
        with progress_panel(label, starting="loading the model, first batch…") as panel:
            # every pass draws (the panel redraws at most ~8 times a second), which is
            # also where Streamlit can end this run when the user clicks
            while not job.wait(0.15):
                panel(job.progress or starting)
    finally:
        stop_slot.empty()
        explain.empty()


def _show_paused(why: str, n: int) -> None:
    if why == state.CLEARED:
        st.info(f"The cache was cleared: the transfer values of these {n:,} images are "
                "computed again when you ask.", icon=":material/delete_sweep:")
        st.button("Recompute transfer values", on_click=state.resume_extraction,
                  type="primary", key="resume_extraction", icon=":material/refresh:")
        return
    st.warning("Extraction stopped. The chunks already finished are kept in the cache; "
               "resuming continues from there.", icon=":material/pause_circle:")
    st.button("Resume extraction", on_click=state.resume_extraction, type="primary", key="resume_extraction")


# --- analysis results (core caches these on disk; the memo skips even the disk read) ---

def projection(tv, *, method: str, dims: int, params: dict | None = None):
    from core.analysis.projections import compute_projection

    params_id = json.dumps(params or {}, sort_keys=True)
    published = _bundle_projection(tv, method=method, dims=dims, params=params)
    if published is not None:
        return published

    def compute():
        name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}.get(method, method)
        with progress_panel(f"Computing the {name} projection of {tv.n:,} points…",
                            replace_view=True) as panel:
            return compute_projection(tv=tv, method=method, dims=dims, params=params,
                                      progress=panel)

    return remembered(("projection", tv.key, method, dims, params_id), compute)


def knn(tv, *, n_neighbors: int = 15):
    from core.analysis.neighbors import knn_graph

    bundle = bundle_of(tv)
    if bundle is not None and n_neighbors <= bundle.knn_indices.shape[1]:
        return bundle.knn_graph()  # the bundle's own graph: nothing computed

    def compute():
        with progress_panel(f"Finding the nearest neighbours of {tv.n:,} points…",
                            replace_view=True) as panel:
            return knn_graph(tv=tv, n_neighbors=n_neighbors, progress=panel)

    return remembered(("knn", tv.key, n_neighbors), compute)


_knn_builds: set[tuple] = set()
_knn_builds_lock = threading.Lock()


def build_knn_in_background(tv, *, n_neighbors: int = 15) -> None:
    """Start the shared kNN graph of `tv` in a thread as soon as its values are ready, so the
    first selection finds it built (a 70k selection used to wait ~30 s for it). A selection
    that comes first computes it as before: core's cache lock makes it wait for this build
    and read its entry instead of computing twice."""
    if bundle_of(tv) is not None:
        return
    full_key = (_root(), "knn", tv.key, n_neighbors)
    store = memo()  # resolved here: st.cache_resource belongs to the script thread
    with _knn_builds_lock:
        if full_key in _knn_builds or store.get(full_key) is not None:
            return
        _knn_builds.add(full_key)

    def build() -> None:
        from core.analysis.neighbors import knn_graph

        try:
            store.put(full_key, knn_graph(tv=tv, n_neighbors=n_neighbors, cache_dir=full_key[0]))
        except Exception:  # noqa: BLE001 - the foreground computes it (and reports) when asked
            with _knn_builds_lock:
                _knn_builds.discard(full_key)

    threading.Thread(target=build, name=f"knn-{tv.key}", daemon=True).start()


def graph_worth_building(tv) -> bool:
    """Whether tv's exact kNN graph is built ahead of need: up to core's
    GRAPH_FOR_LOOKUPS_UP_TO points (it grows as N², an hour at a million); above, only a view
    that needs the whole graph (label issues) builds it, with progress."""
    from core.analysis.neighbors import GRAPH_FOR_LOOKUPS_UP_TO

    return tv.n <= GRAPH_FOR_LOOKUPS_UP_TO


def nearest(tv, index: int, k: int = 8) -> list[tuple[int, float]]:
    from core.analysis.neighbors import nearest_neighbors

    if bundle_of(tv) is not None or graph_worth_building(tv):
        graph = knn(tv)  # build (or load) the shared graph once, with a spinner, first
        if bundle_of(tv) is not None and k <= graph.indices_.shape[1]:
            return [(int(i), float(d)) for i, d in zip(graph.indices_[int(index), :k],
                                                       graph.distances_[int(index), :k])]
    return nearest_neighbors(tv=tv, index=int(index), k=k)  # above the limit: one row


def separability(tv) -> dict:
    from core.analysis.separability import separability as compute

    def run():
        with st.spinner("Measuring how separable the classes are (kNN accuracy)…"):
            return compute(tv=tv)

    return remembered(("separability", tv.key), run)


def cache_folder() -> str:
    return str(cache_root())


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
    # set when the workspace was opened from a published bundle (core.publish.Bundle):
    # its projections, kNN graph, head and label issues are served from the bundle
    bundle: Any = None
    # set while the sidebar's settings are being embedded in the background and the views
    # show the previous workspace meanwhile (PendingExtraction)
    pending: Any = None

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
        """The active head on exactly these transfer values, if any (see active_head)."""
        return active_head(self.tv.key)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.tv.class_names

    @property
    def target(self):
        """The chosen numeric target (core.datasets.targets.Target) of tv's samples, or
        None when the views work on the classes."""
        name = self.settings.target
        if name is None or self.bundle is not None:
            return None
        return remembered(("target", self.tv.key, name), lambda: self.dataset.target(name))

    def describe(self) -> str:
        s = self.settings
        count = (f"{self.tv.n:,} images" if self.tv.n == self.total
                 else f"{self.tv.n:,} of {self.total:,} images")
        backbone = f"**{s.backbone}**" + (" **fine-tuned**" if self.fine_tuned_view else "")
        if self.bundle is not None:
            backbone += " (precomputed)"
        target = f" · target **{s.target}**" if s.target and self.bundle is None else ""
        return (f"**{s.dataset_label}** · {count} · {len(self.class_names)} classes{target} · "
                f"{backbone} at {s.image_size} px → {self.tv.dim:,}-d transfer values")


def workspace(settings: Settings) -> Workspace | None:
    """The workspace for the settings; None while the user has paused extraction.

    When these settings' transfer values must be extracted and the session has shown
    other values before, the extraction runs in the background and the previous workspace
    is returned meanwhile, with `pending` saying what is being embedded."""
    previous = state.ready_settings()
    fallback = previous is not None and previous != settings and _values_ready(previous)
    tv = transfer_values(settings, wait=not fallback)
    if tv is None:
        job = running_extraction(settings) if fallback else None
        if job is None:
            return None
        ws = _open_workspace(previous, transfer_values(previous))
        ws.pending = PendingExtraction(settings=settings, key=tv_key(settings), job=job,
                                       images=len(limited_dataset(settings.dataset,
                                                                  settings.limit)))
        return ws
    state.set_ready_settings(settings)
    return _open_workspace(settings, tv)


def _values_ready(settings: Settings) -> bool:
    """These settings' transfer values open without extraction (memo or disk)."""
    from core.features.transfer_values import has_transfer_values

    try:
        key = tv_key(settings)
    except TransferLensError:  # e.g. a folder that has gone since
        return False
    return memo().get((_root(), "tv", key)) is not None or has_transfer_values(key=key)


def _open_workspace(settings: Settings, tv) -> Workspace:
    dataset = limited_dataset(settings.dataset, settings.limit)
    done = state.finetuned(tv.key)
    if done is not None and state.fine_tuned_space():
        tv = done.after
    if graph_worth_building(tv):  # else it would slow every view while it builds
        build_knn_in_background(tv)
    return Workspace(settings=settings, dataset=dataset,
                     total=len(full_dataset(settings.dataset)), tv=tv, finetuned=done)


@dataclass(frozen=True)
class PendingExtraction:
    """Transfer values being extracted in the background while the views show others."""

    settings: Settings
    key: str  # of the transfer values being extracted
    job: BackgroundJob
    images: int

    def describe(self) -> str:
        s = self.settings
        return (f"{s.dataset_label} · {self.images:,} images · {s.backbone} at "
                f"{s.image_size} px")


# --- splits (core.base.splits; re-exported so views and ui/ need no core import) ---

def split_code(name: str) -> int:
    """The code a split has in `tv.splits` / `dataset.splits`."""
    return SPLIT_CODES[name]


def split_name(code: int) -> str:
    return SPLIT_NAMES[int(code)]


def split_mask(tv, name: str | None):
    """Rows of `tv` in the split `name` (None: every row, returned as None)."""
    return None if name is None else _split_mask(tv.splits, name)


# --- datasets and backbones (the sidebar) ---

def dataset_catalog() -> dict:
    """Built-in datasets by name (core.datasets.registry.DATASETS)."""
    from core.datasets.registry import DATASETS

    return DATASETS


def default_dataset_name() -> str:
    from core.datasets.registry import default_dataset_name as name

    return name()


def extract_uploaded_zip(upload) -> str:
    """Unpack an uploaded .zip of class folders into this session's uploads folder (shared
    <cache>/uploads locally; a private per-session folder in a public app); returns the
    dataset folder. A public app refuses an upload over its size limit before writing."""
    from core.datasets.zip_import import extract_zip_dataset

    rules = public_policy()
    if rules.enabled and upload.size > rules.max_upload_bytes:
        raise PublicModeError(
            f"{upload.name} is {_mb(upload.size)}; this public Transfer Lens takes a .zip of "
            f"up to {_mb(rules.max_upload_bytes)}. Fix: upload fewer or smaller images, or run "
            "Transfer Lens on your own machine for larger datasets.")
    return str(extract_zip_dataset(zip_path_or_fileobj=upload, dest_dir=session_uploads()))


def default_backbone() -> str:
    from core.backbones.registry import DEFAULT_BACKBONE

    return DEFAULT_BACKBONE


def known_backbone(name: str) -> bool:
    from core.backbones.registry import REGISTRY

    return name in REGISTRY


def backbones() -> list:
    """Every registered backbone spec (core.backbones.registry.list_backbones)."""
    from core.backbones.registry import list_backbones

    return list_backbones()


def backbone(name: str):
    """The spec for a registered name or a 'model.keras:layer' string."""
    from core.backbones.registry import get_backbone

    return get_backbone(name)


@st.cache_resource(ttl=60, show_spinner=False)
def unavailable_reasons(names: tuple[str, ...]) -> dict[str, str | None]:
    """Why each backbone cannot be used here (None: it can). Checking looks for packages
    and cached weights on disk, so it is done at most once a minute, not on every rerun."""
    return {name: backbone(name).unavailable_reason() for name in names}


def default_image_size(dataset: ImageDataset, spec) -> int:
    """The input size core picks when the user does not choose one (CLI and app alike)."""
    from core.features.input_size import default_image_size as size

    return size(dataset=dataset, spec=spec)


def clear_cache() -> int:
    """Delete the cache folder's contents and forget everything memoised; bytes freed."""
    from core.base.cache import clear_cache as clear

    freed = clear()
    forget_everything()
    return freed


# kinds whose folders are not ArrayCache entries
_NOT_ENTRIES = ("uploads", "exports")


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


# --- heads ---

def head_names(*, fine_tunes_backbone: bool | None = None) -> list[str]:
    """The heads to offer. A public app offers no fine-tuning unless its operator allows
    it (core refuses it anyway; hiding it spares the visitor a form that cannot run)."""
    from core.heads import head_names as names

    offered = names(fine_tunes_backbone=fine_tunes_backbone)
    rules = public_policy()
    if rules.enabled and not rules.allow_fine_tuning:
        offered = [name for name in offered if not _fine_tunes(name)]
    return offered


def _fine_tunes(head: str) -> bool:
    from core.heads import HEADS

    return HEADS[head].fine_tunes_backbone


def default_head() -> str:
    from core.heads import DEFAULT_HEAD

    return DEFAULT_HEAD


def fine_tunes_backbone(head: str) -> bool:
    """Whether training this head fine-tunes the backbone (then it has its own form)."""
    from core.heads import HEADS

    return HEADS[head].fine_tunes_backbone


def head_title(head: str) -> str:
    from core.heads import head_title as title

    return title(head)


def describe_head(head: str) -> str:
    from core.heads import describe_head as describe

    return describe(head)


def default_head_params(head: str) -> dict:
    from core.heads import default_head_params as defaults

    return defaults(head)


def train_head(tv, *, head: str, params: dict | None = None, cross_fit_folds: int = 0,
               progress=None, on_epoch=None):
    from core.heads import train_head as train

    return train(tv=tv, head=head, params=params, progress=progress, on_epoch=on_epoch,
                 cross_fit_folds=cross_fit_folds)


def parameter_specs(head: str) -> dict:
    """name → core.base.params.ParamSpec (kind, bounds, help) of head `head`'s parameters."""
    from core.heads import parameter_specs as specs

    return specs(head)


def finetune_specs() -> dict:
    """name → ParamSpec of every fine-tuning setting (core.finetune.FineTuneConfig's fields)."""
    from core.finetune.config import FineTuneConfig

    return FineTuneConfig.parameter_specs()


def head_degenerate(head) -> str | None:
    """Why a trained head is not worth using (core.heads.is_degenerate), or None."""
    from core.heads import is_degenerate

    return is_degenerate(head)


# --- the history of heads on a set of transfer values (core.heads.history) ---

def _heads_folder_stamp() -> int:
    """Changes whenever a head is saved or deleted (the heads folder's entries change)."""
    from core.heads.training import CACHE_KIND

    folder = cache_root() / CACHE_KIND
    return folder.stat().st_mtime_ns if folder.is_dir() else 0


def heads_on(tv_key: str) -> list:
    """Every cached head trained on these transfer values (core.heads.HeadSummary), newest
    first; read from their manifests (no weights), again only when the folder changed."""
    from core.heads import list_heads

    heads = remembered(("head_list", tv_key, _heads_folder_stamp()),
                       lambda: list_heads(tv_key=tv_key))
    if is_public():  # the cache is shared: a visitor lists only their own session's heads
        own = state.own_heads(tv_key)
        heads = [summary for summary in heads if summary.key in own]
    return heads


def load_head(key: str):
    """The cached head `key` (core.heads.TrainedHead), loaded once per process."""
    from core.heads import load_head_by_key

    return remembered(("head", key), lambda: load_head_by_key(key=key))


def active_head(tv_key: str) -> state.HeadRecord | None:
    """The active head on these transfer values. The first time a session looks at them it
    is restored from the heads cache: the link's `h` if it names a usable head on these
    values (else a warning), otherwise core's best_head (highest validation accuracy, never
    a degenerate one)."""
    if not state.head_resolved(tv_key):
        state.mark_head_resolved(tv_key)
        if state.head_record(tv_key) is None:
            key = _linked_head(tv_key)
            if key is None and not is_public():  # public: never another visitor's head
                from core.heads import best_head

                best = best_head(tv_key=tv_key)
                key = None if best is None else best.key
            if key is not None:
                state.store_head(tv_key, load_head(key), compare=False)
    return state.head_record(tv_key)


def _linked_head(tv_key: str) -> str | None:
    """The link's head key when it names a usable head on these values (else warned)."""
    key = state.take_url(state.URL_HEAD)
    if key is None:
        return None
    found = {summary.key: summary for summary in heads_on(tv_key)}
    if key not in found:
        state.reject_url(state.URL_HEAD, key, "no head with this key was trained on these "
                                              "transfer values (deleted, or another cache)")
        return None
    if found[key].degenerate:
        state.reject_url(state.URL_HEAD, key, f"this head is degenerate: {found[key].degenerate}")
        return None
    return key


def crossfit_head(tv_key: str) -> state.HeadRecord | None:
    """A head on these values whose train probabilities are out-of-fold (for label issues):
    the active head when it was cross-fitted, else one cross-fitted in this session, else
    the best cross-fitted one in the cache."""
    active = active_head(tv_key)
    if active is not None and active.head.cross_fit_folds >= 2:
        return active
    record = state.crossfit_head(tv_key)
    if record is None and not is_public():  # public: never another visitor's head
        cached = [s for s in heads_on(tv_key) if s.cross_fit_folds >= 2 and not s.degenerate]
        if cached:
            best = max(cached, key=lambda s: (s.val_accuracy or 0.0, s.created))
            record = state.store_crossfit_head(tv_key, load_head(best.key))
    return record


def make_head_active(tv_key: str, key: str) -> None:
    """Use the cached head `key` from now on (an on_click callback)."""
    state.store_head(tv_key, load_head(key))


def delete_head(tv_key: str, key: str) -> None:
    """Delete the cached head `key` (an on_click callback, after the confirmation). When it
    was the active one, the best remaining head becomes active."""
    was_active = state.active_head_key(tv_key) == key
    _remove_head(tv_key, key)
    state.drop_head(tv_key, key)
    if was_active:
        record = active_head(tv_key)
        state.notify_head(tv_key, "info", _deleted("the active head") + "; " + (
            f"the best remaining one ({record.head.head}) is active now." if record is not None
            else "no other head is left on these transfer values."))
    else:
        state.notify_head(tv_key, "info", _deleted("the head") + ".")


def _remove_head(tv_key: str, key: str) -> None:
    """Delete the cached head `key`; in a public app hide it from this visitor's list (the
    shared cache keeps it: core refuses the deletion)."""
    from core.heads import delete_head as delete

    if is_public():
        state.forget_own_head(tv_key, key)
    else:
        delete(key=key)
        memo().discard((_root(), "head", key))
    cache_overview.clear()


def _deleted(what: str) -> str:
    if is_public():
        return f"Removed {what} from your list (the shared cache keeps it for other visitors)"
    return f"Deleted {what}"


def compare_heads(tv, key_a: str, key_b: str) -> dict:
    """core.heads.compare_heads for two cached heads on `tv` (their probabilities are read
    from the cache; no model is loaded)."""
    from types import SimpleNamespace

    from core.heads import compare_heads as compare
    from core.heads.history import summarize_head
    from core.heads.storage import read_probabilities

    def side(key: str):
        summary = summarize_head(key=key)
        probabilities = read_probabilities(summary.path)
        return SimpleNamespace(head=summary.head, key=key, params=summary.params,
                               metrics=summary.metrics, degenerate=summary.degenerate,
                               predictions=probabilities.argmax(axis=1))

    return remembered(("compare_heads", tv.key, key_a, key_b),
                      lambda: compare(side(key_a), side(key_b), tv=tv))


# --- regression heads on a numeric target (core.heads, task "regression") ---

def regression_head_names() -> list[str]:
    from core.heads import head_names as names

    return names(task="regression")


def train_regression_head(tv, target, *, head: str, params: dict | None = None,
                          cross_fit_folds: int = 0, progress=None, on_epoch=None):
    from core.heads import train_head as train

    return train(tv=tv, head=head, target=target, params=params, progress=progress,
                 on_epoch=on_epoch, cross_fit_folds=cross_fit_folds)


def regression_heads_on(tv_key: str, target) -> list:
    """Cached regression heads on these values for exactly this target's values, newest
    first (core.heads.HeadSummary)."""
    from core.heads import list_heads

    heads = remembered(("regression_head_list", tv_key, _heads_folder_stamp()),
                       lambda: list_heads(tv_key=tv_key, task="regression"))
    heads = [s for s in heads if s.target_key == target.key]
    if is_public():
        own = state.own_heads(tv_key)
        heads = [s for s in heads if s.key in own]
    return heads


def regression_head(ws: Workspace) -> state.HeadRecord | None:
    """The regression head shown for the chosen target: this session's, else the cached one
    with the best validation R² on exactly these target values (not in a public app)."""
    target = ws.target
    if target is None:
        return None
    record = state.regression_head(ws.tv.key, target.key)
    if record is None and not is_public():
        from core.heads import best_head

        best = best_head(tv_key=ws.tv.key, target=target)
        if best is not None:
            record = state.store_regression_head(ws.tv.key, target.key, load_head(best.key))
    return record


def view_head(ws: Workspace) -> state.HeadRecord | None:
    """The head the views use: the regression head of the chosen target, else the active
    classification head."""
    return ws.head if ws.target is None else regression_head(ws)


def delete_regression_head(tv_key: str, target_key: str, key: str) -> None:
    """Delete the cached regression head `key` (hide it in a public app; an on_click
    callback, after the confirmation); the best remaining one on the target is shown next."""
    _remove_head(tv_key, key)
    state.drop_regression_head(tv_key, target_key, key)
    state.notify_head(tv_key, "info", _deleted("the head") + ".")


def target_outliers(ws: Workspace, *, folds: int):
    """core.analysis.target_outliers on the chosen target, every sample ranked (a
    `folds`-fold cross-fitted ridge gives the out-of-sample predictions; cached)."""
    from core.analysis.target_outliers import find_target_outliers

    target = ws.target

    def compute():
        with progress_panel(f"Cross-fitting ridge ({folds} folds) for the target outliers…",
                            replace_view=True) as panel:
            trained = train_regression_head(ws.tv, target, head="ridge",
                                            cross_fit_folds=folds, progress=panel)
            panel(Progress("finding each sample's neighbours", 0, 1))
            return find_target_outliers(tv=ws.tv, target=target,
                                        predictions=trained.predictions, include_all=True)

    return remembered(("target_outliers", ws.tv.key, target.key, folds), compute)


def default_finetune_params(backbone: str) -> dict:
    from core.finetune.evaluate import default_params

    return default_params(backbone)


def fine_tune(ws: Workspace, params: dict, *, progress=None, on_epoch=None):
    """Fine-tune the workspace's backbone on its images (core.finetune.evaluate)."""
    from core.finetune.evaluate import fine_tune_and_evaluate

    if ws.bundle is not None:
        raise TransferLensError(
            "A published bundle holds thumbnails, not the original images, so its backbone "
            "cannot be fine-tuned here. Fix: open the dataset itself "
            f"({ws.bundle.manifest['dataset']['source']}) to fine-tune.")
    config = finetune_config(ws, params)
    return fine_tune_and_evaluate(dataset=ws.dataset, backbone=ws.settings.backbone,
                                  config=config, progress=progress, on_epoch=on_epoch)


def finetune_estimate(ws: Workspace, params: dict, *, measure: bool, progress=None):
    """How long fine-tuning with `params` takes here (core.finetune.estimate): from timings
    kept in the cache, or measured now (a few real steps) when `measure`; else None."""
    from core.finetune.estimate import estimate_fine_tune

    return estimate_fine_tune(dataset=ws.dataset, backbone=ws.settings.backbone,
                              config=finetune_config(ws, params), values_cached=True,
                              measure=measure, progress=progress)


def finetune_config(ws: Workspace, params: dict):
    from core.finetune.evaluate import config_from_params

    return config_from_params({**params, "image_size": ws.settings.image_size},
                              backbone=ws.settings.backbone)


# --- evaluation ---

def confusion_matrix(*, labels, predictions, num_classes: int, normalize: bool = False):
    from core.heads.evaluation import confusion_matrix as matrix

    return matrix(labels=labels, predictions=predictions, num_classes=num_classes,
                  normalize=normalize)


def cell_indices(*, labels, predictions, true_class: int, predicted_class: int, mask=None):
    from core.heads.evaluation import cell_indices as cell

    return cell(labels=labels, predictions=predictions, true_class=true_class,
                predicted_class=predicted_class, mask=mask)


def failure_ranking(*, labels, probabilities, mask=None):
    from core.heads.evaluation import failure_ranking as ranking

    return ranking(labels=labels, probabilities=probabilities, mask=mask)


# --- projections ---

def projection_methods() -> tuple[str, ...]:
    from core.analysis.projections import METHODS

    return METHODS


def projection_defaults(method: str) -> dict:
    from core.analysis.projections import default_params

    return default_params(method)


def density_png(*, coords, width: int, height: int, x_range, y_range, codes=None,
                colours=(), values=None, colour_scale=(), value_range=(0.0, 1.0)) -> bytes:
    """Every point of a 2-D map as one PNG (core.analysis.density_image): categorical when
    `codes` are given, else the mean of `values` per pixel through `colour_scale`."""
    from core.analysis.density_image import categorical_image, continuous_image, to_png

    ranges = {"x_range": tuple(x_range), "y_range": tuple(y_range), "width": width,
              "height": height}
    if codes is not None:
        image = categorical_image(coords=coords, codes=codes, colours=colours, **ranges)
    else:
        image = continuous_image(coords=coords, values=values, colour_scale=colour_scale,
                                 value_range=value_range, **ranges)
    return to_png(image)


def select_in_map(coords, *, boxes=(), lassos=()):
    """Indices of every point a box or lasso selects (core.analysis.selection)."""
    from core.analysis.selection import select_points

    return select_points(coords, boxes=boxes, lassos=lassos)


def warm_up_umap() -> None:
    """Compile UMAP's kernels (once per process) in the background."""
    from core.analysis.projections import warm_up_umap_in_background

    warm_up_umap_in_background()


# --- label issues and data quality ---

def label_issue_neighbors() -> int:
    """How many neighbours vote in the label-issue ranking (core's default)."""
    from core.analysis.label_issues import DEFAULT_NEIGHBORS

    return DEFAULT_NEIGHBORS


def label_issue_folds() -> int:
    """How many folds the label-issue head is cross-fitted with (core's default)."""
    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS

    return DEFAULT_CROSS_FIT_FOLDS


# --- data quality (core.analysis.quality) ---

def quality_report(ws: Workspace, record: state.HeadRecord, *,
                   duplicate_threshold: float | None = None):
    """The data-quality report on these values from `record`'s out-of-sample probabilities
    (core.analysis.quality.data_quality). Sections compute when first read (see
    quality_section); the kNN graph is built (or loaded) here, with a progress bar. Another
    duplicate threshold is a sibling report sharing the graph and the label errors."""
    from core.analysis.quality import QualityReport, data_quality

    bundle = ws.bundle if ws.bundle is not None and record.head is ws.bundle.head else None

    def build():
        if bundle is not None:  # the bundle's graph and ranking: nothing recomputed
            report = QualityReport(tv=ws.tv, probabilities=record.head.probabilities,
                                   graph=bundle.knn_graph(), head_key=record.key)
            report.label_issues = bundle.label_issues
            return report
        with progress_panel(f"Finding the nearest neighbours of {ws.tv.n:,} points…") as panel:
            return data_quality(tv=ws.tv, probabilities=record.head.probabilities,
                                dataset=ws.dataset, progress=panel)

    base = remembered(("quality", ws.tv.key, record.token), build)
    if duplicate_threshold is None or duplicate_threshold == base.duplicate_threshold:
        return base

    def sibling():
        import dataclasses

        report = dataclasses.replace(base, duplicate_threshold=float(duplicate_threshold))
        report.label_issues = quality_section(base, "label_issues")
        return report

    return remembered(("quality", ws.tv.key, record.token, float(duplicate_threshold)),
                      sibling)


_SECTION_SAYS = {"label_issues": "Ranking suspicious labels…",
                 "outliers": "Scoring how unusual each image is…",
                 "ranked_outliers": "Scoring how unusual each image is…",
                 "duplicates": "Grouping near-duplicates…",
                 "leakage": "Checking test images against train…",
                 "balance": "Counting classes and flagged samples…"}


def quality_section(report, name: str):
    """One section of a quality report (label_issues, ranked_outliers, outliers,
    duplicates, leakage, balance), computed on first access with a spinner; the report keeps it."""
    if name not in report.__dict__:
        with st.spinner(_SECTION_SAYS.get(name, "Computing…")):
            getattr(report, name)
    return getattr(report, name)


def quality_flagged(report):
    """Every flagged item of the report (index, sample_id, issue, score, given_class,
    suggested_class): label errors, outliers, duplicates, then test images leaked."""
    for name in ("label_issues", "outliers", "duplicates", "leakage"):
        quality_section(report, name)
    return report.flagged_rows()


def leakage_accuracy(ws: Workspace, report, record: state.HeadRecord) -> dict:
    """Split leakage (core.analysis.duplicates.split_leakage) with the head `record`'s test
    accuracy with and without the test images that have a near-duplicate in train."""
    from core.analysis.duplicates import split_leakage

    duplicates = quality_section(report, "duplicates")
    return remembered(
        ("leakage", ws.tv.key, record.token, report.duplicate_threshold),
        lambda: split_leakage(tv=ws.tv, duplicates=duplicates,
                              probabilities=record.head.probabilities).as_dict())


def quality_defaults() -> dict:
    """core's defaults: duplicate threshold (× the median nearest-neighbour distance),
    outlier score (× the median sample's), neighbours of the outlier score, pixel
    threshold of near-duplicates (RMS difference, fraction of 0–255)."""
    from core.analysis.duplicates import DEFAULT_PIXEL_THRESHOLD, DEFAULT_THRESHOLD
    from core.analysis.outliers import DEFAULT_OUTLIER_NEIGHBORS
    from core.analysis.quality import DEFAULT_OUTLIER_SCORE

    return {"duplicate_threshold": DEFAULT_THRESHOLD, "outlier_score": DEFAULT_OUTLIER_SCORE,
            "outlier_neighbors": DEFAULT_OUTLIER_NEIGHBORS,
            "pixel_threshold": DEFAULT_PIXEL_THRESHOLD}


def class_counts(tv):
    """Samples per class and split (core.analysis.class_balance, nothing flagged)."""
    from core.analysis.class_balance import class_balance

    return remembered(("class_counts", tv.key), lambda: class_balance(tv=tv))


# --- images ---

def thumbnail(image, *, size: int):
    from core.datasets.thumbnails import thumbnail as thumb

    return thumb(image, size=size)


def decode_image(path: str):
    """Decode with core's reader (EXIF rotation, alpha, 16-bit handled there); a public app
    caps the pixels (the policy's max_image_pixels)."""
    from core.datasets.image_io import load_rgb

    rules = public_policy()
    return load_rgb(path, max_pixels=rules.max_image_pixels if rules.enabled else None)


def check_inspect_upload(name: str, size: int) -> None:
    """A public app classifies images of up to max_inspect_bytes (checked before decoding)."""
    rules = public_policy()
    if rules.enabled and size > rules.max_inspect_bytes:
        raise PublicModeError(
            f"{name} is {_mb(size)}; this public Transfer Lens classifies images of up to "
            f"{_mb(rules.max_inspect_bytes)}. Fix: upload a smaller copy of the image.")


def check_inspect_image(image) -> None:
    rules = public_policy()
    pixels = int(image.shape[0]) * int(image.shape[1])
    if rules.enabled and pixels > rules.max_image_pixels:
        raise PublicModeError(
            f"The image has {pixels / 1e6:.1f} megapixels; this public Transfer Lens takes up "
            f"to {rules.max_image_pixels / 1e6:g} per image. Fix: upload a smaller copy.")


def predict(ws: Workspace, image, *, top_k: int, n_neighbors: int, head=None) -> dict:
    """`head`'s (default: the active head's) top-k, or a regression head's number, for one
    new image, through the backbone the values came from."""
    from core.base.jobs import heavy_job
    from core.serving.predict import predict_images

    check_inspect_image(image)
    # running the backbone is heavy work (TensorFlow, a model in memory): one at a time
    with progress_panel(f"Running {ws.values_backbone} on the image…") as panel, \
            heavy_job(name="classifying an uploaded image", progress=panel):
        return predict_images(images=[image], head=head or ws.head.head,
                              backbone=ws.values_backbone,
                              image_size=ws.settings.image_size, tv=ws.tv, top_k=top_k,
                              n_neighbors=n_neighbors)[0]


# --- export ---

def export_folder(ws: Workspace):
    return cache_root() / "exports" / ws.tv.key[:16]


def export_values(ws: Workspace, path, fmt: str, head=None, target=None):
    """The values as .npy or Parquet; Parquet with `head` (a TrainedHead on ws.tv) also holds
    its predictions (and class probabilities), with `target` its values."""
    from core.serving.export import export_values as export

    parquet = fmt == "parquet"
    return export(tv=ws.tv, path=path, format=fmt, head=head if parquet else None,
                  target=target if parquet else None)


def rows_csv_name(ws: Workspace, what: str) -> str:
    dataset = "".join(c if c.isalnum() or c in "-_" else "_" for c in ws.settings.dataset_label)
    return f"{dataset}_{what}.csv"


def write_rows_csv(ws: Workspace, rows, *, name: str, head=None, extra_columns=None) -> bytes:
    """Write the rows' CSV (see rows_csv) to the export folder and return its bytes."""
    from core.serving.export import export_rows_csv

    path = export_folder(ws) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    export_rows_csv(tv=ws.tv, rows=rows, path=path, head=head, extra_columns=extra_columns)
    return path.read_bytes()


def rows_csv(ws: Workspace, rows, *, what: str, memo_key: Hashable, head=None,
             extra_columns=None) -> bytes:
    """CSV of some samples (core.serving.export.export_rows_csv: sample id, label, class,
    split, with `head` its prediction and probabilities, then `extra_columns`), written to
    the export folder once per `memo_key` (rows_csv_name names it)."""
    name = rows_csv_name(ws, what)
    return remembered(("rows_csv", ws.tv.key, what, memo_key),
                      lambda: write_rows_csv(ws, rows, name=name, head=head,
                                             extra_columns=extra_columns))


def export_projection(ws: Workspace, path, method: str, dims: int, params: dict | None):
    from core.serving.export import export_projection_csv

    result = projection(ws.tv, method=method, dims=dims, params=params)
    return export_projection_csv(projection=result, tv=ws.tv, path=path)


def export_model(ws: Workspace, head, path):
    """Backbone plus head in one Keras model. A fine-tuning run saved its own model."""
    from core.serving.export import export_end_to_end_model

    if fine_tunes_backbone(head.head):
        import shutil

        shutil.copyfile(ws.finetuned.result.model_path, path)
        return path
    return export_end_to_end_model(head=head, backbone=ws.values_backbone,
                                   image_size=ws.settings.image_size, path=path)


# --- public mode (core.base.public decides and enforces; the app hides and explains) ---

def public_policy():
    """The public policy in force (core.base.public.PublicPolicy; read from the environment)."""
    from core.base.public import policy

    return policy()


def is_public() -> bool:
    return public_policy().enabled


def _mb(size: int) -> str:
    if size < 1e6:
        return f"{size / 1e3:,.0f} kB"
    return f"{size / 1e6:,.1f} MB" if size < 1e9 else f"{size / 1e9:,.1f} GB"


def upload_limits() -> str:
    """The public upload limits in words (shown next to the uploaders)."""
    rules = public_policy()
    return (f"Up to {rules.max_upload_bytes / 1e6:g} MB and {rules.max_upload_images:,} images "
            f"per .zip, {rules.max_image_pixels / 1e6:g} megapixels per image. Your upload is "
            f"kept in a folder of your session only, and removed after "
            f"{rules.upload_ttl_seconds / 3600:g} hour{'s' if rules.upload_ttl_seconds != 3600 else ''}.")


def session_uploads():
    """This session's uploads folder (core.datasets.uploads; per session in a public app)."""
    from core.datasets.uploads import session_uploads_dir

    return session_uploads_dir(session_id=state.session_token())


def start_session() -> None:
    """Once per browser session: remove other sessions' uploads past their time limit."""
    if state.session_started():
        return
    from core.datasets.uploads import prune_uploads

    state.session_token()
    prune_uploads()


# --- published bundles (core.publish): opened without TensorFlow and without computing ---

BUNDLE_PREFIX = "bundle:"  # a dataset choice naming a bundle found by core.publish.list_bundles


def is_bundle_source(source: str) -> bool:
    return str(source).startswith(BUNDLE_PREFIX)


@st.cache_data(ttl=60, show_spinner=False)
def bundle_catalog(root: str | None = None) -> dict[str, dict]:
    """Bundles under the bundles folder ($TRANSFER_LENS_BUNDLES or demo/) by choice
    ("bundle:<folder>"): label, size, backbone (manifest only: opening verifies later)."""
    from core.publish.bundle import bundles_root, list_bundles, read_manifest

    base = bundles_root() if root is None else root
    found = {}
    for folder in list_bundles(base):
        try:
            manifest = read_manifest(folder)
        except TransferLensError:
            continue  # an old format version: not offered (publishing again fixes it)
        name = folder.relative_to(base).as_posix()
        found[BUNDLE_PREFIX + name] = {
            "path": str(folder), "name": name, "n": int(manifest["n"]),
            "dataset": manifest["dataset"]["name"], "backbone": manifest["backbone"],
            "image_size": int(manifest["image_size"]),
            "label": f"{name} (published)"}
    return found


def bundles() -> dict[str, dict]:
    from core.publish.bundle import bundles_root

    return bundle_catalog(str(bundles_root()))


@st.cache_resource(show_spinner="Opening the published bundle…", max_entries=4)
def _published(path: str):
    """(bundle, its dataset of thumbnails, its TransferValues), verified once per process."""
    from core.publish import open_bundle

    bundle = open_bundle(path)
    tv = bundle.transfer_values()
    _bundles_by_tv()[tv.key] = bundle
    return bundle, bundle.dataset(), tv


@st.cache_resource(show_spinner=False)
def _bundles_by_tv() -> dict:
    return {}


def bundle_of(tv):
    """The published bundle these transfer values come from, or None."""
    if "bundle" not in (getattr(tv, "manifest", None) or {}):
        return None
    return _bundles_by_tv().get(tv.key)


def bundle_workspace(source: str) -> Workspace:
    """The workspace of a published bundle: values, thumbnails, projections, kNN graph,
    head and label issues all read from its files. Only names found by `bundles()` open
    (never a path from the session), so a forged choice cannot reach the disk."""
    info = bundles().get(source)
    if info is None:
        raise TransferLensError(
            f"No published bundle {source.removeprefix(BUNDLE_PREFIX)!r} here. Fix: choose "
            "one in the sidebar, or publish it with `python -m core publish --out demo/NAME`.")
    bundle, dataset, tv = _published(info["path"])
    settings = Settings(dataset=source, dataset_label=info["label"],
                        backbone=bundle.manifest["backbone"],
                        image_size=int(bundle.manifest["image_size"]), limit=None)
    if state.head_record(tv.key) is None:
        state.store_head(tv.key, bundle.head)  # the published head, until the user trains one
    if state.crossfit_head(tv.key) is None:
        state.store_crossfit_head(tv.key, bundle.head)  # quality_report() serves the bundle's
    if state.tv_status(tv.key) is None:
        state.record_tv_status(tv.key, "bundle", 0.0)
    return Workspace(settings=settings, dataset=dataset, total=bundle.n, tv=tv, bundle=bundle)


def _bundle_projection(tv, *, method: str, dims: int, params: dict | None):
    """The bundle's precomputed 2-D projection when these are its parameters, else None."""
    bundle = bundle_of(tv)
    if bundle is None or dims != 2 or method not in bundle.methods:
        return None
    entry = bundle.manifest["projections"][method]
    if any(entry["params"].get(name) != value for name, value in (params or {}).items()):
        return None  # other parameters: computed (and cached) like any projection

    def load():
        from core.analysis.projections import Projection
        import numpy as np

        return Projection(coords=np.asarray(bundle.projection(method), dtype=np.float32),
                          method=method, dims=2, params=dict(entry["params"]),
                          key=entry.get("key") or f"{tv.key}-{method}", cache="hit",
                          seconds=0.0, seed=int(entry.get("seed", 0)),
                          details={"bundle": bundle.name})

    return remembered(("bundle_projection", tv.key, method), load)
