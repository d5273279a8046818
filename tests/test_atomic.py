"""core.base.atomic: readers see the old or the new file/folder, never a mix or a leftover."""

from __future__ import annotations

import numpy as np
import pytest

from core.base.atomic import atomic_folder, atomic_path, atomic_save_npz


def test_atomic_path_keeps_the_suffixes_and_replaces_on_success(tmp_path):
    target = tmp_path / "epoch_001.weights.h5"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".weights.h5")
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_atomic_path_leaves_the_old_file_on_error(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_atomic_save_npz(tmp_path):
    atomic_save_npz(tmp_path / "a.npz", x=np.arange(3))
    with np.load(tmp_path / "a.npz") as data:
        assert data["x"].tolist() == [0, 1, 2]


def test_atomic_folder_replaces_or_keeps_an_existing_folder(tmp_path):
    target = tmp_path / "entry"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with atomic_folder(target) as tmp:  # replace: no file of the old folder survives
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    with atomic_folder(target, replace=False) as tmp:  # keep: the first writer won
        (tmp / "c.txt").write_text("third")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_atomic_folder_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "entry") as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
