"""Numeric targets: targets.csv/.parquet in folder datasets (flat or with classes), every bad
input with a message naming the file and row, and the built-in fashion_mnist_scale demo."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.base.errors import DatasetError
from core.datasets.folder import UNLISTED_REASON, load_image_folder
from tests.support.cli import run_cli
from tests.support.data import flat_folder, write_png, write_targets_csv


def test_flat_folder_with_targets_csv(tmp_path):
    root = tmp_path / "lengths"
    names = flat_folder(root)
    write_targets_csv(root, "path,length,age\n" + "".join(f"{n},{i * 1.5},{i}\n" for i, n in enumerate(names)))
    ds = load_image_folder(path=root)
    assert len(ds) == 12 and ds.class_names == () and set(ds.labels) == {0}
    assert ds.target_names == ("length", "age")
    target = ds.target("length")
    assert target.values.dtype == np.float64
    for sample_id, value in zip(ds.sample_ids, target.values):
        assert value == names.index(sample_id) * 1.5  # aligned with the samples, not the file
    assert set(np.unique(ds.splits)) == {0, 1, 2}  # a seeded 80/10/10 split still
    with pytest.raises(DatasetError, match="several targets .*--target"):
        ds.target()
    with pytest.raises(DatasetError, match="no target 'size'.*length, age"):
        ds.target("size")
    sub = ds.limited(limit=5)
    assert np.array_equal(sub.target("age").values,
                          [names.index(s) for s in sub.sample_ids])


def test_class_folders_with_targets_parquet_and_unlisted_images_skipped(tmp_path):
    root = tmp_path / "animals"
    rows = []
    for c, name in enumerate(("cats", "tigers")):
        for i in range(6):
            write_png(root / name / f"{i}.png", seed=10 * c + i)
            if i < 5:  # the sixth of each class is not listed
                rows.append({"path": f"{name}/{i}.png", "length": 50.0 + 100 * c + i})
    pd.DataFrame(rows).to_parquet(root / "targets.parquet")
    ds = load_image_folder(path=root)
    assert ds.class_names == ("cats", "tigers") and len(ds) == 10
    unlisted = [s for s in ds.skipped if s.reason.startswith(UNLISTED_REASON)]
    assert sorted(s.path for s in unlisted) == ["cats/5.png", "tigers/5.png"]
    assert "targets.parquet" in unlisted[0].reason
    values = dict(zip(ds.sample_ids, ds.target().values))
    assert values["tigers/3.png"] == 153.0 and values["cats/0.png"] == 50.0


def test_transfer_values_do_not_depend_on_the_targets(tmp_path):
    root = tmp_path / "flat"
    names = flat_folder(root, 6)
    write_targets_csv(root, "path,v\n" + "".join(f"{n},{i}\n" for i, n in enumerate(names)))
    first = load_image_folder(path=root).fingerprint
    write_targets_csv(root, "path,v\n" + "".join(f"{n},{10 * i}\n" for i, n in enumerate(names)))
    assert load_image_folder(path=root).fingerprint == first


@pytest.mark.parametrize("text, message", [
    ("path,length\nimg_00.png,1\nimg_01.png,abc\n", r"targets\.csv, line 3: 'length' is 'abc', not a number"),
    ("path,length\nimg_00.png,1\nimg_01.png,\n", r"targets\.csv, line 3: 'length' is empty \(missing"),
    ("path,length\nimg_00.png,NaN\n", r"targets\.csv, line 2: 'length' is NaN \(missing"),
    ("path,length\nimg_00.png,1\nmissing.png,2\n", r"targets\.csv, line 3: lists missing\.png, but there is no such image"),
    ("file,length\nimg_00.png,1\n", r"targets\.csv has no 'path' column \(it has: file, length\)"),
    ("path\nimg_00.png\n", r"only a 'path' column"),
    ("path,length\n", r"lists no images"),
    ("path,length\nimg_00.png,1\nimg_00.png,2\n", r"line 3: img_00\.png is listed twice \(first at line 2\)"),
    ("path,length\n../outside.png,1\n", r"line 2: path '\.\./outside\.png' leaves the dataset folder"),
])
def test_bad_targets_csv_names_the_file_and_row(tmp_path, text, message):
    root = tmp_path / "flat"
    flat_folder(root, 4)
    write_targets_csv(root, text)
    with pytest.raises(DatasetError, match=message):
        load_image_folder(path=root)


def test_bad_parquet_value_names_the_row(tmp_path):
    root = tmp_path / "flat"
    names = flat_folder(root, 3)
    pd.DataFrame({"path": names, "length": [1.0, float("nan"), 2.0]}).to_parquet(
        root / "targets.parquet")
    with pytest.raises(DatasetError, match=r"targets\.parquet, row 2: 'length' is nan"):
        load_image_folder(path=root)


def test_both_targets_files_is_an_error(tmp_path):
    root = tmp_path / "flat"
    names = flat_folder(root, 2)
    write_targets_csv(root, "path,v\n" + "".join(f"{n},1\n" for n in names))
    pd.DataFrame({"path": names, "v": [1.0, 2.0]}).to_parquet(root / "targets.parquet")
    with pytest.raises(DatasetError, match="both targets.csv and targets.parquet; keep one"):
        load_image_folder(path=root)


def test_missing_targets_file_is_named(tmp_path):
    root = tmp_path / "flat"
    flat_folder(root, 3)
    with pytest.raises(DatasetError, match="no class sub-folders.*targets.csv"):
        load_image_folder(path=root)
    (root / "a").mkdir()
    (root / "b").mkdir()
    for i in range(3):
        write_png(root / "a" / f"{i}.png", i)
        write_png(root / "b" / f"{i}.png", 10 + i)
    ds = load_image_folder(path=root)  # a classification dataset: no targets file needed
    with pytest.raises(DatasetError, match="has no numeric targets.*targets.csv at the folder"):
        ds.target("length")


def test_unreadable_csv_is_a_dataset_error(tmp_path):
    root = tmp_path / "flat"
    flat_folder(root, 2)
    (root / "targets.csv").write_bytes(b'path,v\n"unterminated,1\n')
    with pytest.raises(DatasetError, match=r"Cannot read .*targets\.csv"):
        load_image_folder(path=root)


def test_cli_reports_bad_targets_without_a_traceback(tmp_path, capsys):
    root = tmp_path / "flat"
    flat_folder(root, 3)
    write_targets_csv(root, "path,length\nimg_00.png,1\nimg_01.png,x\nimg_02.png,2\n")
    code, out = run_cli(["train", "--dataset", str(root), "--head", "ridge", "--target", "length",
                         "--backbone", "pixels", "--json"], capsys)
    assert code == 2 and "Traceback" not in out.err
    error = json.loads(out.out.strip().splitlines()[-1])
    assert error["type"] == "DatasetError" and "line 3: 'length' is 'x'" in error["error"]


def test_cli_unknown_target_is_refused_before_extraction(tmp_path, capsys):
    root = tmp_path / "flat"
    names = flat_folder(root, 3)
    write_targets_csv(root, "path,length\n" + "".join(f"{n},1\n" for n in names))
    code, out = run_cli(["extract", "--dataset", str(root), "--target", "weight", "--json"], capsys)
    assert code == 2 and "no target 'weight'" in out.err and "Traceback" not in out.err


def test_cli_counts_unlisted_images(tmp_path, capsys, tiny_backbone):
    root = tmp_path / "flat"
    names = flat_folder(root, 40)
    write_targets_csv(root, "path,length\n" + "".join(f"{n},{i}\n" for i, n in enumerate(names[:12])))
    code, out = run_cli(["train", "--dataset", str(root), "--head", "ridge", "--target", "length",
                         "--backbone", tiny_backbone, "--image-size", "32", "--json"], capsys)
    assert code == 0, out.err
    assert "skipped 28 image(s) the targets file does not list" in out.err
    assert out.err.count(UNLISTED_REASON) == 20  # the first 20 named, the rest counted
    result = json.loads(out.out.strip().splitlines()[-1])
    assert result["n"] == 12 and result["target"] == "length"
    assert {"r2", "mae", "rmse", "baseline_mae", "n_train", "train_seconds"} <= set(result)
    assert result["n_train"] + result["n_val"] + result["n_test"] == 12
    code, out = run_cli(["train", "--dataset", str(root), "--head", "logreg", "--target", "length",
                         "--backbone", tiny_backbone, "--image-size", "32", "--json"], capsys)
    assert code == 2 and "--target goes with a regression head" in out.err
    code, out = run_cli(["train", "--dataset", str(root), "--head", "logreg", "--backbone",
                         tiny_backbone, "--image-size", "32", "--json"], capsys)
    assert code == 2 and "needs at least two classes" in out.err and "Traceback" not in out.err
    code, out = run_cli(["target-outliers", "--dataset", str(root), "--target", "length",
                         "--backbone", tiny_backbone, "--image-size", "32", "--cross-fit", "2",
                         "--neighbors", "3", "--json"], capsys)
    assert code == 0, out.err
    assert json.loads(out.out.strip().splitlines()[-1])["target"] == "length"


# --- the built-in demo --------------------------------------------------------------------

def test_place_scaled_draws_the_item_at_its_size_and_place():
    from core.datasets.scale_demo import place_scaled

    square = np.full((28, 28), 255, np.uint8)
    canvas = place_scaled(image=square, factor=0.5, x=3.0, y=20.0)
    assert canvas.shape == (40, 40)
    ys, xs = np.nonzero(canvas > 127)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (3, 16, 20, 33)  # 14 px = 28 × 0.5


def test_scale_items_is_deterministic_and_in_range():
    from core.datasets.scale_demo import scale_items

    items = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    first, factors = scale_items(items)
    again, same = scale_items(items)
    assert np.array_equal(first, again) and np.array_equal(factors, same)
    assert factors.min() >= 0.34 and factors.max() <= 1.0 and factors.std() > 0.1
    # the drawn area grows with the factor: ink (bright pixels) per image ~ factor²
    ink = (first > 0).sum(axis=(1, 2))
    assert np.corrcoef(ink, factors ** 2)[0, 1] > 0.95


def test_fashion_mnist_scale_is_listed(capsys):
    from core.datasets.registry import DATASETS

    assert "fashion_mnist_scale" in DATASETS
    code, out = run_cli(["datasets", "--json"], capsys)
    names = [row["name"] for row in json.loads(out.out.strip().splitlines()[-1])["datasets"]]
    assert code == 0 and "fashion_mnist_scale" in names
