"""What this session made of a set of transfer values, in one store keyed by their key:
the active head, the heads it trained, the cross-fitted head for data quality, the
regression head shown per numeric target, the fine-tuning done on them.

Keyed by the values, so changing the dataset or backbone visibly drops whatever depended on
the old values. Every head trained with caching on is also on disk (core.heads.list_heads),
so a fresh session restores one (dashboard.services.heads.active_head): the link's `h` if
it names a usable head, else core's best_head by validation accuracy; never silently the
latest.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

RESULTS = "results"  # tv_key → Results
HEAD_NOTICE = "head_notice"  # (tv_key, level, text): why a run did not become active, once
HEAD_DELETE = "head_delete"  # the key of the head whose deletion waits for a confirmation
HEAD_COMPARE_A = "head_compare_a"
HEAD_COMPARE_B = "head_compare_b"
REGRESSION_COMPARE_A, REGRESSION_COMPARE_B = "regression_compare_a", "regression_compare_b"

_tokens = itertools.count(1)  # process-wide, so figure memo keys never collide across sessions


@dataclass
class HeadRecord:
    """A trained head plus what the UI needs to compare it with what came before."""

    head: Any  # core.heads.TrainedHead
    # part of memo keys for figures coloured by this head: its cache key (every session
    # showing one cached head, e.g. the bundle's, shares its figures), else a unique id
    token: int | str
    before_accuracy: float | None  # the previous head's test accuracy, if any
    before_label: str

    @property
    def key(self) -> str | None:
        """The head's cache key (core.heads.list_heads lists it under this key)."""
        return self.head.key


@dataclass
class Results:
    """This session's results on one set of transfer values."""

    head: HeadRecord | None = None  # the active head: what every view calls "the head"
    # the active head was chosen in this session (a deleted active head makes it again)
    head_resolved: bool = False
    # in a public app the heads cache is shared by every visitor, but each visitor lists
    # only the heads of their own session (trained, or opened from a link)
    own_heads: list[str] = field(default_factory=list)
    crossfit: HeadRecord | None = None  # train probabilities out-of-fold (label issues)
    # the regression head shown per numeric target (target key → record), apart from the
    # active head, so the class views never see a head without probabilities
    regression: dict[str, HeadRecord] = field(default_factory=dict)
    finetuned: Any = None  # core.finetune.evaluate.FineTuned, done on these (original) values
    # the last retrain-and-compare on corrected labels (core.corrections.CorrectionComparison)
    comparison: Any = None
    review_at: int | None = None  # the review queue's position (None: first not reviewed)


def results(tv_key: str) -> Results:
    """The results on these values (empty the first time)."""
    return st.session_state.setdefault(RESULTS, {}).setdefault(tv_key, Results())


def _record(head: Any, before: float | None = None, label: str = "") -> HeadRecord:
    token = head.key or next(_tokens)  # a cache key names the same predictions everywhere
    return HeadRecord(head=head, token=token, before_accuracy=before, before_label=label)


# --- the active head ---

def head_record(tv_key: str) -> HeadRecord | None:
    return results(tv_key).head


def store_head(tv_key: str, head: Any, *, compare: bool = True) -> HeadRecord:
    """Make `head` the active head of these values (compared with the one it replaces, or
    with chance when `compare` is off or there was none)."""
    previous = head_record(tv_key) if compare else None
    if previous is not None:
        before, label = previous.head.metrics["test_accuracy"], f"previous {previous.head.head}"
    else:
        before, label = head.metrics.get("chance_accuracy"), "chance"
    record = _record(head, before, label)
    found = results(tv_key)
    found.head, found.head_resolved = record, True
    remember_own_head(tv_key, record.key)
    return record


def active_head_key(tv_key: str | None) -> str | None:
    record = None if tv_key is None else head_record(tv_key)
    return None if record is None else record.key


def head_resolved(tv_key: str) -> bool:
    """Whether this session already chose the active head of these values."""
    return results(tv_key).head_resolved


def mark_head_resolved(tv_key: str) -> None:
    results(tv_key).head_resolved = True


def remember_own_head(tv_key: str, key: str | None) -> None:
    """`key` is one of this session's heads on these values (see Results.own_heads)."""
    own = results(tv_key).own_heads
    if key is not None and key not in own:
        own.append(key)


def own_heads(tv_key: str) -> set[str]:
    return set(results(tv_key).own_heads)


def forget_own_head(tv_key: str, key: str) -> None:
    own = results(tv_key).own_heads
    if key in own:
        own.remove(key)


def drop_head(tv_key: str, key: str) -> None:
    """The head `key` is gone (deleted): no longer active nor the label-issue head; the
    next look chooses the active head again."""
    found = results(tv_key)
    if active_head_key(tv_key) == key:
        found.head, found.head_resolved = None, False
    if found.crossfit is not None and found.crossfit.key == key:
        found.crossfit = None
    _forget_asked(key, (HEAD_COMPARE_A, HEAD_COMPARE_B))


def _forget_asked(key: str, compare_keys: tuple[str, str]) -> None:
    """A gone head is neither compared nor asked about any more."""
    for name in compare_keys:
        if st.session_state.get(name) == key:
            st.session_state.pop(name)
    st.session_state.pop(HEAD_DELETE, None)


def crossfit_head(tv_key: str) -> HeadRecord | None:
    """A head whose train-sample probabilities are out-of-fold (for label issues)."""
    return results(tv_key).crossfit


def store_crossfit_head(tv_key: str, head: Any) -> HeadRecord:
    record = _record(head)
    results(tv_key).crossfit = record
    return record


# --- regression heads, per numeric target ---

def regression_head(tv_key: str, target_key: str) -> HeadRecord | None:
    return results(tv_key).regression.get(target_key)


def regression_head_key(tv_key: str | None, target_name: str | None) -> str | None:
    """The cache key of the regression head shown for the target `target_name` (the link's
    `rh=`), or None."""
    if tv_key is None or target_name is None:
        return None
    return next((record.key for record in results(tv_key).regression.values()
                 if record.head.target == target_name), None)


def store_regression_head(tv_key: str, target_key: str, head: Any) -> HeadRecord:
    """Make `head` the regression head shown for this target on these values."""
    record = _record(head)
    results(tv_key).regression[target_key] = record
    remember_own_head(tv_key, record.key)
    return record


def drop_regression_head(tv_key: str, target_key: str, key: str) -> None:
    """The regression head `key` is gone (deleted or hidden): no longer shown, compared or
    asked about; the next look shows the best remaining one."""
    shown = regression_head(tv_key, target_key)
    if shown is not None and shown.key == key:
        results(tv_key).regression.pop(target_key, None)
    _forget_asked(key, (REGRESSION_COMPARE_A, REGRESSION_COMPARE_B))


# --- fine-tuned backbones, keyed by the original transfer values ---

def finetuned(tv_key: str) -> Any:
    """The fine-tuning (core.finetune.evaluate.FineTuned) done on these values, if any."""
    return results(tv_key).finetuned


def finetuned_key(tv_key: str | None) -> str | None:
    """The run key (the link's `ft=`) of this session's fine-tuning whose original or
    fine-tuned values are `tv_key`, or None."""
    for key, done in ((key, shown.finetuned)
                      for key, shown in st.session_state.get(RESULTS, {}).items()):
        if done is not None and tv_key in (key, done.after.key):
            return done.result.run_dir.name
    return None


def store_finetuned(tv_key: str, done: Any) -> None:
    results(tv_key).finetuned = done
    store_head(done.after.key, done.head)


# --- asking about heads (the Train and Fine-tune views) ---

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


# --- corrections: the review queue's position and the last before/after ---

def review_position(tv_key: str) -> int | None:
    return results(tv_key).review_at


def set_review_position(tv_key: str, position: int | None) -> None:
    results(tv_key).review_at = position


def comparison(tv_key: str) -> Any:
    """The last retrain-and-compare on these values (core.corrections.CorrectionComparison)."""
    return results(tv_key).comparison


def store_comparison(tv_key: str, done: Any) -> None:
    results(tv_key).comparison = done
