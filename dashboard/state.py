"""Every session-state key the dashboard uses, and the helpers around them.

No other module writes `st.session_state["..."]`: keys are the constants below, reached
through these helpers. Results (heads, selection, fine-tunings) are keyed by the transfer
values they belong to, so changing the dataset or backbone visibly drops whatever depended
on the old values. Keys that only name a widget (buttons, galleries) stay with the widget.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import streamlit as st

_tokens = itertools.count(1)  # process-wide, so figure memo keys never collide across sessions

# --- the browser session ---
SESSION_TOKEN = "_session_token"  # random; names this session's private uploads folder
SESSION_STARTED = "_session_started"  # the once-per-session chores ran (pruning old uploads)

# --- navigation (see dashboard/pages.py) ---
SHOWN_VIEW = "_shown_view"  # the url path of the page this run draws (the run log names it)
VIEW_NOTE = "_view_note"  # (url path, text): why the link landed on this view, not another

# --- the link: what the page shows, in the URL's query string (st.query_params) ---
# Read once at session start (they seed the widgets; invalid values are ignored with a
# warning), written back on every run, so a reload or a shared link shows the same picture.
# The view itself is the URL's path (dashboard/pages.py).
URL_DATASET = "ds"  # a built-in dataset name or a folder / .zip path
URL_BACKBONE = "bb"  # a registered backbone or "model.keras:layer"
URL_SIZE = "px"  # input size in pixels, or "auto"
URL_LIMIT = "n"  # images to embed, or "all"
URL_METHOD = "m"  # projection method: pca, tsne, umap
URL_COLOUR = "c"  # colour the projection by: class, predicted, correct, confidence, split
URL_HEAD = "h"  # the active head's key (a cached head on these transfer values; see HEADS)
URL_TARGET = "t"  # a numeric target's name (absent: the classes)
URL_KEYS = (URL_DATASET, URL_BACKBONE, URL_SIZE, URL_LIMIT, URL_METHOD, URL_COLOUR, URL_HEAD,
            URL_TARGET)
URL_START = "_url_start"  # the link's parameters at session start, taken one by one
URL_WARNINGS = "_url_warnings"  # link parameters that were ignored, and why

# --- what the page shows ---
TV_KEY = "tv_key"  # the transfer values shown by the last run (tests read it)
FEATURE_SPACE_KEY = "feature_space"
ORIGINAL, FINE_TUNED = "original", "fine-tuned"
PAUSED_EXTRACTION = "paused_extraction"
# The settings of the last workspace that was ready in this session: while new transfer
# values are embedded in the background, the views keep showing these.
READY_SETTINGS = "ready_settings"
WATCHED_EXTRACTION = "watched_extraction"  # the one extraction this session waits for

# --- results of this session, keyed by transfer values ---
# The active head of each set of transfer values (what every view calls "the head"). Every
# head trained with caching on is also on disk (core.heads.list_heads), so a fresh session
# restores one: the link's `h` if it names a usable head, else core's best_head by
# validation accuracy; never silently the latest. HEADS_RESOLVED: the values for which that
# choice was made in this session (a deleted active head makes it again).
HEADS = "heads"
HEADS_RESOLVED = "heads_resolved"
# In a public app the heads cache is shared by every visitor, but each visitor lists only
# the heads of their own session (trained, or opened from a link): tv_key → keys.
OWN_HEADS = "own_heads"
HEAD_NOTICE = "head_notice"  # (tv_key, level, text): why a run did not become active, once
HEAD_DELETE = "head_delete"  # the key of the head whose deletion waits for a confirmation
HEAD_COMPARE_A = "head_compare_a"
HEAD_COMPARE_B = "head_compare_b"
REGRESSION_COMPARE_A, REGRESSION_COMPARE_B = "regression_compare_a", "regression_compare_b"
CROSSFIT_HEADS = "crossfit_heads"
FINETUNED = "finetuned"
TV_STATUS = "tv_status"
EXPORTS = "exports"
SELECTION = "selection"
CHOSEN_IMAGE = "chosen_image"
TRAIN_CANCELLED = "train_cancelled"
# Regression heads live apart from the active (classification) head, so the class views
# never see a head without probabilities: (tv_key, target key) → HeadRecord.
REGRESSION_HEADS = "regression_heads"
REGRESSION_SELECTION = "regression_selection"  # picked on predicted-vs-actual (a Selection)

# --- sidebar widgets ---
SIDEBAR_SEEDED = "_sidebar_seeded"
DATASET_CHOICE = "dataset_choice"
DATASET_FOLDER = "dataset_folder"
DATASET_ZIP = "dataset_zip"
EXTRACTED_ZIP = "extracted_zip"
BACKBONE_CHOICE = "backbone_choice"
BACKBONE_CUSTOM = "backbone_custom"
IMAGE_SIZE = "image_size"
LIMIT = "limit"
LIMIT_PREFERENCE = "limit_preference"  # the applied subset size (LIMIT is the slider's)
LIMIT_SHOWN = "_limit_shown"  # the dataset size the slider was last drawn for
CACHE_CLEARED = "cache_cleared"
CLEAR_CONFIRM = "clear_confirm"  # the cache panel asks which entries to delete, and confirms
CLEAR_SCOPE = "clear_scope"

# --- view widgets that code reads or seeds ---
PROJ_METHOD = "proj_method"
PROJ_3D = "proj_3d"
PROJ_COLOUR = "proj_colour"
TSNE_PERPLEXITY = "tsne_perplexity"
UMAP_NEIGHBORS = "umap_neighbors"
UMAP_MIN_DIST = "umap_min_dist"
PROJECTION_CHART = "projection_chart"
PROJ_ZOOM = "proj_zoom"  # (projection key, x range, y range) of a zoomed density map
HEAD_TYPE = "head_type"
CM_SPLIT = "cm_split"
CM_TRUE = "cm_true"
CM_PRED = "cm_pred"
CONFUSION_CHART = "confusion_chart"
FAIL_SPLIT = "fail_split"
INSPECT_SOURCE = "inspect_source"
QUALITY_SECTION = "quality_section"  # the Data quality view's section (only it computes)
QUALITY_THRESHOLD = "quality_dup_threshold"  # near-duplicate threshold (× median 1-NN distance)
QUALITY_GIVEN = "issues_given"  # label errors: filter by given label
QUALITY_ONLY_OUTLIERS = "quality_only_outliers"  # outliers: hide the unflagged ranking
INSPECT_INDEX = "inspect_index"
TARGET_CHOICE = "target_choice"  # sidebar: CLASSES or a numeric target's name
REGRESSION_HEAD_TYPE = "regression_head_type"
REGRESSION_CHART = "regression_chart"  # the predicted-vs-actual scatter
REGRESSION_CLASS = "regression_class"  # worst residuals: filter by class


@dataclass
class HeadRecord:
    """A trained head plus what the UI needs to compare it with what came before."""

    head: Any  # core.heads.TrainedHead
    token: int  # unique id, part of memo keys for figures coloured by this head
    before_accuracy: float | None  # the previous head's test accuracy, if any
    before_label: str

    @property
    def key(self) -> str | None:
        """The head's cache key (core.heads.list_heads lists it under this key)."""
        return self.head.key


@dataclass
class Selection:
    """Sample indices picked on the projection, valid for one set of transfer values."""

    tv_key: str
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # the box/lasso's bounding box on the map (display units): what "Zoom to selection" shows
    region: tuple | None = None


def init() -> None:
    """Defaults for keys the app reads before any widget writes them."""
    for key in (HEADS, CROSSFIT_HEADS, TV_STATUS, EXPORTS, FINETUNED, HEADS_RESOLVED,
                OWN_HEADS, REGRESSION_HEADS):
        st.session_state.setdefault(key, {})


def session_token() -> str:
    """A random token for this browser session, kept for its lifetime: it names the
    session's own uploads folder, so no session can guess (or reach) another's."""
    return st.session_state.setdefault(SESSION_TOKEN, secrets.token_hex(16))


def session_started() -> bool:
    """False the first time it is asked in a session, True afterwards."""
    started = bool(st.session_state.get(SESSION_STARTED))
    st.session_state[SESSION_STARTED] = True
    return started


# --- plain access for widget keys (always one of the constants above) ---

def get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def seed(key: str, value: Any) -> Any:
    """A widget's starting value, set once (a widget's own `value=` would fight the state)."""
    return st.session_state.setdefault(key, value)


def has(key: str) -> bool:
    return key in st.session_state


def pop(key: str, default: Any = None) -> Any:
    return st.session_state.pop(key, default)


# --- navigation ---

def shown_view() -> str | None:
    return st.session_state.get(SHOWN_VIEW)


def set_shown_view(url_path: str) -> None:
    st.session_state[SHOWN_VIEW] = url_path


def note_view(url_path: str, text: str) -> None:
    """A note for the view at `url_path`, shown while that view stays open."""
    st.session_state[VIEW_NOTE] = (url_path, text)


def view_note(url_path: str | None) -> str | None:
    """The note for the view at `url_path`; another view drops it."""
    note = st.session_state.get(VIEW_NOTE)
    if note is not None and note[0] != url_path:
        del st.session_state[VIEW_NOTE]
        return None
    return None if note is None else note[1]


def set_tv_key(tv_key: str) -> None:
    st.session_state[TV_KEY] = tv_key


# --- the link (query parameters) ---

def _url_start() -> dict[str, str]:
    if URL_START not in st.session_state:
        st.session_state[URL_START] = {key: st.query_params[key] for key in URL_KEYS
                                       if key in st.query_params}
    return st.session_state[URL_START]


def take_url(name: str) -> str | None:
    """The link's value for `name` at session start, once (None: absent or already taken)."""
    value = _url_start().pop(name, None)
    return None if value is None else str(value).strip() or None


def reject_url(name: str, value: str, why: str) -> None:
    """A link parameter that cannot be used: it is ignored, with a warning (see url_warnings)."""
    st.session_state.setdefault(URL_WARNINGS, []).append(f"`{name}={value}`: {why}")


def take_url_warnings() -> list[str]:
    return st.session_state.pop(URL_WARNINGS, [])


def write_url(values: dict[str, Any]) -> None:
    """Put the current choices in the URL (None removes a parameter). Parameters not taken
    yet (a method for a view not shown yet) stay as the link gave them."""
    pending = _url_start()
    for name in URL_KEYS:
        value = values.get(name)
        if value is None and name in pending:
            value = pending[name]
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)


def url_params() -> dict[str, str]:
    """The URL's parameters now (to carry them across a page switch)."""
    return st.query_params.to_dict()


def resend_url() -> None:
    """Send the URL's parameters to the browser again: a click in the menu at the top drops
    them from the address bar, while the server still holds them (so write_url sees no
    change to send)."""
    st.query_params.from_dict(url_params())


# --- trained heads, keyed by the transfer values they were trained on ---

def head_record(tv_key: str) -> HeadRecord | None:
    return st.session_state[HEADS].get(tv_key)


def store_head(tv_key: str, head: Any, *, compare: bool = True) -> HeadRecord:
    """Make `head` the active head of these values (compared with the one it replaces, or
    with chance when `compare` is off or there was none)."""
    previous = head_record(tv_key) if compare else None
    if previous is not None:
        before, label = previous.head.metrics["test_accuracy"], f"previous {previous.head.head}"
    else:
        before, label = head.metrics.get("chance_accuracy"), "chance"
    record = HeadRecord(head=head, token=next(_tokens), before_accuracy=before, before_label=label)
    st.session_state[HEADS][tv_key] = record
    remember_own_head(tv_key, record.key)
    st.session_state[HEADS_RESOLVED][tv_key] = True
    return record


def remember_own_head(tv_key: str, key: str | None) -> None:
    """`key` is one of this session's heads on these values (see OWN_HEADS)."""
    if key is not None:
        own = st.session_state[OWN_HEADS].setdefault(tv_key, [])
        if key not in own:
            own.append(key)


def own_heads(tv_key: str) -> set[str]:
    return set(st.session_state[OWN_HEADS].get(tv_key, ()))


def forget_own_head(tv_key: str, key: str) -> None:
    own = st.session_state[OWN_HEADS].get(tv_key, [])
    if key in own:
        own.remove(key)


def active_head_key(tv_key: str | None) -> str | None:
    record = None if tv_key is None else head_record(tv_key)
    return None if record is None else record.key


def head_resolved(tv_key: str) -> bool:
    """Whether this session already chose the active head of these values."""
    return bool(st.session_state[HEADS_RESOLVED].get(tv_key))


def mark_head_resolved(tv_key: str) -> None:
    st.session_state[HEADS_RESOLVED][tv_key] = True


def drop_head(tv_key: str, key: str) -> None:
    """The head `key` is gone (deleted): no longer active nor the label-issue head; the
    next look chooses the active head again."""
    if active_head_key(tv_key) == key:
        st.session_state[HEADS].pop(tv_key, None)
        st.session_state[HEADS_RESOLVED].pop(tv_key, None)
    crossfit = crossfit_head(tv_key)
    if crossfit is not None and crossfit.key == key:
        st.session_state[CROSSFIT_HEADS].pop(tv_key, None)
    for name in (HEAD_COMPARE_A, HEAD_COMPARE_B):
        if st.session_state.get(name) == key:
            st.session_state.pop(name)
    st.session_state.pop(HEAD_DELETE, None)


def notify_head(tv_key: str, level: str, text: str) -> None:
    """A message about the active head to show once on these values ("warning", "info")."""
    st.session_state[HEAD_NOTICE] = (tv_key, level, text)


def take_head_notice(tv_key: str) -> tuple[str, str] | None:
    notice = st.session_state.get(HEAD_NOTICE)
    if not notice or notice[0] != tv_key:
        return None
    st.session_state.pop(HEAD_NOTICE)
    return notice[1], notice[2]


def ask_delete_head(key: str) -> None:
    st.session_state[HEAD_DELETE] = key


def cancel_delete_head() -> None:
    st.session_state.pop(HEAD_DELETE, None)


def head_to_delete() -> str | None:
    return st.session_state.get(HEAD_DELETE)


def crossfit_head(tv_key: str) -> HeadRecord | None:
    """A head whose train-sample probabilities are out-of-fold (for label issues)."""
    return st.session_state[CROSSFIT_HEADS].get(tv_key)


def store_crossfit_head(tv_key: str, head: Any) -> HeadRecord:
    record = HeadRecord(head=head, token=next(_tokens), before_accuracy=None, before_label="")
    st.session_state[CROSSFIT_HEADS][tv_key] = record
    return record


def mark_cancelled() -> None:
    """Training was cancelled (an on_click callback; the rerun interrupts the training)."""
    st.session_state[TRAIN_CANCELLED] = True


def was_cancelled() -> bool:
    """Whether training was cancelled since the last time this was asked."""
    return bool(st.session_state.pop(TRAIN_CANCELLED, False))


# --- regression heads, keyed by transfer values and target ---

def regression_head(tv_key: str, target_key: str) -> HeadRecord | None:
    return st.session_state[REGRESSION_HEADS].get((tv_key, target_key))


def store_regression_head(tv_key: str, target_key: str, head: Any) -> HeadRecord:
    """Make `head` the regression head shown for this target on these values."""
    record = HeadRecord(head=head, token=next(_tokens), before_accuracy=None, before_label="")
    st.session_state[REGRESSION_HEADS][(tv_key, target_key)] = record
    remember_own_head(tv_key, record.key)
    return record


def drop_regression_head(tv_key: str, target_key: str, key: str) -> None:
    """The regression head `key` is gone (deleted or hidden): no longer shown, compared or
    asked about; the next look shows the best remaining one."""
    shown = regression_head(tv_key, target_key)
    if shown is not None and shown.key == key:
        st.session_state[REGRESSION_HEADS].pop((tv_key, target_key), None)
    for name in (REGRESSION_COMPARE_A, REGRESSION_COMPARE_B):
        if st.session_state.get(name) == key:
            st.session_state.pop(name)
    st.session_state.pop(HEAD_DELETE, None)


def regression_selection(tv_key: str) -> np.ndarray:
    stored: Selection | None = st.session_state.get(REGRESSION_SELECTION)
    if stored is None or stored.tv_key != tv_key:
        return np.zeros(0, dtype=np.int64)
    return stored.indices


def set_regression_selection(tv_key: str, indices: Iterable[int]) -> None:
    array = np.unique(np.asarray(list(indices), dtype=np.int64))
    st.session_state[REGRESSION_SELECTION] = Selection(tv_key=tv_key, indices=array)


def clear_regression_selection() -> None:
    st.session_state.pop(REGRESSION_SELECTION, None)


# --- fine-tuned backbones, keyed by the original transfer values ---

def finetuned(tv_key: str) -> Any:
    """The fine-tuning (core.finetune.evaluate.FineTuned) done on these values, if any."""
    return st.session_state[FINETUNED].get(tv_key)


def store_finetuned(tv_key: str, done: Any) -> None:
    st.session_state[FINETUNED][tv_key] = done
    store_head(done.after.key, done.head)


def show_fine_tuned() -> None:
    """Switch every view to the fine-tuned feature space (an on_click callback)."""
    st.session_state[FEATURE_SPACE_KEY] = FINE_TUNED


def fine_tuned_space() -> bool:
    return st.session_state.get(FEATURE_SPACE_KEY) == FINE_TUNED


# --- transfer-value extraction paused by the user ---

STOPPED, CLEARED = "stopped", "cleared"  # why extraction waits for the user


def pause_extraction(tv_key: str, why: str = STOPPED) -> None:
    st.session_state[PAUSED_EXTRACTION] = (tv_key, why)


def resume_extraction() -> None:
    st.session_state.pop(PAUSED_EXTRACTION, None)


def extraction_paused(tv_key: str) -> str | None:
    """Why extraction of these values waits for the user (STOPPED, CLEARED), or None."""
    paused = st.session_state.get(PAUSED_EXTRACTION)
    return paused[1] if paused and paused[0] == tv_key else None


def ready_settings() -> Any:
    """The settings of the last workspace shown (dashboard.resources.Settings), or None."""
    return st.session_state.get(READY_SETTINGS)


def set_ready_settings(settings: Any) -> None:
    st.session_state[READY_SETTINGS] = settings


def watch_extraction(tv_key: str) -> str | None:
    """This session now waits for `tv_key`'s extraction; returns the key it waited for
    before, if another (the caller lets go of that one)."""
    before = st.session_state.get(WATCHED_EXTRACTION)
    st.session_state[WATCHED_EXTRACTION] = tv_key
    return before if before != tv_key else None


def unwatch_extraction(tv_key: str) -> None:
    if st.session_state.get(WATCHED_EXTRACTION) == tv_key:
        del st.session_state[WATCHED_EXTRACTION]


# --- the projection selection and the chosen image ---

def selection(tv_key: str) -> np.ndarray:
    stored: Selection | None = st.session_state.get(SELECTION)
    if stored is None or stored.tv_key != tv_key:
        return np.zeros(0, dtype=np.int64)
    return stored.indices


def set_selection(tv_key: str, indices: Iterable[int], region: tuple | None = None) -> None:
    array = np.unique(np.asarray(indices if isinstance(indices, np.ndarray) else list(indices),
                                 dtype=np.int64))
    st.session_state[SELECTION] = Selection(tv_key=tv_key, indices=array, region=region)


def selection_region(tv_key: str) -> tuple | None:
    """((x0, x1), (y0, y1)) around the current box/lasso selection, if there is one."""
    stored: Selection | None = st.session_state.get(SELECTION)
    return None if stored is None or stored.tv_key != tv_key else stored.region


def zoom(projection_key: str) -> tuple | None:
    """The region of this map the density view is zoomed into, or None for all of it."""
    stored = st.session_state.get(PROJ_ZOOM)
    return stored[1] if stored and stored[0] == projection_key else None


def set_zoom(projection_key: str, region: tuple | None) -> None:
    if region is None:
        st.session_state.pop(PROJ_ZOOM, None)
    else:
        st.session_state[PROJ_ZOOM] = (projection_key, region)


def clear_selection() -> None:
    st.session_state.pop(SELECTION, None)


def chosen_image(tv_key: str) -> int | None:
    """The sample whose neighbours (and inspection) the user asked for."""
    stored = st.session_state.get(CHOSEN_IMAGE)
    if not stored or stored[0] != tv_key:
        return None
    return stored[1]


def choose_image(tv_key: str, index: int) -> None:
    st.session_state[CHOSEN_IMAGE] = (tv_key, int(index))


def forget_image() -> None:
    st.session_state.pop(CHOSEN_IMAGE, None)


def choose_image_from(tv_key: str, widget_key: str) -> None:
    """on_change callback: the image a widget (selectbox, number input) now shows."""
    choose_image(tv_key, st.session_state[widget_key])


def projection_choice() -> tuple[str, int, dict | None]:
    """The method, dimensions and parameters the Projections view shows (or would show)."""
    method = st.session_state.get(PROJ_METHOD, "pca")
    dims = 3 if st.session_state.get(PROJ_3D) else 2
    params = None
    if method == "tsne" and TSNE_PERPLEXITY in st.session_state:
        params = {"perplexity": st.session_state[TSNE_PERPLEXITY]}
    elif method == "umap" and UMAP_NEIGHBORS in st.session_state:
        params = {"n_neighbors": st.session_state[UMAP_NEIGHBORS],
                  "min_dist": st.session_state[UMAP_MIN_DIST]}
    return method, dims, params


# --- files written by the Export view ---

def export_path(tv_key: str, what: str) -> str | None:
    return st.session_state[EXPORTS].get((tv_key, what))


def store_export(tv_key: str, what: str, path: str) -> None:
    st.session_state[EXPORTS][(tv_key, what)] = path


# --- what happened to the transfer values in this session (for the cache panel) ---

def record_tv_status(tv_key: str, status: str, seconds: float) -> None:
    st.session_state[TV_STATUS][tv_key] = (status, seconds)


def tv_status(tv_key: str) -> tuple[str, float] | None:
    return st.session_state[TV_STATUS].get(tv_key)


def ask_clear_cache() -> None:
    st.session_state[CLEAR_CONFIRM] = True


def cancel_clear_cache() -> None:
    st.session_state.pop(CLEAR_CONFIRM, None)


def clear_cache_asked() -> bool:
    return bool(st.session_state.get(CLEAR_CONFIRM))


def cache_cleared(freed: int, *, everything: bool) -> None:
    """After the cache was cleared: what was computed is gone from disk. The values on the
    page are not recomputed until the user asks (a clear must not start a long job)."""
    st.session_state.pop(CLEAR_CONFIRM, None)
    st.session_state[CACHE_CLEARED] = freed
    st.session_state[TV_STATUS] = {}
    if everything:
        st.session_state.pop(EXTRACTED_ZIP, None)  # uploads live in the cache folder too
    if TV_KEY in st.session_state:
        pause_extraction(st.session_state[TV_KEY], CLEARED)


def take_cache_cleared() -> int | None:
    """Bytes freed by a clear since the last time this was asked."""
    return st.session_state.pop(CACHE_CLEARED, None)
