"""Training as the Train and Fine-tune views draw it: a cancel button and live curves
while it runs, and why a run did not become the head when it did not."""

from __future__ import annotations

import time
from typing import Any, Callable

import pandas as pd
import streamlit as st

from core.base.errors import CancelledError, TransferLensError
from core.heads import head_title
from dashboard.services.public import visible
from dashboard.state import results, session
from dashboard.state.results import HeadRecord
from dashboard.ui.progress import view_replaced

# the live curves are redrawn at most this often: two line charts cost ~0.1 CPU-s, more
# than an epoch on small transfer values (the final curves are drawn from the history)
CURVES_EVERY_S = 0.5


def run_training(tv_key: str, work: Callable[[Callable[[Any], None]], Any], *,
                 curves: Callable[[list], None], kept: str, cancel: str = "Cancel training",
                 cancel_help: str | None = None) -> Any | None:
    """`work(on_epoch)` with a cancel button and `curves` redrawn after an epoch (the first,
    then at most every CURVES_EVERY_S seconds). Cancel
    reruns the script, which stops the work at its next progress update (Streamlit
    interrupts the running script). A refusal from core (a bound, the memory needed) is
    told with `kept` (what stays the head), and None returned."""
    cancel_slot = st.empty()
    cancel_slot.button(cancel, on_click=session.mark_cancelled, icon=":material/stop_circle:",
                       key="cancel_training", help=cancel_help)
    curves_slot = st.empty()
    logs: list = []
    drawn = [float("-inf")]  # when the curves were last drawn

    def on_epoch(log) -> None:
        logs.append(log)
        if time.monotonic() - drawn[0] < CURVES_EVERY_S:
            return
        with curves_slot.container():
            curves(logs)
        drawn[0] = time.monotonic()

    try:
        return work(on_epoch)
    except CancelledError:
        raise
    except TransferLensError as error:  # a bound, the memory needed, ...: for users
        tell(tv_key, "error", visible(str(error)), kept)
        return None
    finally:
        cancel_slot.empty()
        curves_slot.empty()


def tell(tv_key: str, level: str, text: str, more: str = "") -> None:
    """Why a run did not become active: here, or (when training replaced the view, which
    is drawn again next) as a notice the redrawn view shows once."""
    if view_replaced():
        results.notify_head(tv_key, level, f"{text} {more}".strip())
        return
    icon = ":material/error:" if level == "error" else ":material/warning:"
    getattr(st, level)(text, icon=icon)
    if more:
        st.caption(more)


def show_notice(tv_key: str) -> None:
    """The notice a run left for these values (see tell), once."""
    if (notice := results.take_head_notice(tv_key)) is not None:
        getattr(st, notice[0])(notice[1], icon=":material/info:")


def kept_text(previous: HeadRecord | None) -> str:
    if previous is None:
        return "No head is active on these transfer values yet."
    return (f"The active head is still the {head_title(previous.head.head)} "
            f"({previous.head.metrics['test_accuracy']:.1%} on test).")


def article(title: str) -> str:
    """'a' or 'an' as the title is spoken: "an MLP", "a softmax", "an L2 ..."."""
    first = title[:1]
    acronym = len(title) > 1 and title[:2].isupper()
    vowel_sound = first.lower() in "aeiou" or (acronym and first in "FHLMNRSX")
    return "an" if vowel_sound else "a"


def points(difference: float) -> str:
    """An accuracy difference in percentage points (not percent of a percentage)."""
    return f"{100 * difference:+.1f} points"


def curves(history) -> None:
    """Loss and accuracy per epoch, train against validation."""
    frame = pd.DataFrame([{"epoch": log.epoch, "train loss": log.loss,
                           "validation loss": log.val_loss, "train accuracy": log.accuracy,
                           "validation accuracy": log.val_accuracy} for log in history])
    _two_charts(frame.set_index("epoch"), "Accuracy", ["train accuracy", "validation accuracy"])


def regression_curves(history) -> None:
    """Loss and mean absolute error per epoch, train against validation."""
    frame = pd.DataFrame([{"epoch": log.epoch, "train loss": log.loss,
                           "validation loss": log.val_loss, "train MAE": log.mae,
                           "validation MAE": log.val_mae} for log in history]).set_index("epoch")
    _two_charts(frame, "Mean absolute error", ["train MAE", "validation MAE"])


def _two_charts(frame: pd.DataFrame, title: str, columns: list[str]) -> None:
    left, right = st.columns(2)
    left.markdown("**Loss**")
    left.line_chart(frame[["train loss", "validation loss"]], height=220, x_label="epoch",
                    color=["#4c6ef5", "#f76707"])
    right.markdown(f"**{title}**")
    right.line_chart(frame[columns], height=220, x_label="epoch", color=["#4c6ef5", "#f76707"])
