"""One heavy job at a time: a small process-wide gate for extraction, projections, training
and fine-tuning.

Concurrent visitors of a hosted app (or tabs of a local one) queue in order instead of
splitting two cores between several heavy jobs; while a caller waits, its progress callback
hears its queue position (and may raise CancelledError to leave the queue). Only work that
misses the cache takes a slot, so cached results stay instant for everyone while a job
runs. The gate is re-entrant per thread: a job that starts another (fine-tuning computes
transfer values first) does not wait for itself. TRANSFER_LENS_JOBS=N allows N at once.
A job may name its `owner` (a session): in a public app an owner holds at most
PublicPolicy.max_jobs_per_session places in line or slots at once, so one visitor cannot
fill the line. A caller that does not pass one (training, projections deep in core) gets the
owner of the surrounding `job_owner` block (the app wraps each session's script run in one).
The queued message says how long the running job has run and how long the waiter has waited.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

from core.base.progress import Progress, ProgressCallback, format_seconds

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
        self._owners: dict[object, object] = {}  # ticket → owner, for tickets that name one
        self._held = threading.local()

    def status(self) -> dict:
        """What runs (names and seconds so far) and how many wait."""
        with self._condition:
            now = time.monotonic()
            return {"running": [(name, now - start) for name, start in self._running.values()],
                    "waiting": len(self._queue), "slots": self.slots}

    @contextmanager
    def slot(self, *, name: str, progress: Optional[ProgressCallback] = None,
             owner: object | None = None) -> Iterator[None]:
        """Hold one slot for the block; wait in line (reporting the position) until free.
        `owner` (e.g. a session token) is held to the public per-session share."""
        if getattr(self._held, "depth", 0):  # this thread already runs a job
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        ticket = object()
        with self._condition:
            if owner is not None:
                self._check_share(owner, name=name)
                self._owners[ticket] = owner
            self._queue.append(ticket)
        try:
            self._wait_for_turn(ticket, name=name, progress=progress)
        except BaseException:
            with self._condition:
                self._queue.remove(ticket)
                self._owners.pop(ticket, None)
                self._condition.notify_all()
            raise
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            with self._condition:
                del self._running[ticket]
                self._owners.pop(ticket, None)
                self._condition.notify_all()

    def _check_share(self, owner: object, *, name: str) -> None:
        """In a public app, refuse a new place in line to an owner already at its share
        (called holding the condition's lock)."""
        from core.base.public import PublicModeError, policy

        rules = policy()
        held = sum(1 for other in self._owners.values() if other == owner)
        if rules.enabled and held >= rules.max_jobs_per_session:
            raise PublicModeError(
                f"Starting {name} is not available while {held} heavy job(s) of yours run or "
                f"wait in line: a visitor may have {rules.max_jobs_per_session} at a time "
                f"here, so everyone gets a turn. Fix: wait for it, or stop it first.")

    def _wait_for_turn(self, ticket: object, *, name: str,
                       progress: Optional[ProgressCallback]) -> None:
        queued_at = time.monotonic()
        while True:
            with self._condition:
                position = self._queue.index(ticket)
                if position == 0 and len(self._running) < self.slots:
                    self._queue.popleft()
                    self._running[ticket] = (name, time.monotonic())
                    return
                now = time.monotonic()
                ahead = [job for job, _ in self._running.values()]
                ran = max((now - start for _, start in self._running.values()), default=0.0)
                waiting = len(self._queue)
            if progress is not None:  # outside the lock: the callback may take its time
                waited = format_seconds(now - queued_at)
                running = f"running {format_seconds(ran)}; " if ahead else ""
                progress(Progress("queued", position + 1, waiting,
                                  message=f"waiting for {', '.join(ahead) or 'a job'} to finish "
                                          f"({running}waited {waited} so far) "
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


# whose share a heavy job started in this context counts against (not inherited by new
# threads: background jobs have their own per-watcher share, core.base.background)
_owner: ContextVar[object | None] = ContextVar("job_owner", default=None)


@contextmanager
def job_owner(owner: object | None) -> Iterator[None]:
    """Heavy jobs started in the block without an `owner` count against `owner`."""
    token = _owner.set(owner)
    try:
        yield
    finally:
        _owner.reset(token)


def heavy_job(*, name: str, progress: Optional[ProgressCallback] = None,
              owner: object | None = None):
    """`with heavy_job(name=..., progress=...):` — a slot of the process-wide gate
    (`owner`: whose share it counts against in a public app; default: job_owner's)."""
    return job_gate().slot(name=name, progress=progress,
                           owner=_owner.get() if owner is None else owner)
