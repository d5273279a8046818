"""Long work in a background thread that several watchers can follow and stop.

The app starts an extraction here instead of in its script thread, so a rerun (any click)
does not interrupt it, the previous workspace stays explorable while it runs, and two
sessions asking for the same transfer values share one run. The work takes the usual
progress callback (core.base.progress); the board keeps its latest snapshot for whoever
polls, and stopping works the usual way: the next progress report raises CancelledError
(finished chunks are kept by the work itself).

A job stops when every watcher has let go of it: one visitor leaving does not cancel what
another is still waiting for. Stop (`JobBoard.stop`) ends it at its next report whoever
watches, since a closed tab's watch would otherwise keep it running; a visitor still
waiting asks again and the new run resumes from the finished part. A closed tab never lets go, so
watchers also hold a lease: a job nobody has watched, polled (`progress`, `wait`) or sent a
`heartbeat` for during LEASE_SECONDS is stopped as abandoned. A job may also have a
wall-time limit (`max_seconds`, counted from when it leaves the queue): it then stops
cleanly with a JobTimeLimitError (finished chunks are kept; asking again resumes). In a
public app the board gives every job the public time limit and lets a session (watcher)
hold at most `max_jobs_per_session` unfinished jobs (core.base.public.PublicPolicy).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Hashable, Optional

from core.base.errors import CancelledError
from core.base.progress import Progress, ProgressCallback, format_seconds

Work = Callable[[ProgressCallback], Any]
LEASE_SECONDS = 60.0  # a job nobody polled for this long is abandoned (its tabs closed)


class JobTimeLimitError(CancelledError):
    """A background job reached its wall-time limit and stopped (its finished part kept)."""


class BackgroundJob:
    """One piece of work running in a daemon thread."""

    def __init__(self, *, name: str, work: Work, max_seconds: float | None = None,
                 lease_seconds: float | None = None) -> None:
        """`max_seconds`: wall-time limit once out of the queue (None: none);
        `lease_seconds`: how long without a watch or poll means abandoned (None:
        LEASE_SECONDS; math.inf: never)."""
        self.name = name
        self.started = time.monotonic()
        self.max_seconds = max_seconds
        self.lease_seconds = LEASE_SECONDS if lease_seconds is None else lease_seconds
        self.running_since: float | None = None  # when it left the queue (first real report)
        self._seen = self.started  # the last watch, heartbeat or poll
        self._limit: JobTimeLimitError | None = None  # raised at the wall-time limit
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
            self._seen = time.monotonic()
            self._cancel.clear()  # wanted again before its next report: it goes on

    def heartbeat(self, watcher: Hashable | None = None) -> None:
        """Renew the lease: someone (`watcher`, when known) still wants the result."""
        self._seen = time.monotonic()

    def release(self, watcher: Hashable) -> None:
        """`watcher` no longer wants the result; the work stops when nobody does."""
        with self._lock:
            self._watchers.discard(watcher)
            if not self._watchers:
                self._cancel.set()

    def stop(self) -> None:
        """End the work at its next report, whoever still watches (their watch ends too)."""
        with self._lock:
            self._watchers.clear()
            self._cancel.set()

    @property
    def watchers(self) -> int:
        with self._lock:
            return len(self._watchers)

    # --- state ---
    @property
    def progress(self) -> Progress | None:
        self._seen = time.monotonic()  # a poll: whoever reads it is still watching
        return self._progress

    def watches(self, watcher: Hashable) -> bool:
        with self._lock:
            return watcher in self._watchers

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        """Stopped because nobody wants it (let go or abandoned); a time limit is not this:
        it is an error to show (JobTimeLimitError)."""
        return isinstance(self.error, CancelledError) and not isinstance(
            self.error, JobTimeLimitError)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done (or `timeout` seconds); True when done. Waiting is watching:
        the lease is renewed while blocked, however long."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._seen = time.monotonic()
            step = min(self.lease_seconds / 4, 15.0)  # math.inf: a finite wake-up still
            if deadline is not None:
                step = min(step, max(0.0, deadline - self._seen))
            if self._done.wait(step):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                self._seen = time.monotonic()
                return False

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    # --- running ---
    def start(self) -> "BackgroundJob":
        self._thread.start()
        return self

    def _report(self, progress: Progress) -> None:
        self._progress = progress
        now = time.monotonic()
        if self._cancel.is_set():
            raise CancelledError(f"{self.name}: stopped (nobody is waiting for it)")
        if now - self._seen > self.lease_seconds:
            raise CancelledError(f"{self.name}: stopped (nobody has looked at it for "
                                 f"{format_seconds(now - self._seen)}: every watcher is gone)")
        if progress.stage != "queued" and self.running_since is None:
            self.running_since = now
        if (self.max_seconds is not None and self.running_since is not None
                and now - self.running_since > self.max_seconds):
            self._limit = JobTimeLimitError(
                f"{self.name}: stopped at the limit of {format_seconds(self.max_seconds)} a "
                f"job may run here, so others get their turn. The finished part is kept: ask "
                f"again to continue from it.")
            raise self._limit

    def _run(self) -> None:
        try:
            self.result = self._work(self._report)
        except BaseException as error:  # noqa: BLE001 - handed to whoever polls the job
            if self._limit is not None and error is not self._limit and isinstance(
                    error, CancelledError):  # the work said what it kept: keep the reason
                error = JobTimeLimitError(f"{self._limit} ({error})")
            self.error = error
        finally:
            self.finished = time.monotonic()
            self._done.set()


class JobBoard:
    """Jobs by key: asking for a key that runs joins it instead of starting another."""

    def __init__(self) -> None:
        self._jobs: dict[Hashable, BackgroundJob] = {}
        self._lock = threading.Lock()

    def submit(self, key: Hashable, *, name: str, work: Work, watcher: Hashable,
               max_seconds: float | None = None,
               max_per_watcher: int | None = None) -> BackgroundJob:
        """The running (or finished, not yet collected) job for `key`, else a new one.

        A new job runs at most `max_seconds` once out of the queue, and is refused
        (PublicModeError) when `watcher` already watches `max_per_watcher` other unfinished
        jobs; both default to the public policy's limits in a public app, none elsewhere."""
        from core.base.public import PublicModeError, policy

        rules = policy()
        if rules.enabled:
            max_seconds = rules.max_job_seconds if max_seconds is None else max_seconds
            max_per_watcher = (rules.max_jobs_per_session if max_per_watcher is None
                               else max_per_watcher)
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job.done and job.error is not None):
                others = [j for k, j in self._jobs.items()
                          if k != key and not j.done and j.watches(watcher)]
                if max_per_watcher is not None and len(others) >= max_per_watcher:
                    raise PublicModeError(
                        f"Starting {name} is not available while {others[0].name} of yours "
                        f"is still running or in line: a visitor may have "
                        f"{max_per_watcher} heavy job(s) at a time here, so everyone gets a "
                        f"turn. Fix: wait for it, or stop it first.")
                job = BackgroundJob(name=name, work=work, max_seconds=max_seconds)
                self._jobs[key] = job
                job.watch(watcher)
                return job.start()
            job.watch(watcher)
            return job

    def heartbeat(self, key: Hashable, watcher: Hashable) -> None:
        """`watcher` still wants `key`'s job (renews its lease; see LEASE_SECONDS)."""
        job = self.get(key)
        if job is not None:
            job.heartbeat(watcher)

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

    def stop(self, key: Hashable) -> None:
        """Stop `key`'s job at its next report, however many watch it (BackgroundJob.stop)."""
        job = self.get(key)
        if job is not None:
            job.stop()

    def running(self) -> list[tuple[Hashable, BackgroundJob]]:
        with self._lock:
            return [(key, job) for key, job in self._jobs.items() if not job.done]
