"""Built-in datasets: digits, Fashion-MNIST from IDX files, keras.datasets offline errors."""

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.datasets import DATASETS, default_dataset_name, load_dataset
from core.datasets import builtin
from core.base.errors import DatasetError
from core.base.splits import TEST

ROOT = Path(__file__).resolve().parent.parent


def test_digits_shapes_splits_and_ids():
    data = load_dataset(name="digits")
    assert len(data) == 1797 and data.images.uniform_shape == (8, 8, 1)
    assert data.images.get(0).dtype == np.uint8 and data.images.array.max() == 255
    assert data.class_names == tuple("0123456789")
    counts = np.bincount(data.splits)
    assert counts.tolist() == [1439, 179, 179]
    for split in ("train", "val", "test"):  # stratified: every class in every split
        assert len(np.unique(data.labels[data.split_indices(split)])) == 10
    assert len(set(data.sample_ids.tolist())) == len(data)
    assert load_dataset(name="digits").fingerprint == data.fingerprint


def test_limited_subset_is_reproducible_and_keeps_splits():
    data = load_dataset(name="digits")
    a, b = data.limited(limit=500), data.limited(limit=500)
    assert len(a) == 500 and a.fingerprint == b.fingerprint != data.fingerprint
    np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
    assert set(np.unique(a.splits)) == {0, 1, 2}
    test_only = data.limited(split="test")
    assert len(test_only) == 179 and (test_only.splits == TEST).all()


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def make_fake_fashion(folder: Path, n_train=24, n_test=12) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(n_train) % 10)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(n_test) % 10)


def test_fashion_mnist_reads_idx_files_from_env_folder(tmp_path, monkeypatch):
    make_fake_fashion(tmp_path / "fm")
    monkeypatch.setenv("TRANSFER_LENS_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    monkeypatch.setattr(builtin, "DEBIAN_FASHION_DIR", tmp_path / "absent")
    builtin.load_fashion_mnist.cache_clear()
    try:
        data = load_dataset(name="fashion_mnist")
        assert len(data) == 36 and data.images.uniform_shape == (28, 28, 1)
        assert (data.splits[24:] == 2).all() and data.sample_ids[24] == "test/00000"
        assert data.class_names[0] == "T-shirt/top"
    finally:
        builtin.load_fashion_mnist.cache_clear()


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((10, 28, 28)))
    raw = gzip.decompress(path.read_bytes())[:-50]
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(DatasetError, match="truncated"):
        builtin.read_idx(path)


@pytest.mark.skipif(not builtin.DEBIAN_FASHION_DIR.exists(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_official_split():
    data = load_dataset(name="fashion_mnist")
    assert len(data) == 70000 and np.bincount(data.splits).tolist() == [55000, 5000, 10000]
    assert np.bincount(data.labels[data.splits == TEST]).tolist() == [1000] * 10
    assert default_dataset_name() == "fashion_mnist"


OFFLINE_NAMES = ("cifar10", "mnist")
OFFLINE_CHILD = """
    import urllib.request, socket
    def refuse(*a, **k):
        raise urllib.error.URLError("network is unreachable (test)")
    urllib.request.urlretrieve = refuse
    urllib.request.urlopen = refuse
    from core.datasets import load_dataset
    from core.base.errors import DatasetError
    for name in {names!r}:
        try:
            load_dataset(name=name)
        except DatasetError as error:
            print(name, "DatasetError:", str(error).replace("\\n", " "))
        else:
            print(name, "loaded")
"""


@pytest.mark.slow  # a fresh Python process that imports TensorFlow (one for both datasets)
def test_keras_datasets_offline_give_clear_error(tmp_path):
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "PYTHONPATH": str(ROOT)}
    child = textwrap.dedent(OFFLINE_CHILD).format(names=OFFLINE_NAMES)
    result = subprocess.run([sys.executable, "-c", child], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stdout, result.stdout
    lines = {line.split(" ", 1)[0]: line for line in result.stdout.splitlines()
             if line.startswith(OFFLINE_NAMES)}
    for name in OFFLINE_NAMES:
        assert "DatasetError:" in lines.get(name, ""), (name, result.stderr[-2000:])
        assert "download" in lines[name] and "digits" in lines[name], lines[name]
        assert not DATASETS[name].offline


def test_fashion_missing_everywhere_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFER_LENS_FASHION_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(builtin, "DEBIAN_FASHION_DIR", tmp_path / "absent")
    assert builtin.find_fashion_mnist() is None
    assert DATASETS["fashion_mnist"].status() == "missing"
    assert default_dataset_name() == "digits"


def test_unknown_name_or_bad_path():
    with pytest.raises(DatasetError, match="No dataset named 'nope'.*sub-folder"):
        load_dataset(name="nope")
