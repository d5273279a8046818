"""Every benchmark worker has a caller: a section of `python -m benchmarks` names its module."""

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_every_worker_is_run_by_a_section_under_its_module_name():
    sections = "".join(path.read_text() for path in (BENCHMARKS / "sections").glob("*.py"))
    workers = sorted(path.stem for path in (BENCHMARKS / "workers").glob("*.py")
                     if path.stem != "__init__")
    assert len(workers) >= 20  # the folder was found and read
    uncalled = [name for name in workers if f'"benchmarks.workers.{name}"' not in sections]
    assert not uncalled, f"workers no section runs: {uncalled}"


def test_no_worker_is_left_beside_the_harness():
    assert not sorted(BENCHMARKS.glob("*_worker.py"))


def test_the_soak_samples_the_server_tree_and_judges_memory_after_minute_one():
    import os
    import subprocess
    import sys
    import time

    from benchmarks.workers.public_load_worker import rss_mb
    from benchmarks.workers.public_soak_worker import memory_summary, tree_rss_mb

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)  # the child's interpreter is up
        own, theirs = rss_mb(os.getpid()), rss_mb(child.pid)
        assert theirs > 0 and tree_rss_mb(os.getpid()) >= 0.95 * (own + theirs)
    finally:
        child.kill()
        child.wait()
    # the minute counts from when every page had opened (10 s): the warm-up is left out
    summary = memory_summary([(2.0, 500.0), (69.0, 900.0), (71.0, 1_000.0), (600.0, 1_050.0)],
                             start=10.0)
    assert summary == {"rss_minute_one_mb": 1_000.0, "rss_end_mb": 1_050.0,
                       "rss_growth": pytest.approx(0.05), "peak_rss_mb": 1_050.0}
    # ... and from a minute after every visitor had done each kind of its work once
    samples = [(2.0, 500.0), (71.0, 1_000.0), (200.0, 1_400.0), (400.0, 1_470.0)]
    warm = memory_summary(samples, start=10.0, warm=130.0)
    assert (warm["rss_warm_mb"], warm["rss_growth_warm"]) == (1_400.0, pytest.approx(0.05))
    assert memory_summary(samples, start=10.0, warm=350.0)["rss_growth_warm"] is None
