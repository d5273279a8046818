import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder: hermetic, and the repo's cache/ stays untouched."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRANSFER_LENS_CACHE", str(cache))
    return cache


@pytest.fixture
def tiny_backbone():
    from tests.tiny_backbone import NAME, register_tiny

    register_tiny()
    yield NAME
    from core.backbones.registry import REGISTRY

    REGISTRY.pop(NAME, None)


def pytest_collection_modifyitems(config, items):
    """Browser tests run last: they are the slowest and need the rest to be sound first."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
