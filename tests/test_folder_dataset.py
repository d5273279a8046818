"""Folder datasets: both layouts, splits, skipped-file reports, errors and fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.base.splits import TEST, TRAIN, VAL
from core.datasets.base import FileImages, SkippedFile
from core.datasets.folder import load_image_folder
from core.datasets.image_io import ImageReadError
from core.base.errors import DatasetError



def _write_jpeg(path: Path, seed: int, size: tuple[int, int] = (12, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def _make_classes(root: Path, counts: dict[str, int], seed: int = 0) -> Path:
    for c, (name, count) in enumerate(counts.items()):
        for i in range(count):
            _write_jpeg(root / name / f"img_{i:03d}.jpg", seed=seed + 1000 * c + i)
    return root


def _truncated_jpeg(path: Path) -> None:
    data = _write_jpeg(path, seed=99, size=(64, 48)).read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --- layout A ---------------------------------------------------------------------------

def test_layout_a_basic_fields(tmp_path):
    root = _make_classes(tmp_path / "flowers", {"tulips": 4, "daisy": 3, "roses": 5})
    ds = load_image_folder(path=root)
    assert ds.class_names == ("daisy", "roses", "tulips")  # sorted folder names
    assert ds.class_counts() == {"daisy": 3, "roses": 5, "tulips": 4}
    assert ds.name == "flowers" and ds.source == str(root.resolve())
    assert ds.crop_fraction == 0.875
    assert isinstance(ds.images, FileImages) and len(ds.images) == 12
    assert ds.sample_ids[0] == "daisy/img_000.jpg" and "tulips/img_003.jpg" in ds.sample_ids
    for i in (0, 11):
        assert ds.class_names[ds.labels[i]] == ds.sample_ids[i].split("/")[0]
        assert ds.images.get(i).shape == (10, 12, 3)
    assert ds.skipped == ()
    assert ds.labels.dtype == np.int64 and ds.splits.dtype == np.uint8


def test_layout_a_splits_respect_fractions_per_class(tmp_path):
    root = _make_classes(tmp_path / "d", {"a": 20, "b": 20, "c": 30})
    ds = load_image_folder(path=root, val_fraction=0.1, test_fraction=0.2, seed=3)
    for label, n in enumerate((20, 20, 30)):
        splits = ds.splits[ds.labels == label]
        assert (splits == TEST).sum() == round(n * 0.2)
        assert (splits == VAL).sum() == round(n * 0.1)
        assert (splits == TRAIN).sum() == n - round(n * 0.2) - round(n * 0.1)


def test_layout_a_default_split_is_80_10_10(tmp_path):
    ds = load_image_folder(path=_make_classes(tmp_path / "d", {"a": 20, "b": 20}))
    assert np.bincount(ds.splits, minlength=3).tolist() == [32, 4, 4]


def test_splits_are_deterministic_for_a_seed(tmp_path):
    root = _make_classes(tmp_path / "d", {"a": 15, "b": 15})
    first = load_image_folder(path=root, seed=7)
    again = load_image_folder(path=root, seed=7)
    other = load_image_folder(path=root, seed=8)
    assert np.array_equal(first.splits, again.splits)
    assert first.fingerprint == again.fingerprint
    assert not np.array_equal(first.splits, other.splits)
    assert first.fingerprint != other.fingerprint


def test_nested_folders_inside_a_class_are_included(tmp_path):
    root = _make_classes(tmp_path / "d", {"a": 2, "b": 2})
    _write_jpeg(root / "a" / "more" / "deep.jpg", seed=5)
    ds = load_image_folder(path=root)
    assert "a/more/deep.jpg" in ds.sample_ids and ds.class_counts()["a"] == 3


# --- skipping and reporting -------------------------------------------------------------

def test_bad_files_are_skipped_and_reported_never_silently(tmp_path):
    root = _make_classes(tmp_path / "d", {"cats": 3, "dogs": 3})
    (root / "cats" / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    _truncated_jpeg(root / "dogs" / "cut.jpg")
    (root / "dogs" / "phone.heic").write_bytes(b"not decodable here")
    _write_jpeg(root / "stray.jpg", seed=1)  # beside the class folders: no class
    # Plainly-not-image and hidden files are ignored without a report.
    (root / "LICENSE.txt").write_text("cc-by")
    (root / "LICENSE").write_text("cc-by")
    (root / "cats" / "notes.md").write_text("# notes")
    (root / "cats" / "labels.json").write_text("{}")
    (root / "cats" / ".DS_Store").write_bytes(b"\0\0")
    (root / "cats" / "._img_000.jpg").write_bytes(b"AppleDouble")
    _write_jpeg(root / "__MACOSX" / "cats" / "img.jpg", seed=2)
    _write_jpeg(root / ".hidden" / "img.jpg", seed=3)

    ds = load_image_folder(path=root)
    assert ds.class_names == ("cats", "dogs") and len(ds) == 6
    reasons = {item.path: item.reason for item in ds.skipped}
    assert set(reasons) == {"cats/corrupt.jpg", "dogs/cut.jpg", "dogs/phone.heic", "stray.jpg"}
    assert "not an image" in reasons["cats/corrupt.jpg"]
    assert "truncated" in reasons["dogs/cut.jpg"]
    assert "unsupported file type .heic" in reasons["dogs/phone.heic"]
    assert "not inside a class folder" in reasons["stray.jpg"]
    assert all(isinstance(item, SkippedFile) for item in ds.skipped)
    assert not any("corrupt" in s or "cut" in s for s in ds.sample_ids)


def test_without_verify_broken_images_surface_on_decode(tmp_path):
    root = _make_classes(tmp_path / "d", {"cats": 2, "dogs": 2})
    (root / "cats" / "corrupt.jpg").write_bytes(b"garbage" * 100)
    ds = load_image_folder(path=root, verify=False)
    assert len(ds) == 5 and ds.skipped == ()
    index = list(ds.sample_ids).index("cats/corrupt.jpg")
    with pytest.raises(ImageReadError, match="corrupt.jpg"):
        ds.images.get(index)


def test_progress_is_reported(tmp_path):
    seen = []
    load_image_folder(path=_make_classes(tmp_path / "d", {"a": 2, "b": 2}), progress=seen.append)
    assert seen and seen[-1].done == seen[-1].total == 4


# --- errors -----------------------------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as info:
        load_image_folder(path=tmp_path / "nowhere")
    assert "nowhere" in str(info.value)


def test_path_is_a_file(tmp_path):
    file = _write_jpeg(tmp_path / "one.jpg", seed=0)
    with pytest.raises(DatasetError, match="is a file, not a folder"):
        load_image_folder(path=file)


def test_no_class_subfolders(tmp_path):
    root = tmp_path / "flat"
    _write_jpeg(root / "a.jpg", seed=0)
    with pytest.raises(DatasetError, match="no class sub-folders") as info:
        load_image_folder(path=root)
    assert "flat" in str(info.value)


def test_empty_class_folder_is_named(tmp_path):
    root = _make_classes(tmp_path / "d", {"a": 3, "b": 3})
    (root / "empty_class").mkdir()
    with pytest.raises(DatasetError, match=r"empty_class has no readable images \(0 file"):
        load_image_folder(path=root)


def test_class_with_only_broken_files_says_how_many_were_skipped(tmp_path):
    root = _make_classes(tmp_path / "d", {"a": 3, "b": 3})
    for i in range(2):
        (root / "broken" / f"x{i}.jpg").parent.mkdir(exist_ok=True)
        (root / "broken" / f"x{i}.jpg").write_bytes(b"junk" * 50)
    with pytest.raises(DatasetError, match=r"broken has no readable images \(2 file\(s\) skipped"):
        load_image_folder(path=root)


def test_single_class(tmp_path):
    with pytest.raises(DatasetError, match=r"only one class \('solo'\)"):
        load_image_folder(path=_make_classes(tmp_path / "d", {"solo": 4}))


def test_bad_fractions_fail_fast(tmp_path):
    with pytest.raises(ValueError):
        load_image_folder(path=tmp_path, val_fraction=0.6, test_fraction=0.5)


# --- layout B ---------------------------------------------------------------------------

def test_layout_b_uses_split_folders_and_carves_val_from_train(tmp_path):
    root = tmp_path / "b"
    _make_classes(root / "train", {"x": 20, "y": 10, "z": 10})
    _make_classes(root / "test", {"x": 3, "y": 2}, seed=500)  # z has no test images: fine
    ds = load_image_folder(path=root, val_fraction=0.2, seed=1)
    assert ds.class_names == ("x", "y", "z")
    is_test = np.array([s.startswith("test/") for s in ds.sample_ids])
    assert (ds.splits[is_test] == TEST).all() and is_test.sum() == 5
    from_train = ds.splits[~is_test]
    assert set(np.unique(from_train)) == {TRAIN, VAL}
    for label, n in enumerate((20, 10, 10)):
        in_train_folder = (~is_test) & (ds.labels == label)
        assert (ds.splits[in_train_folder] == VAL).sum() == round(n * 0.2)
    again = load_image_folder(path=root, val_fraction=0.2, seed=1)
    assert np.array_equal(ds.splits, again.splits)


@pytest.mark.parametrize("val_name", ["val", "validation", "valid"])
def test_layout_b_with_val_folder(tmp_path, val_name):
    root = tmp_path / "b"
    _make_classes(root / "train", {"x": 4, "y": 4})
    _make_classes(root / val_name, {"x": 2, "y": 1}, seed=300)
    _make_classes(root / "test", {"x": 1, "y": 2}, seed=600)
    ds = load_image_folder(path=root)
    assert np.bincount(ds.splits, minlength=3).tolist() == [8, 3, 3]
    expected = {"train": TRAIN, val_name: VAL, "test": TEST}
    for sid, split in zip(ds.sample_ids, ds.splits):
        assert split == expected[sid.split("/")[0]]


def test_layout_b_class_in_test_but_not_train(tmp_path):
    root = tmp_path / "b"
    _make_classes(root / "train", {"x": 4, "y": 4})
    _make_classes(root / "test", {"x": 1, "y": 1, "ghost": 2}, seed=700)
    with pytest.raises(DatasetError, match=r"'ghost' has images in test but none in .*train"):
        load_image_folder(path=root)


def test_layout_b_two_val_folders_is_ambiguous(tmp_path):
    root = tmp_path / "b"
    _make_classes(root / "train", {"x": 2, "y": 2})
    _make_classes(root / "val", {"x": 1, "y": 1}, seed=10)
    _make_classes(root / "valid", {"x": 1, "y": 1}, seed=20)
    with pytest.raises(DatasetError, match="two folders for the val split"):
        load_image_folder(path=root)


def test_classes_named_like_splits_without_subfolders_are_layout_a(tmp_path):
    root = _make_classes(tmp_path / "d", {"train": 3, "test": 3})
    ds = load_image_folder(path=root)
    assert ds.class_names == ("test", "train")
    assert set(np.unique(ds.splits)) == {TRAIN, VAL, TEST}


# --- fingerprint ------------------------------------------------------------------------

def test_fingerprint_is_content_based(tmp_path):
    root = _make_classes(tmp_path / "d", {"a": 3, "b": 3})
    base = load_image_folder(path=root).fingerprint
    assert load_image_folder(path=root).fingerprint == base
    (root / "README.md").write_text("ignored files do not matter")
    assert load_image_folder(path=root).fingerprint == base

    target = root / "a" / "img_001.jpg"
    original = target.read_bytes()
    _write_jpeg(target, seed=12345)  # same name and size class, different bytes
    changed = load_image_folder(path=root).fingerprint
    assert changed != base
    target.write_bytes(original)
    assert load_image_folder(path=root).fingerprint == base

    target.rename(root / "a" / "renamed.jpg")
    assert load_image_folder(path=root).fingerprint != base


def test_fingerprint_does_not_depend_on_the_folder_location(tmp_path):
    one = _make_classes(tmp_path / "one" / "d", {"a": 3, "b": 3})
    two = _make_classes(tmp_path / "two" / "d", {"a": 3, "b": 3})
    assert load_image_folder(path=one).fingerprint == load_image_folder(path=two).fingerprint
