"""Fixtures every test module may use; helpers live in tests/support/ (no test module
imports another)."""

import os
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.register_assert_rewrite("tests.support")  # their asserts explain failures too


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder: hermetic, and the repo's cache/ stays untouched."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRANSFER_LENS_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session", autouse=True)
def tensorflow_for_every_fixture():
    """tensorflow_unless_chosen for module and session fixtures too (set up before any test's
    own fixtures): a published bundle or a fine-tuning run made once per module would
    otherwise convert the backbone to ONNX Runtime first."""
    from core.backbones.runtime import AUTO_ENV

    with pytest.MonkeyPatch.context() as session:
        session.setenv(AUTO_ENV, "tensorflow")
        yield


@pytest.fixture(autouse=True)
def tensorflow_unless_chosen(monkeypatch):
    """`auto` runs TensorFlow in tests and their subprocesses (the reference every runtime
    is compared with; tests compare values across processes exactly): its first choice, ONNX
    Runtime, would also convert the backbone once per test's cache, minutes in all. Tests of
    another runtime name it, or remove this variable."""
    from core.backbones.runtime import AUTO_ENV

    monkeypatch.setenv(AUTO_ENV, "tensorflow")


# core.base.background's jobs (the app's extractions) and the app's kNN build
BACKGROUND_THREADS = ("job: ", "knn-")


@pytest.fixture(autouse=True)
def background_work_ends_with_its_test():
    """A test's background threads finish before the next test starts: they cannot write
    into another test's cache folder or take its CPU (tests run two at a time in CI)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 120
    started = [thread for thread in threading.enumerate()
               if thread not in before and thread.name.startswith(BACKGROUND_THREADS)]
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    if left := [thread.name for thread in started if thread.is_alive()]:
        warnings.warn(f"background threads still running after the test: {left}")


@pytest.fixture
def tiny_backbone():
    from tests.support.tiny_backbone import NAME, register_tiny

    register_tiny()
    yield NAME
    from core.backbones.registry import REGISTRY

    REGISTRY.pop(NAME, None)


@pytest.fixture
def tv(isolated_cache):
    """All 1,797 digits as pixel features (no extraction), in the test's own cache."""
    from tests.support.data import digits_pixels

    return digits_pixels()


@pytest.fixture
def app(tiny_backbone, monkeypatch):
    """The app (AppTest) on digits with the tiny backbone, after its first run."""
    pytest.importorskip("streamlit")
    from tests.support.apptest import open_app

    return open_app(dataset="digits", backbone=tiny_backbone, monkeypatch=monkeypatch)


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """file name → bytes of every file the app hands to a download button."""
    from tests.support.apptest import record_downloads

    return record_downloads(monkeypatch)


def pytest_configure(config):
    """Under `--dist loadfile` (make test) xdist hands out the files in the order that
    pytest_collection_modifyitems leaves them, not its own most-tests-first order."""
    if getattr(config.option, "dist", "no") == "loadfile":
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """In one process, browser tests run last: they are the slowest and need the rest to be
    sound first. On xdist's workers, the longest files go first (files with browser tests,
    then by their number of slow tests, then of tests): a file runs on one worker, and a
    long one handed out last would keep that worker busy while the other has nothing left."""
    if not hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
        return
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)

    def longest_first(tests: list) -> tuple[int, int, int]:
        def count(mark): return sum(t.get_closest_marker(mark) is not None for t in tests)
        return -count("browser"), -count("slow"), -len(tests)

    items[:] = [item for tests in sorted(files.values(), key=longest_first) for item in tests]
