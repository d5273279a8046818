"""One heavy job at a time: a small process-wide gate for extraction, projections, training
and fine-tuning.

Concurrent visitors of a hosted app (or tabs of a local one) queue in order instead of
splitting two cores between several heavy jobs; while a caller waits, its progress callback
hears its queue position (and may raise CancelledError to leave the queue). Only work that
misses the cache takes a slot, so cached results stay instant for everyone while a job
runs. The gate is re-entrant per thread: a job that starts another (fine-tuning computes
transfer values first) does not wait for itself. TRANSFER_LENS_JOBS=N allows N at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Iterator, Optional

from core.base.progress import Progress, ProgressCallback

JOBS_ENV = "TRANSFER_LENS_JOBS"
POLL_SECONDS = 0.5


class JobGate:
    """A FIFO of heavy jobs with `slots` running at once."""

    def __init__(self, *, slots: int) -> None:
        if slots < 1:
            raise ValueError("a job gate needs at least one slot")
        self.slots = slots
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._running: dict[object, tuple[str, float]] = {}  # ticket → (job name, start)
        self._held = threading.local()

    def status(self) -> dict:
        """What runs (names and seconds so far) and how many wait."""
        with self._condition:
            now = time.monotonic()
            return {"running": [(name, now - start) for name, start in self._running.values()],
                    "waiting": len(self._queue), "slots": self.slots}

    @contextmanager
    def slot(self, *, name: str, progress: Optional[ProgressCallback] = None) -> Iterator[None]:
        """Hold one slot for the block; wait in line (reporting the position) until free."""
        if getattr(self._held, "depth", 0):  # this thread already runs a job
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        ticket = object()
        with self._condition:
            self._queue.append(ticket)
        try:
            self._wait_for_turn(ticket, name=name, progress=progress)
        except BaseException:
            with self._condition:
                self._queue.remove(ticket)
                self._condition.notify_all()
            raise
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            with self._condition:
                del self._running[ticket]
                self._condition.notify_all()

    def _wait_for_turn(self, ticket: object, *, name: str,
                       progress: Optional[ProgressCallback]) -> None:
        while True:
            with self._condition:
                position = self._queue.index(ticket)
                if position == 0 and len(self._running) < self.slots:
                    self._queue.popleft()
                    self._running[ticket] = (name, time.monotonic())
                    return
                ahead = [job for job, _ in self._running.values()]
                waiting = len(self._queue)
            if progress is not None:  # outside the lock: the callback may take its time
                progress(Progress("queued", position + 1, waiting,
                                  message=f"waiting for {', '.join(ahead) or 'a job'} to finish "
                                          f"(place {position + 1} in line)"))
            with self._condition:
                self._condition.wait(timeout=POLL_SECONDS)


_gate: JobGate | None = None
_gate_lock = threading.Lock()


def job_gate() -> JobGate:
    """The process-wide gate (slots from $TRANSFER_LENS_JOBS, default 1)."""
    global _gate
    with _gate_lock:
        if _gate is None:
            _gate = JobGate(slots=max(1, int(os.environ.get(JOBS_ENV, "1") or 1)))
        return _gate


def heavy_job(*, name: str, progress: Optional[ProgressCallback] = None):
    """`with heavy_job(name=..., progress=...):` — a slot of the process-wide gate."""
    return job_gate().slot(name=name, progress=progress)
