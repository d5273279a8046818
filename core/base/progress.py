"""Progress reporting shared by extraction, projections and training — and the way to stop
them.

Long work takes one `progress` callback (`ProgressCallback`) and calls it with a `Progress`
snapshot at every point where it can stop (after each extraction batch, kNN step, t-SNE
round, logistic-regression C, Keras batch group, fine-tuning step). To stop the work, raise
`core.base.errors.CancelledError` from the callback: it propagates out of the call, and what
was finished before that point is kept (finished extraction chunks and fine-tuning epochs
are resumed next time; nothing half-done is cached). Like openTSNE's callbacks, one hook
both watches and stops, so there is no separate `cancel` argument to thread through.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class Progress:
    """A snapshot of long-running work."""

    stage: str
    done: int
    total: int
    rate: float = 0.0  # items per second over the work so far
    eta_seconds: Optional[float] = None
    message: str = ""

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)

    def describe(self) -> str:
        parts = [f"{self.stage}: {self.done}/{self.total}"]
        if self.rate > 0:
            parts.append(f"{self.rate:,.0f}/s")
        if self.eta_seconds is not None:
            parts.append(f"ETA {format_seconds(self.eta_seconds)}")
        if self.message:
            parts.append(self.message)
        return " · ".join(parts)


ProgressCallback = Callable[[Progress], None]  # may raise CancelledError to stop the work


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressTracker:
    """Turns (done, total) updates into Progress snapshots with rate and ETA.

    `done_before` counts work finished earlier (a resumed run) so the rate reflects
    only what this run did.
    """

    def __init__(self, *, stage: str, total: int, callback: Optional[ProgressCallback],
                 done_before: int = 0) -> None:
        self.stage = stage
        self.total = total
        self.callback = callback
        self.done_before = done_before
        self.started = time.perf_counter()

    def restart_clock(self, done: int) -> None:
        """Measure the rate from now on (after a slow set-up such as building a model)."""
        self.started = time.perf_counter()
        self.done_before = done

    def update(self, done: int, message: str = "") -> Progress:
        elapsed = time.perf_counter() - self.started
        new_work = done - self.done_before
        rate = new_work / elapsed if elapsed > 0 and new_work > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else None
        progress = Progress(self.stage, done, self.total, rate, eta, message)
        if self.callback is not None:
            self.callback(progress)
        return progress


def stderr_progress_bar(width: int = 30) -> ProgressCallback:
    """A callback that draws a one-line progress bar on stderr (for the CLI).

    When stderr is not a terminal (CI logs, pipes) it prints a plain line every 10 % instead.
    """
    if not sys.stderr.isatty():
        last = {"decile": -1}

        def log(progress: Progress) -> None:
            decile = int(progress.fraction * 10)
            if decile != last["decile"] or progress.message:
                last["decile"] = decile
                sys.stderr.write(progress.describe() + "\n")
                sys.stderr.flush()

        return log

    def draw(progress: Progress) -> None:
        filled = int(round(progress.fraction * width))
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if progress.done >= progress.total else ""
        sys.stderr.write(f"\r[{bar}] {progress.describe()}\x1b[K{end}")
        sys.stderr.flush()

    return draw
