"""The cache's size walk while writers rename temp folders into place (the sidebar's cache
summary runs beside background kNN builds and extractions)."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from core.base.cache import cache_summary, folder_size


def test_folder_size_counts_files_in_nested_folders(tmp_path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.npy").write_bytes(b"x" * 10)
    (tmp_path / "a" / "b" / "two.npy").write_bytes(b"y" * 32)
    assert folder_size(tmp_path) == 42
    assert folder_size(tmp_path / "missing") == 0


def test_size_walk_survives_folders_renamed_during_it(tmp_path) -> None:
    """Before the fix, Path.rglob raised FileNotFoundError on a temp folder renamed between
    its listing and its scan (seen as a flaky AppTest failure naming cache/knn/.<key>.tmp)."""
    kind = tmp_path / "knn"
    kind.mkdir()
    stop = threading.Event()
    written = []

    def writer() -> None:
        while not stop.is_set() and len(written) < 300:
            tmp = Path(tempfile.mkdtemp(dir=kind, prefix=".entry.", suffix=".tmp"))
            for index in range(5):
                (tmp / f"{index}.npy").write_bytes(b"x" * 100)
            os.rename(tmp, kind / f"entry{len(written)}")
            written.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while thread.is_alive():  # walk the tree for as long as folders are renamed in it
            folder_size(tmp_path)
            cache_summary(tmp_path)
    finally:
        stop.set()
        thread.join()
    assert len(written) == 300
    assert folder_size(tmp_path) == 500 * 300
