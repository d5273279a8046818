"""Dataset names the product knows, and one entry point that loads any of them or a path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.datasets import builtin, scale_demo
from core.datasets.base import ImageDataset
from core.base.errors import DatasetError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    offline: bool
    loader: Callable[[], ImageDataset]
    local: Callable[[], bool]  # loadable right now without the internet
    images: int | None = None  # how many images it has (a public app bounds it before loading)

    def status(self) -> str:
        if self.local():
            return "available"
        return "needs a one-time download" if not self.offline else "missing"


def _keras_cached(name: str) -> Callable[[], bool]:
    def cached() -> bool:
        import os

        home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"
        files = {"cifar10": "cifar-10-batches-py", "mnist": "mnist.npz"}
        return (home / files[name]).exists()

    return cached


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", "scikit-learn's 8×8 digits, 1,797 images, 10 classes",
                          True, builtin.load_digits, lambda: True, 1_797),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "Fashion-MNIST, 70,000 28×28 clothing images, 10 classes (60k/10k)",
        True, builtin.load_fashion_mnist, lambda: builtin.find_fashion_mnist() is not None,
        70_000),
    "fashion_mnist_scale": DatasetInfo(
        "fashion_mnist_scale", "numeric target: Fashion-MNIST items shrunk by a factor in "
        "[0.35, 1] at random places on 40×40; target 'scale' (70,000 images)",
        True, scale_demo.load_fashion_mnist_scale,
        lambda: builtin.find_fashion_mnist() is not None, 70_000),
    "fashion_mnist_1m": DatasetInfo(
        "fashion_mnist_1m", "Fashion-MNIST's 70,000 images and augmentations of them "
        "(shift, flip, scale, contrast) to 1,000,000, generated on the fly",
        True, builtin.load_fashion_mnist_1m, lambda: builtin.find_fashion_mnist() is not None,
        builtin.FASHION_1M),
    "cifar10": DatasetInfo("cifar10", "CIFAR-10, 60,000 32×32 photos, 10 classes (keras.datasets)",
                           False, builtin.load_cifar10, _keras_cached("cifar10"), 60_000),
    "mnist": DatasetInfo("mnist", "MNIST, 70,000 28×28 digits (keras.datasets)",
                         False, builtin.load_mnist, _keras_cached("mnist"), 70_000),
}


def default_dataset_name() -> str:
    """The offline default: Fashion-MNIST when its files are here, else digits."""
    return "fashion_mnist" if DATASETS["fashion_mnist"].local() else "digits"


def load_dataset(*, name: str, val_fraction: float = 0.1, test_fraction: float = 0.1,
                 seed: int = 0) -> ImageDataset:
    """A built-in dataset by name, a folder (one sub-folder per class) or .zip by path, or
    image URIs: a `.txt` list of them or a URI prefix (`core.datasets.uri_dataset`).

    The fractions and seed apply to folders without their own train/test sub-folders.
    """
    if name in DATASETS:
        from core.base.public import check_public_dataset

        info = DATASETS[name]
        if info.images is not None:
            check_public_dataset(name=name, images=info.images)
        return info.loader()
    from core.datasets.uri_dataset import is_uri_source, load_uri_dataset

    if is_uri_source(name):  # a .txt list of image paths/URIs, or a URI prefix
        _refuse_server_path_if_public(Path(name))
        return load_uri_dataset(source=name, val_fraction=val_fraction,
                                test_fraction=test_fraction, seed=seed)
    path = Path(name).expanduser()
    _refuse_server_path_if_public(path)
    if path.suffix.lower() == ".zip" and path.is_file():
        from core.datasets.zip_import import extract_zip_dataset
        from core.base.paths import cache_root

        path = extract_zip_dataset(zip_path_or_fileobj=path, dest_dir=cache_root() / "uploads")
    if path.is_dir():
        from core.datasets.folder import load_image_folder

        return load_image_folder(path=path, val_fraction=val_fraction,
                                 test_fraction=test_fraction, seed=seed)
    known = ", ".join(DATASETS)
    raise DatasetError(f"No dataset named '{name}' and no folder or .zip at {path.resolve()}. "
                       f"Fix: use one of {known}, or a path to a folder with one sub-folder "
                       f"of images per class.")


def _refuse_server_path_if_public(path: Path) -> None:
    """A public app reads no folder of the server's, only its visitors' own uploads."""
    from core.base.paths import cache_root
    from core.base.public import is_inside, is_public, refuse_if_public, uploads_root

    if is_public() and not (path.is_dir() and is_inside(path, uploads_root(cache_root()))):
        refuse_if_public("Loading a folder or .zip from the server's disk",
                         why="visitors may only upload their own .zip")
