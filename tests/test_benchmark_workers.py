"""Every benchmark worker has a caller: a section of `python -m benchmarks` names its module."""

from pathlib import Path

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
