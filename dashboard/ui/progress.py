"""Core progress reports drawn as one st.progress bar with rate and ETA."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

import streamlit as st


# --- the view's frame: where a long computation replaces the view ---
#
# While a script run is busy, Streamlit keeps showing the previous run's elements that
# the run has not reached yet, greyed out, below the new ones: during a t-SNE, an
# extraction or a training the user saw the controls twice (the new ones above the
# progress bar, the previous run's below it). So app.py gives the view a frame of two
# slots: the view draws in the first; a long computation empties it (the view's elements
# go at once) and draws its progress in the second, alone; when it is done the script
# reruns and the view is drawn again, from the memo. One frame per script thread (each
# session runs in its own thread).
#
# Why two slots and not one replaced in place: Streamlit's outgoing queue merges a new
# element into an unsent older one at the same path (ForwardMsgQueue composes deltas)
# even when a new block replaced that path's parent in between, so under load the
# progress box's first children were merged into the view's old elements, sent before
# the box, and the browser's app crashed to a blank page ("Bad delta path index 2
# (should be between [0, 0])", seen in the 8-session load test). Progress in a slot of
# its own has paths the view never used.

class _Frame(threading.local):
    view_slot: Any = None  # the st.empty() the view is drawn in (None: draw where we are)
    compute_slot: Any = None  # the st.empty() a long computation draws in
    view_drawn = False  # the view has started drawing into the frame in this run
    replaced = False  # a computation replaced the view: rerun when its result is kept
    depth = 0  # computing areas open (an inner one draws inside the outer one)
    below: Any = None  # drawn under the next long computation's progress (show_below)


_frame = _Frame()


@contextmanager
def view_frame(frame) -> Iterator[None]:
    """app.py: `frame` (an st.container()) holds the view, or a computation, for this run."""
    _frame.view_slot, _frame.compute_slot = frame.empty(), frame.empty()
    _frame.view_drawn, _frame.replaced, _frame.depth, _frame.below = False, False, 0, None
    try:
        yield
    finally:
        _frame.view_slot = _frame.compute_slot = None


def view_container():
    """The container the view draws in (a same-type block keeps the previous run's
    children while they are redrawn, so an ordinary rerun does not flicker)."""
    if _frame.view_slot is None:
        return st.container()
    _frame.view_drawn = True
    return _frame.view_slot.container()


@contextmanager
def computing_area(title: str) -> Iterator[None]:
    """Draw a long computation's progress (stop button, live curves) as the view's only
    content, in an st.status titled `title`. Outside a frame (or inside another computing
    area) it draws where it is."""
    if _frame.view_slot is None or _frame.depth > 0:
        _frame.depth += 1
        try:
            yield
        finally:
            _frame.depth -= 1
        return
    _frame.view_slot.empty()  # the view (the previous run's, or half-drawn) goes
    if _frame.view_drawn:
        _frame.replaced = True  # drawn again from the memo in the next run
    area = _frame.compute_slot.status(title, expanded=True)
    below, _frame.below = _frame.below, None
    _frame.depth += 1
    try:
        with area:
            # the computation's progress first, then what `below` draws
            work = st.container() if below is not None else nullcontext()
            if below is not None:
                below()
            with work:
                yield
    except Exception:
        area.update(state="error")
        raise
    finally:
        _frame.depth -= 1
    area.update(state="complete")


def show_below(draw: Callable[[], None] | None) -> None:
    """`draw()` draws under the progress of the next long computation of this run (a first
    map while the whole one is computed); None: nothing."""
    _frame.below = draw


def view_replaced() -> bool:
    """A computation replaced the half-drawn view in this run (it is drawn again next)."""
    return _frame.replaced


def redraw_if_replaced() -> None:
    """After a computation's result is kept: rerun if the computation replaced the view
    (the view's half-drawn container is gone; the rerun draws it from the memo)."""
    if _frame.replaced and _frame.depth == 0:
        _frame.replaced = False
        st.rerun()


class ProgressPanel:
    """Feeds core Progress snapshots into one st.progress bar with rate and ETA.

    Redraws at most ~8 times a second: each redraw is a message to the browser, and a
    fast loop (small batches) would otherwise flood it.
    """

    def __init__(self, label: str, *, starting: str | None = None) -> None:
        self._slot = st.empty()
        self._label = label
        self._bar = self._slot.progress(0.0, text=label)
        self._last = 0.0
        self._starting = starting  # said while nothing has been measured yet (no rate)

    def __call__(self, progress: Any) -> None:  # a core.base.progress.Progress snapshot
        now = time.monotonic()
        if progress.stage == "queued":  # core.base.jobs: waiting for a heavy job slot
            if now - self._last >= 0.12:
                self._last = now
                self._bar.progress(0.0, text=queued_text(progress))
            return
        if progress.done < progress.total and now - self._last < 0.12:
            return
        self._last = now
        if progress.total > 0 and progress.done >= progress.total:
            # a finished stage: its "1/1" must not stand for the (maybe silent) next step
            self._bar.progress(1.0, text=f"{self._label} {progress.stage} done; "
                                         "working on the next step…")
            return
        text = progress.describe()
        if self._starting and progress.rate == 0 and progress.done < progress.total:
            text += f" · {self._starting}"  # so a slow start does not look frozen
        self._bar.progress(progress.fraction, text=text)

    def clear(self) -> None:
        self._slot.empty()


def queued_text(progress: Any) -> str:
    """Where a job waits: "Queued: place 2 of 3 in line · waiting for ... to finish."."""
    text = f"Queued: place {progress.done} of {progress.total} in line"
    why = str(getattr(progress, "message", "")).split(" (place ")[0]  # its place is said
    return text + (f" · {why}" if why else "") + ". It starts by itself."


@contextmanager
def progress_panel(label: str, *, starting: str | None = None,
                   replace_view: bool = False) -> Iterator[ProgressPanel]:
    """A progress bar that disappears when the work is done (or fails). `replace_view`:
    a long computation, drawn alone in the view's frame (see computing_area); the caller
    calls redraw_if_replaced() once the result is kept."""
    with (computing_area(label) if replace_view else _here()):
        panel = ProgressPanel(label, starting=starting)
        try:
            yield panel
        finally:
            panel.clear()


@contextmanager
def _here() -> Iterator[None]:
    yield


class StreamlitReport:
    """The Report services take (dashboard.services.report): progress bars, spinners and
    the view's frame, drawn here."""

    def progress(self, label: str, *, starting: str | None = None, replace_view: bool = False):
        return progress_panel(label, starting=starting, replace_view=replace_view)

    def busy(self, text: str):
        return st.spinner(text)

    def kept(self) -> None:
        redraw_if_replaced()


REPORT = StreamlitReport()
