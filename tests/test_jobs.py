"""The job gate: heavy jobs run one at a time in arrival order, waiters hear their place in
line and can leave it, and a job that starts another does not wait for itself."""

from __future__ import annotations

import threading
import time

import pytest

from core.base.errors import CancelledError
from core.base.jobs import JobGate


def test_second_job_waits_in_line_and_hears_its_place():
    gate = JobGate(slots=1)
    release, started = threading.Event(), threading.Event()
    order, heard = [], []

    def first():
        with gate.slot(name="extraction"):
            order.append("first")
            started.set()
            release.wait(5)

    def second():
        with gate.slot(name="t-SNE", progress=heard.append):
            order.append("second")

    a = threading.Thread(target=first)
    a.start()
    started.wait(5)
    b = threading.Thread(target=second)
    b.start()
    deadline = time.monotonic() + 5
    while not heard and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.status()["waiting"] == 1 and gate.status()["running"][0][0] == "extraction"
    assert order == ["first"]  # the second job has not started while the first runs
    assert heard[0].stage == "queued" and heard[0].done == 1
    assert "waiting for extraction" in heard[0].message
    release.set()
    a.join(5)
    b.join(5)
    assert order == ["first", "second"]
    assert gate.status() == {"running": [], "waiting": 0, "slots": 1}


def test_a_waiter_can_leave_the_line_by_raising_from_progress():
    gate = JobGate(slots=1)
    release, started = threading.Event(), threading.Event()

    def holder():
        with gate.slot(name="fine-tuning"):
            started.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    started.wait(5)

    def give_up(_progress):
        raise CancelledError("left the queue")

    with pytest.raises(CancelledError):
        with gate.slot(name="umap", progress=give_up):
            pytest.fail("a cancelled waiter must not run")
    assert gate.status()["waiting"] == 0
    release.set()
    thread.join(5)


def test_reentrant_in_one_thread_and_slot_released_on_error():
    gate = JobGate(slots=1)
    with pytest.raises(RuntimeError):
        with gate.slot(name="fine-tuning"):
            with gate.slot(name="transfer values"):  # nested: no deadlock
                raise RuntimeError("boom")
    with gate.slot(name="next"):  # the slot was given back
        assert len(gate.status()["running"]) == 1
