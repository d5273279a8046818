"""Shared by the runtime tests (tests/test_runtime.py, tests/test_onnx_runtime.py)."""

import pytest

from core.datasets import load_dataset


@pytest.fixture(autouse=True)
def fresh_extractors():
    """Extractors are memoised per process; each test builds its own."""
    from core.features.extractor import _cached_extractor

    _cached_extractor.cache_clear()
    yield
    _cached_extractor.cache_clear()


@pytest.fixture
def digits():
    return load_dataset(name="digits").limited(limit=96)


def fail(*args, **kwargs):
    """A converter that fails, with a second line the one-line note must leave out."""
    raise RuntimeError("converter exploded\nsecond line of a long trace")
