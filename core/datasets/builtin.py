"""Built-in datasets: scikit-learn's digits, Fashion-MNIST from local IDX files, keras.datasets."""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.base.splits import TEST
from core.datasets.base import ImageDataset, make_array_dataset, stratified_splits
from core.base.errors import DatasetError

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte.gz", "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz",
}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
VAL_FROM_TRAIN = 5000  # carved from the official train split for early stopping and tuning


@lru_cache(maxsize=2)
def load_digits() -> ImageDataset:
    """scikit-learn's bundled 8×8 digits (1,797 images): tiny, always offline."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 → 0..255
    labels = bunch.target.astype(np.int64)
    splits = stratified_splits(labels, val_fraction=0.1, test_fraction=0.1, seed=0)
    return make_array_dataset(
        name="digits", images=images, labels=labels, class_names=MNIST_CLASSES, splits=splits,
        sample_ids=np.array([f"digits/{i:04d}" for i in range(len(labels))]),
        source="sklearn.datasets.load_digits")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), the format of MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise DatasetError(f"Cannot read IDX file {path}: {error}. Fix: reinstall the dataset "
                           "files (they are damaged or truncated).") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (bad magic number).")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    expected = int(np.prod(dims))
    if payload.size != expected:
        raise DatasetError(f"{path} is truncated: {payload.size} bytes of pixels, expected "
                           f"{expected}. Fix: reinstall the dataset files.")
    return payload.reshape(dims)


def fashion_mnist_dirs() -> list[Path]:
    """Where Fashion-MNIST's IDX files may already be, most preferred first."""
    dirs = []
    if custom := os.environ.get("TRANSFER_LENS_FASHION_MNIST_DIR"):
        dirs.append(Path(custom))
    dirs.append(DEBIAN_FASHION_DIR)
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    dirs.append(keras_home / "datasets" / "fashion-mnist")
    return dirs


def find_fashion_mnist() -> Path | None:
    for folder in fashion_mnist_dirs():
        if all((folder / name).is_file() for name in FASHION_FILES.values()):
            return folder
    return None


def _official_split_dataset(*, name: str, x_train: np.ndarray, y_train: np.ndarray,
                            x_test: np.ndarray, y_test: np.ndarray, class_names: tuple[str, ...],
                            source: str) -> ImageDataset:
    """Official train/test split; validation carved from train, stratified and seeded."""
    images = np.concatenate([x_train, x_test])
    labels = np.concatenate([y_train.reshape(-1), y_test.reshape(-1)]).astype(np.int64)
    n_train = len(x_train)
    splits = np.full(len(labels), TEST, dtype=np.uint8)
    n_val = min(VAL_FROM_TRAIN, n_train // 12)  # 5,000 of 60,000; proportionally fewer if smaller
    splits[:n_train] = stratified_splits(labels[:n_train], val_fraction=n_val / n_train,
                                         test_fraction=0.0, seed=0)
    ids = np.array([f"train/{i:05d}" for i in range(n_train)]
                   + [f"test/{i:05d}" for i in range(len(x_test))])
    return make_array_dataset(name=name, images=images, labels=labels, class_names=class_names,
                              splits=splits, sample_ids=ids, source=source)


@lru_cache(maxsize=1)
def load_fashion_mnist() -> ImageDataset:
    """Fashion-MNIST (70,000 28×28 images): local IDX files first, then a Keras download."""
    folder = find_fashion_mnist()
    if folder is not None:
        arrays = {key: read_idx(folder / name) for key, name in FASHION_FILES.items()}
        return _official_split_dataset(
            name="fashion_mnist", x_train=arrays["train_images"], y_train=arrays["train_labels"],
            x_test=arrays["test_images"], y_test=arrays["test_labels"],
            class_names=FASHION_CLASSES, source=str(folder))
    searched = ", ".join(str(d) for d in fashion_mnist_dirs())
    return _keras_download("fashion_mnist", FASHION_CLASSES, hint=(
        f"Looked for the IDX files in: {searched}. Fix offline: `sudo apt-get install "
        "dataset-fashion-mnist` (Debian/Ubuntu), or copy the four *-ubyte.gz files into one "
        "of those folders, or set TRANSFER_LENS_FASHION_MNIST_DIR."))


@lru_cache(maxsize=1)
def load_cifar10() -> ImageDataset:
    """CIFAR-10 (the classic tutorial's dataset) through keras.datasets: needs a download once."""
    return _keras_download("cifar10", CIFAR10_CLASSES, hint="")


@lru_cache(maxsize=1)
def load_mnist() -> ImageDataset:
    """MNIST through keras.datasets: needs a download once."""
    return _keras_download("mnist", MNIST_CLASSES, hint="")


def _keras_download(name: str, class_names: tuple[str, ...], *, hint: str) -> ImageDataset:
    from core.base.tf_env import configure

    configure()
    import keras

    loader = getattr(keras.datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # URL errors come wrapped in several exception types
        raise DatasetError(
            f"Dataset '{name}' could not be loaded: keras.datasets.{name} needs to download it "
            f"once and the download failed ({type(error).__name__}: {str(error)[:200]}). "
            f"Fix: connect to the internet once (it is cached in ~/.keras/datasets afterwards). "
            f"{hint} Offline you can use: digits, fashion_mnist (Debian package "
            f"dataset-fashion-mnist), or a folder of images with one sub-folder per class."
        ) from error
    return _official_split_dataset(name=name, x_train=x_train, y_train=y_train, x_test=x_test,
                                   y_test=y_test, class_names=class_names,
                                   source=f"keras.datasets.{name}")


FASHION_1M = 1_000_000


@lru_cache(maxsize=1)
def load_fashion_mnist_1m() -> ImageDataset:
    """1,000,000 images: Fashion-MNIST's 70,000 and deterministic augmentations of them
    (shift, flip, scale, contrast), generated on the fly and never stored."""
    from core.datasets.augmented import augmented_dataset

    return augmented_dataset(base=load_fashion_mnist(), n=FASHION_1M, name="fashion_mnist_1m")
