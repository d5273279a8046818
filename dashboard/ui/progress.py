"""Core progress reports drawn as one st.progress bar with rate and ETA."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator

import streamlit as st


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
def progress_panel(label: str, *, starting: str | None = None) -> Iterator[ProgressPanel]:
    """A progress bar that disappears when the work is done (or fails)."""
    panel = ProgressPanel(label, starting=starting)
    try:
        yield panel
    finally:
        panel.clear()
