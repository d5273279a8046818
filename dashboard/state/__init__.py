"""Session state: the keys of the widgets that code reads or seeds, plain access to them,
and the view switch. The rest lives beside, by concern:

- `session`: the browser session, extraction paused or watched, the cache panel, exports;
- `url`: the link (query parameters) read at session start and written back every run;
- `results`: heads, regression heads and fine-tunings, one store keyed by the transfer
  values they belong to;
- `selection`: points picked on the maps, the zoom, the chosen image.

No other module writes `st.session_state["..."]`: keys are constants, reached through these
helpers. Keys that only name a widget (buttons, galleries) stay with the widget.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

# --- navigation (see dashboard/pages.py) ---
SHOWN_VIEW = "_shown_view"  # the url path of the page this run draws (the run log names it)
VIEW_NOTE = "_view_note"  # (url path, text): why the link landed on this view, not another

# --- what the page shows ---
TV_KEY = "tv_key"  # the transfer values shown by the last run (tests read it)
FEATURE_SPACE_KEY = "feature_space"
ORIGINAL, FINE_TUNED = "original", "fine-tuned"

# --- sidebar widgets ---
SIDEBAR_SEEDED = "_sidebar_seeded"
DATASET_CHOICE = "dataset_choice"
DATASET_FOLDER = "dataset_folder"
DATASET_ZIP = "dataset_zip"
EXTRACTED_ZIP = "extracted_zip"
UPLOAD_LINKED = "_upload_linked"  # the link named an upload (private to another session)
BACKBONE_CHOICE = "backbone_choice"
BACKBONE_CUSTOM = "backbone_custom"
IMAGE_SIZE = "image_size"
RUNTIME_CHOICE = "runtime_choice"  # "runtime precision" (core.backbones.runtime), not in public mode
LIMIT = "limit"
LIMIT_PREFERENCE = "limit_preference"  # the applied subset size (LIMIT is the slider's)
LIMIT_SHOWN = "_limit_shown"  # the dataset size the slider was last drawn for
LIMIT_LINKED = "_limit_linked"  # the link's n, until checked against the dataset's size
CLEAR_SCOPE = "clear_scope"
TARGET_CHOICE = "target_choice"  # sidebar: CLASSES or a numeric target's name

# --- view widgets that code reads or seeds ---
PROJ_METHOD = "proj_method"
PROJ_3D = "proj_3d"
PROJ_COMPARE = "proj_compare"  # before and after fine-tuning, side by side
PROJ_COLOUR = "proj_colour"
TSNE_PERPLEXITY = "tsne_perplexity"
UMAP_NEIGHBORS = "umap_neighbors"
UMAP_MIN_DIST = "umap_min_dist"
PROJECTION_CHART = "projection_chart"
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
INSPECT_ID = "inspect_id"  # Inspect's sample-id box (the index box is its fallback)
INSPECT_ID_ERROR = "_inspect_id_error"  # why the id typed last was not an image here
REGRESSION_HEAD_TYPE = "regression_head_type"
REGRESSION_CHART = "regression_chart"  # the predicted-vs-actual scatter
REGRESSION_CLASS = "regression_class"  # worst residuals: filter by class
SLICE_HEAD = "slice_head"  # Error slices: the key of the head whose errors are grouped
SLICE_FOCUS = "slice_focus"  # Error slices: a slice's rank ("1", ...) or "selection"
SLICE_CHART = "slice_chart"  # Error slices: the map (a box/lasso scores a selection)


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


def fine_tuned_space() -> bool:
    """Every view shows the fine-tuned backbone's values (the sidebar's Feature space)."""
    return st.session_state.get(FEATURE_SPACE_KEY) == FINE_TUNED


def show_fine_tuned() -> None:
    """Switch every view to the fine-tuned feature space (an on_click callback)."""
    st.session_state[FEATURE_SPACE_KEY] = FINE_TUNED
