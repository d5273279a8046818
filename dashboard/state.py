"""Session-state helpers: the chosen view, the selection and trained heads, keyed so that
changing the dataset or backbone visibly drops whatever depended on the old transfer values.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import streamlit as st

VIEWS: tuple[str, ...] = (
    "Projections", "Train a head", "Confusion matrix", "Failures", "Label issues",
    "Inspect an image", "Export",
)
VIEW_KEY = "view"
_tokens = itertools.count(1)  # process-wide, so figure memo keys never collide across sessions


@dataclass
class HeadRecord:
    """A trained head plus what the UI needs to compare it with what came before."""

    head: Any  # core.heads.TrainedHead
    token: int  # unique id, part of memo keys for figures coloured by this head
    before_accuracy: float | None  # the previous head's test accuracy, if any
    before_label: str


@dataclass
class Selection:
    """Sample indices picked on the projection, valid for one set of transfer values."""

    tv_key: str
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def init() -> None:
    """Defaults for keys the app reads before any widget writes them."""
    st.session_state.setdefault(VIEW_KEY, VIEWS[0])
    st.session_state.setdefault("heads", {})
    st.session_state.setdefault("crossfit_heads", {})
    st.session_state.setdefault("tv_status", {})
    st.session_state.setdefault("exports", {})
    st.session_state.setdefault("finetuned", {})


def go_to(view: str) -> None:
    """Switch view (use as an on_click callback: it runs before the selector is drawn)."""
    st.session_state[VIEW_KEY] = view


def current_view() -> str:
    view = st.session_state.get(VIEW_KEY)
    return view if view in VIEWS else VIEWS[0]


# --- trained heads, keyed by the transfer values they were trained on ---

def head_record(tv_key: str) -> HeadRecord | None:
    return st.session_state["heads"].get(tv_key)


def store_head(tv_key: str, head: Any) -> HeadRecord:
    previous = head_record(tv_key)
    if previous is not None:
        before, label = previous.head.metrics["test_accuracy"], f"previous {previous.head.head}"
    else:
        before, label = head.metrics.get("chance_accuracy"), "chance"
    record = HeadRecord(head=head, token=next(_tokens), before_accuracy=before, before_label=label)
    st.session_state["heads"][tv_key] = record
    return record


def crossfit_head(tv_key: str) -> HeadRecord | None:
    """A head whose train-sample probabilities are out-of-fold (for label issues)."""
    return st.session_state["crossfit_heads"].get(tv_key)


def store_crossfit_head(tv_key: str, head: Any) -> HeadRecord:
    record = HeadRecord(head=head, token=next(_tokens), before_accuracy=None, before_label="")
    st.session_state["crossfit_heads"][tv_key] = record
    return record


# --- fine-tuned backbones, keyed by the original transfer values ---

FEATURE_SPACE_KEY = "feature_space"
ORIGINAL, FINE_TUNED = "original", "fine-tuned"


def finetuned(tv_key: str) -> Any:
    """The fine-tuning (core.finetune.evaluate.FineTuned) done on these values, if any."""
    return st.session_state["finetuned"].get(tv_key)


def store_finetuned(tv_key: str, done: Any) -> None:
    st.session_state["finetuned"][tv_key] = done
    store_head(done.after.key, done.head)


def show_fine_tuned() -> None:
    """Switch every view to the fine-tuned feature space (an on_click callback)."""
    st.session_state[FEATURE_SPACE_KEY] = FINE_TUNED


# --- the projection selection ---

def selection(tv_key: str) -> np.ndarray:
    stored: Selection | None = st.session_state.get("selection")
    if stored is None or stored.tv_key != tv_key:
        return np.zeros(0, dtype=np.int64)
    return stored.indices


def set_selection(tv_key: str, indices: Iterable[int]) -> None:
    array = np.unique(np.asarray(list(indices), dtype=np.int64))
    st.session_state["selection"] = Selection(tv_key=tv_key, indices=array)


def clear_selection() -> None:
    st.session_state.pop("selection", None)


def chosen_image(tv_key: str) -> int | None:
    """The sample whose neighbours (and inspection) the user asked for."""
    stored = st.session_state.get("chosen_image")
    if not stored or stored[0] != tv_key:
        return None
    return stored[1]


def choose_image(tv_key: str, index: int) -> None:
    st.session_state["chosen_image"] = (tv_key, int(index))


# --- what happened to the transfer values in this session (for the cache panel) ---

def record_tv_status(tv_key: str, status: str, seconds: float) -> None:
    st.session_state["tv_status"][tv_key] = (status, seconds)


def tv_status(tv_key: str) -> tuple[str, float] | None:
    return st.session_state["tv_status"].get(tv_key)
