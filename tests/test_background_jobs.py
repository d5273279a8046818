"""core.base.background: work in a thread that several watchers follow, join and stop."""

from __future__ import annotations

import threading

import pytest

from core.base.background import JobBoard
from core.base.errors import CancelledError
from core.base.progress import Progress
from tests.support.jobs import endless


def stepping_work(gate: threading.Event, steps: int = 50):
    """Work that reports progress `steps` times, waiting on `gate` before each report."""
    calls = {"runs": 0}

    def work(progress):
        calls["runs"] += 1
        for done in range(1, steps + 1):
            gate.wait(5)
            progress(Progress("step", done, steps))
        return "finished"

    return work, calls


def test_the_result_and_the_latest_progress_reach_the_poller():
    gate = threading.Event()
    work, _ = stepping_work(gate, steps=3)
    job = JobBoard().submit("k", name="three steps", work=work, watcher="a")
    gate.set()
    assert job.wait(10)
    assert job.result == "finished" and job.error is None
    assert (job.progress.done, job.progress.total) == (3, 3)


def test_a_second_watcher_joins_the_running_job_instead_of_starting_another():
    gate = threading.Event()
    work, calls = stepping_work(gate)
    board = JobBoard()
    first = board.submit("k", name="shared", work=work, watcher="a")
    second = board.submit("k", name="shared", work=work, watcher="b")
    assert first is second and first.watchers == 2
    gate.set()
    assert first.wait(10) and first.result == "finished"
    assert calls["runs"] == 1


def test_the_work_stops_only_when_every_watcher_let_go():
    board = JobBoard()
    job = board.submit("k", name="long", work=endless, watcher="a")
    board.submit("k", name="long", work=endless, watcher="b")
    board.release("k", "a")
    assert not job.wait(0.3), "one watcher still wants it: it must go on"
    board.release("k", "b")
    assert job.wait(10)
    assert job.cancelled and isinstance(job.error, CancelledError)


def test_a_failed_job_is_started_afresh_when_asked_again():
    board = JobBoard()

    def broken(progress):
        raise OSError("disk on fire")

    job = board.submit("k", name="broken", work=broken, watcher="a")
    assert job.wait(10) and isinstance(job.error, OSError)
    again = board.submit("k", name="fixed", work=lambda progress: 42, watcher="a")
    assert again is not job and again.wait(10) and again.result == 42
    board.forget("k", job)  # forgetting the old job leaves the new one
    assert board.get("k") is again
    board.forget("k")
    assert board.get("k") is None


def test_running_lists_only_unfinished_jobs():
    gate = threading.Event()
    work, _ = stepping_work(gate, steps=2)
    board = JobBoard()
    job = board.submit("slow", name="slow", work=work, watcher="a")
    done = board.submit("quick", name="quick", work=lambda progress: 1, watcher="a")
    assert done.wait(10)
    assert [key for key, _ in board.running()] == ["slow"]
    gate.set()
    assert job.wait(10)
    assert board.running() == []


@pytest.mark.parametrize("rejoin", [True, False])
def test_rejoining_before_the_next_report_keeps_the_work_going(rejoin):
    gate = threading.Event()
    work, _ = stepping_work(gate, steps=3)
    board = JobBoard()
    job = board.submit("k", name="k", work=work, watcher="a")
    board.release("k", "a")
    if rejoin:
        board.submit("k", name="k", work=work, watcher="b")
    gate.set()
    assert job.wait(10)
    assert (job.result == "finished") is rejoin
    assert job.cancelled is (not rejoin)


def test_stop_ends_the_job_whoever_still_watches():
    """Stop is not a watcher letting go: a closed tab's watch must not keep the job on."""
    board = JobBoard()
    job = board.submit("k", name="endless", work=endless, watcher="a")
    job.watch("a-closed-tab")
    board.stop("k")
    assert job.wait(10) and job.cancelled and job.watchers == 0
