"""Per-session shares of heavy work (issue 27): a job nobody polls any more (its tabs
closed) is stopped, a job has a wall-time limit with a clean stop that keeps its finished
chunks, a public session holds one heavy job at a time, and the queue says how long."""

from __future__ import annotations

import math
import threading
import time

import pytest

from core.base.background import BackgroundJob, JobBoard, JobTimeLimitError, LEASE_SECONDS
from core.base.errors import CancelledError
from core.base.jobs import JobGate
from core.base.progress import Progress
from core.base.public import PublicModeError
from tests.support.jobs import endless


@pytest.fixture
def public(monkeypatch):
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")


def test_the_lease_is_a_minute():
    assert LEASE_SECONDS == 60


def test_a_job_nobody_polls_is_stopped_as_abandoned():
    """The watcher never lets go (a closed tab does not), but nobody polls: stopped."""
    job = BackgroundJob(name="orphan", work=endless, lease_seconds=0.3)
    job.watch("closed-tab")
    job.start()
    finished = job._done.wait(10)  # not job.wait(): waiting is watching
    assert finished and job.cancelled
    assert "every watcher is gone" in str(job.error)


def test_a_polled_job_goes_on_and_stops_once_polling_ends():
    job = BackgroundJob(name="watched", work=endless, lease_seconds=0.3)
    job.watch("open-tab")
    job.start()
    until = time.monotonic() + 1.0
    while time.monotonic() < until:  # the app's progress loop / sidebar fragment
        assert job.progress is None or not job.done
        time.sleep(0.05)
    assert not job.done, "polled within the lease: it must go on"
    assert job._done.wait(10) and job.cancelled  # the tab closed: nobody polls


def test_one_long_wait_keeps_it():
    """A caller blocked in wait() (no timeout) is watching all along."""
    def steps(progress):
        for i in range(40):
            progress(Progress("step", i, 40))
            time.sleep(0.02)
        return "done"

    job = BackgroundJob(name="awaited", work=steps, lease_seconds=0.2)
    job.watch("script")
    assert job.start().wait() and job.result == "done"


def test_a_heartbeat_keeps_it_too():
    board = JobBoard()
    job = board.submit("k", name="beat", work=endless, watcher="a")
    job.lease_seconds = 0.3
    for _ in range(12):
        board.heartbeat("k", "a")
        time.sleep(0.05)
    assert not job.done
    board.release("k", "a")
    assert job.wait(10) and job.cancelled


def test_the_time_limit_counts_from_leaving_the_queue_and_is_not_a_cancel():
    def queued_then_running(progress):
        for i in range(10):  # 0.5 s in line: not counted
            progress(Progress("queued", 1, 1))
            time.sleep(0.05)
        endless(progress)

    job = BackgroundJob(name="long extraction", work=queued_then_running, max_seconds=0.3,
                        lease_seconds=math.inf)
    job.watch("a")
    started = time.monotonic()
    job.start()
    assert job.wait(10)
    assert time.monotonic() - started >= 0.8
    assert isinstance(job.error, JobTimeLimitError) and isinstance(job.error, CancelledError)
    assert not job.cancelled  # shown as a message, not taken for "nobody wants it"
    assert "stopped at the limit of 0s a job may run here" in str(job.error)
    assert "ask again to continue" in str(job.error)


def test_public_jobs_get_the_public_time_limit(public):
    board = JobBoard()
    job = board.submit("k", name="x", work=lambda progress: 1, watcher="a")
    assert job.wait(10) and job.max_seconds == 600
    local = BackgroundJob(name="y", work=lambda progress: 1)
    assert local.max_seconds is None


def test_a_stopped_extraction_keeps_its_chunks_and_resumes(tiny_backbone, isolated_cache):
    from core.datasets.builtin import load_digits
    from core.features.transfer_values import compute_transfer_values

    dataset = load_digits().limited(limit=640)

    def work(progress):
        return compute_transfer_values(dataset=dataset, backbone=tiny_backbone,
                                       image_size=32, chunk_size=64, progress=progress)

    def clock_runs_out(progress):
        """The limit is reached once 192 images are done (a test cannot wait minutes)."""
        def report(p):
            if p.done >= 192:
                job.max_seconds = 0.0
            progress(p)
        return work(report)

    job = BackgroundJob(name="extraction", work=clock_runs_out, lease_seconds=math.inf)
    job.watch("a")
    assert job.start().wait(120)
    assert isinstance(job.error, JobTimeLimitError) and not job.cancelled
    assert "stopped at the limit" in str(job.error) and "finished chunks are kept" in str(job.error)
    chunks = list(isolated_cache.glob("transfer_values/*.partial/chunk_*.npy"))
    assert 2 <= len(chunks) < 10  # stopped cleanly between chunks; the finished ones kept
    tv = work(None)  # asked again: continues from them
    assert tv.n == 640 and tv.images_computed == 640 - 64 * len(chunks)


def test_one_heavy_job_per_public_session(public):
    board = JobBoard()
    first = board.submit("a", name="embedding 10,000 images", work=endless, watcher="s1")
    with pytest.raises(PublicModeError, match=r"Starting embedding 70 images is not available "
                                              r"while embedding 10,000 images of yours"):
        board.submit("b", name="embedding 70 images", work=endless, watcher="s1")
    assert board.submit("a", name="same", work=endless, watcher="s1") is first  # rejoining: fine
    other = board.submit("b", name="theirs", work=endless, watcher="s2")  # another session
    board.release("a", "s1")
    assert first.wait(10)
    mine = board.submit("c", name="next", work=endless, watcher="s1")  # the first let go
    for key, watcher in (("b", "s2"), ("c", "s1")):
        board.release(key, watcher)
    assert other.wait(10) and mine.wait(10)


def test_locally_a_session_may_start_several(monkeypatch):
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC", raising=False)
    board = JobBoard()
    jobs = [board.submit(k, name=k, work=endless, watcher="me") for k in "abc"]
    for key in "abc":
        board.release(key, "me")
    assert all(job.wait(10) for job in jobs)


def test_the_gate_holds_a_public_owner_to_one_place(public):
    gate = JobGate(slots=1)
    inside, leave = threading.Event(), threading.Event()

    def hold():
        with gate.slot(name="training a mlp head", owner="s1"):
            inside.set()
            leave.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    with pytest.raises(PublicModeError, match=r"Starting t-SNE of 10,000 points is not "
                                              r"available while 1 heavy job\(s\) of yours"):
        with gate.slot(name="t-SNE of 10,000 points", owner="s1"):
            pass
    heard = []

    def other():
        with gate.slot(name="UMAP", owner="s2", progress=heard.append):
            pass

    waiter = threading.Thread(target=other)
    waiter.start()
    deadline = time.monotonic() + 5
    while not heard and time.monotonic() < deadline:
        time.sleep(0.01)
    leave.set()
    holder.join(5)
    waiter.join(5)
    message = heard[0].message
    assert message.startswith("waiting for training a mlp head to finish (running ")
    assert "; waited 0s so far) (place 1 in line)" in message
    with gate.slot(name="again", owner="s1"):  # its job ended: a new place is fine
        pass


def test_jobs_in_a_job_owner_block_count_against_its_owner(public, monkeypatch):
    """Core's own heavy_job calls (training, projections) name no owner: the app's
    job_owner block gives them the session's, and a new thread starts without one."""
    from core.base import jobs

    gate = JobGate(slots=1)
    monkeypatch.setattr(jobs, "_gate", gate)
    seen = []
    with jobs.job_owner("session-a"):
        with jobs.heavy_job(name="training"):
            seen.append(dict(gate._owners))
        worker = threading.Thread(target=lambda: seen.append(jobs._owner.get()))
        worker.start()
        worker.join()
    assert list(seen[0].values()) == ["session-a"] and seen[1] is None
    with jobs.heavy_job(name="outside"):
        assert not gate._owners  # no block: no owner
    gate._owners[object()] = "session-a"  # session-a holds its one place
    with jobs.job_owner("session-a"), pytest.raises(PublicModeError, match="of yours"):
        with jobs.heavy_job(name="training"):
            pass
