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


def test_the_soak_samples_the_server_tree_and_judges_memory_by_window_medians():
    import os
    import subprocess
    import sys
    import time

    from benchmarks.workers.public_load_worker import rss_mb
    from benchmarks.workers.public_soak_worker import baseline_start, memory_summary, tree_rss_mb

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)  # the child's interpreter is up
        own, theirs = rss_mb(os.getpid()), rss_mb(child.pid)
        assert theirs > 0 and tree_rss_mb(os.getpid()) >= 0.95 * (own + theirs)
    finally:
        child.kill()
        child.wait()
    # the baseline opens a minute after the last page opened, or when the last normal
    # visitor's first round (which loads the backbone) ended, if that is later
    assert baseline_start([5.0, 10.0], [40.0, 55.0]) == 70.0
    assert baseline_start([5.0, 10.0], [40.0, 95.0]) == 95.0
    # each level is the median of its window's samples: a sample caught with a batch in
    # flight (2,200, 1,700) moves neither; the warm-up (500) and the rest are outside
    samples = [(2.0, 500.0), (70.0, 1_000.0), (72.0, 2_200.0), (74.0, 1_010.0),
               (101.0, 1_500.0), (570.0, 1_040.0), (572.0, 1_060.0), (574.0, 1_700.0)]
    summary = memory_summary(samples, baseline=(70.0, 100.0), end=(570.0, 600.0))
    assert summary == {"rss_baseline_mb": 1_010.0, "rss_end_mb": 1_060.0,
                       "rss_growth": pytest.approx(1_060 / 1_010 - 1), "peak_rss_mb": 2_200.0,
                       "baseline_window_s": (70.0, 100.0), "end_window_s": (570.0, 600.0),
                       "baseline_samples": 3, "end_samples": 3}
    # a run that never got to the baseline has no growth
    assert memory_summary(samples, baseline=None, end=(570.0, 600.0))["rss_growth"] is None
