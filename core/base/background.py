"""Long work in a background thread that several watchers can follow and stop.

The app starts an extraction here instead of in its script thread, so a rerun (any click)
does not interrupt it, the previous workspace stays explorable while it runs, and two
sessions asking for the same transfer values share one run. The work takes the usual
progress callback (core.base.progress); the board keeps its latest snapshot for whoever
polls, and stopping works the usual way: the next progress report raises CancelledError
(finished chunks are kept by the work itself).

A job stops only when every watcher has let go of it: one visitor leaving (or pressing
Stop) does not cancel what another is still waiting for.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Hashable, Optional

from core.base.errors import CancelledError
from core.base.progress import Progress, ProgressCallback

Work = Callable[[ProgressCallback], Any]


class BackgroundJob:
    """One piece of work running in a daemon thread."""

    def __init__(self, *, name: str, work: Work) -> None:
        self.name = name
        self.started = time.monotonic()
        self.finished: float | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self._work = work
        self._progress: Progress | None = None
        self._watchers: set[Hashable] = set()
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job: {name}", daemon=True)

    # --- watchers ---
    def watch(self, watcher: Hashable) -> None:
        with self._lock:
            self._watchers.add(watcher)
            self._cancel.clear()  # wanted again before its next report: it goes on

    def release(self, watcher: Hashable) -> None:
        """`watcher` no longer wants the result; the work stops when nobody does."""
        with self._lock:
            self._watchers.discard(watcher)
            if not self._watchers:
                self._cancel.set()

    @property
    def watchers(self) -> int:
        with self._lock:
            return len(self._watchers)

    # --- state ---
    @property
    def progress(self) -> Progress | None:
        return self._progress

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, CancelledError)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done (or `timeout` seconds); True when done."""
        return self._done.wait(timeout)

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    # --- running ---
    def start(self) -> "BackgroundJob":
        self._thread.start()
        return self

    def _report(self, progress: Progress) -> None:
        self._progress = progress
        if self._cancel.is_set():
            raise CancelledError(f"{self.name}: stopped (nobody is waiting for it)")

    def _run(self) -> None:
        try:
            self.result = self._work(self._report)
        except BaseException as error:  # noqa: BLE001 - handed to whoever polls the job
            self.error = error
        finally:
            self.finished = time.monotonic()
            self._done.set()


class JobBoard:
    """Jobs by key: asking for a key that runs joins it instead of starting another."""

    def __init__(self) -> None:
        self._jobs: dict[Hashable, BackgroundJob] = {}
        self._lock = threading.Lock()

    def submit(self, key: Hashable, *, name: str, work: Work,
               watcher: Hashable) -> BackgroundJob:
        """The running (or finished, not yet collected) job for `key`, else a new one."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job.done and job.error is not None):
                job = BackgroundJob(name=name, work=work)
                self._jobs[key] = job
                job.watch(watcher)
                return job.start()
            job.watch(watcher)
            return job

    def get(self, key: Hashable) -> Optional[BackgroundJob]:
        with self._lock:
            return self._jobs.get(key)

    def forget(self, key: Hashable, job: BackgroundJob | None = None) -> None:
        """Drop a finished job (only `job` itself, when given: not a newer one)."""
        with self._lock:
            if key in self._jobs and (job is None or self._jobs[key] is job):
                del self._jobs[key]

    def release(self, key: Hashable, watcher: Hashable) -> None:
        job = self.get(key)
        if job is not None:
            job.release(watcher)

    def running(self) -> list[tuple[Hashable, BackgroundJob]]:
        with self._lock:
            return [(key, job) for key, job in self._jobs.items() if not job.done]
