"""The one type for a labeled image dataset, and the image stores behind it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np

from core.base.hashing import hash_array, new_hasher
from core.base.splits import TEST, VAL, split_indices, split_mask


class ImageStore(Protocol):
    """Where a dataset's pixels live: in memory or on disk, loaded lazily."""

    def __len__(self) -> int: ...

    def get(self, index: int) -> np.ndarray:
        """One image as uint8 H×W×C (C is 1 or 3)."""

    def take(self, indices: np.ndarray) -> "ImageStore": ...

    @property
    def uniform_shape(self) -> tuple[int, ...] | None:
        """(H, W, C) when every image has it (then `batch` returns one array)."""


class ArrayImages:
    """Images held in one uint8 array (N, H, W) or (N, H, W, C)."""

    def __init__(self, array: np.ndarray) -> None:
        if array.dtype != np.uint8:
            raise TypeError(f"ArrayImages needs uint8 pixels, got {array.dtype}")
        if array.ndim == 3:
            array = array[..., None]
        if array.ndim != 4 or array.shape[-1] not in (1, 3):
            raise ValueError(f"expected (N, H, W[, 1|3]) pixels, got shape {array.shape}")
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def get(self, index: int) -> np.ndarray:
        return self.array[index]

    def batch(self, indices: np.ndarray) -> np.ndarray:
        return self.array[np.asarray(indices)]

    def take(self, indices: np.ndarray) -> "ArrayImages":
        return ArrayImages(self.array[np.asarray(indices)])

    @property
    def uniform_shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[1:])


class FileImages:
    """Images decoded from files on demand (folder datasets); always RGB."""

    def __init__(self, paths: Sequence[Path], *, root: Path | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        self.root = root  # the dataset folder: errors name paths relative to it when public

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, index: int) -> np.ndarray:
        from core.datasets.uploads import shown_path
        from core.datasets.image_io import load_rgb

        path = self.paths[index]
        return load_rgb(path, name=None if self.root is None else shown_path(path, root=self.root))

    def take(self, indices: np.ndarray) -> "FileImages":
        return FileImages([self.paths[i] for i in np.asarray(indices)], root=self.root)

    @property
    def uniform_shape(self) -> None:
        return None

    def sample_sides(self, count: int) -> np.ndarray:
        """The longer side (px) of up to `count` images spread evenly over the dataset, read
        from the files' headers only (no decoding); unreadable files are left out."""
        from PIL import Image

        picks = np.unique(np.linspace(0, len(self.paths) - 1, num=min(count, len(self.paths)),
                                      dtype=np.int64)) if self.paths else []
        sides = []
        for index in picks:
            try:
                with Image.open(self.paths[index]) as image:
                    sides.append(max(image.size))
            except (OSError, ValueError):
                continue
        return np.asarray(sides, dtype=np.int64)


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not loaded, and why."""

    path: str
    reason: str


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Images, integer labels, class names, split membership and stable sample ids.

    `fingerprint` hashes the content (pixels or file bytes, labels, splits, names) and
    goes into every cache key derived from this dataset.
    `crop_fraction` is the centre-crop used when resizing for a backbone: 1.0 keeps the
    whole frame (small centred images such as digits), 0.875 is the ImageNet reference
    for photos.
    `targets` holds numeric targets by name (float64, one per sample; empty for a purely
    labeled dataset). They are not in the fingerprint: transfer values do not depend on
    them, so editing a targets file re-trains heads (whose keys hash the chosen target)
    without re-embedding any image. A dataset without classes (a flat folder with a
    targets file) has no class names and all labels 0.
    """

    name: str
    images: ImageStore
    labels: np.ndarray
    class_names: tuple[str, ...]
    splits: np.ndarray
    sample_ids: np.ndarray
    fingerprint: str
    crop_fraction: float = 1.0
    skipped: tuple[SkippedFile, ...] = field(default=())
    source: str = ""
    targets: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        for what in ("labels", "splits", "sample_ids"):
            if len(getattr(self, what)) != n:
                raise ValueError(f"{what} has {len(getattr(self, what))} entries for {n} images")
        for name, values in self.targets.items():
            if np.shape(values) != (n,):
                raise ValueError(f"target {name!r} has shape {np.shape(values)} for {n} images")

    @property
    def target_names(self) -> tuple[str, ...]:
        """The numeric targets this dataset carries, in file order."""
        return tuple(self.targets)

    def target(self, name: str | None = None):
        """The numeric target `name` as a `core.datasets.targets.Target` (None: the only one
        there is); DatasetError naming the dataset and the choices when it has no such one."""
        from core.datasets.targets import Target, choose_target

        chosen = choose_target(available=self.target_names, name=name, dataset=self.name,
                               source=self.source)
        return Target(name=chosen, values=np.asarray(self.targets[chosen], dtype=np.float64),
                      sample_ids=np.asarray(self.sample_ids).astype(str))

    def with_targets(self, targets: Mapping[str, np.ndarray]) -> "ImageDataset":
        """This dataset with `targets` (name → N numbers) as its numeric targets."""
        return replace(self, targets={name: np.asarray(values, dtype=np.float64)
                                      for name, values in targets.items()})

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split_indices(self, split: str) -> np.ndarray:
        return split_indices(self.splits, split)

    def split_mask(self, split: str) -> np.ndarray:
        return split_mask(self.splits, split)

    def subset(self, indices: np.ndarray, *, tag: str = "") -> "ImageDataset":
        """The samples at `indices`, in that order; a new fingerprint derived from the old."""
        indices = np.asarray(indices, dtype=np.int64)
        hasher = new_hasher()
        hasher.update(self.fingerprint.encode())
        return replace(
            self,
            images=self.images.take(indices),
            labels=self.labels[indices],
            splits=self.splits[indices],
            sample_ids=self.sample_ids[indices],
            targets={name: values[indices] for name, values in self.targets.items()},
            fingerprint=hash_array(indices, hasher),
            name=f"{self.name}{tag}",
        )

    def limited(self, *, limit: int | None = None, split: str = "all", seed: int = 0) -> "ImageDataset":
        """A reproducible subset: one split, and at most `limit` samples drawn at random.

        Drawing keeps each split's share, so a limited dataset still has train/val/test.
        """
        indices = self.split_indices(split)
        if limit is not None and limit < len(indices):
            rng = np.random.default_rng(seed)
            indices = np.sort(rng.choice(indices, size=limit, replace=False))
        if len(indices) == len(self):
            return self
        return self.subset(indices, tag=f"[{split}:{len(indices)}]")

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {name: int(c) for name, c in zip(self.class_names, counts)}


def array_fingerprint(*, images: np.ndarray, labels: np.ndarray, splits: np.ndarray,
                      class_names: Sequence[str]) -> str:
    hasher = new_hasher()
    hasher.update("|".join(class_names).encode())
    for array in (labels.astype(np.int64), splits.astype(np.uint8)):
        hasher.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return hash_array(images, hasher)


def stratified_splits(labels: np.ndarray, *, val_fraction: float, test_fraction: float,
                      seed: int) -> np.ndarray:
    """Split codes (0 train, 1 val, 2 test) drawn per class with a fixed seed.

    Every class with at least 3 samples gets at least one val and one test sample when the
    fractions are positive, so per-class metrics exist on small datasets.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError("val and test fractions must be in [0, 1) and sum to less than 1")
    rng = np.random.default_rng(seed)
    codes = np.zeros(len(labels), dtype=np.uint8)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n = len(members)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n >= 3:
            n_test = max(n_test, 1) if test_fraction > 0 else 0
            n_val = max(n_val, 1) if val_fraction > 0 else 0
        codes[members[:n_test]] = TEST
        codes[members[n_test:n_test + n_val]] = VAL
    return codes


def make_array_dataset(*, name: str, images: np.ndarray, labels: np.ndarray,
                       class_names: Sequence[str], splits: np.ndarray, sample_ids: np.ndarray,
                       source: str, crop_fraction: float = 1.0) -> ImageDataset:
    labels = np.asarray(labels, dtype=np.int64)
    splits = np.asarray(splits, dtype=np.uint8)
    return ImageDataset(
        name=name,
        images=ArrayImages(images),
        labels=labels,
        class_names=tuple(class_names),
        splits=splits,
        sample_ids=np.asarray(sample_ids),
        fingerprint=array_fingerprint(images=images, labels=labels, splits=splits,
                                      class_names=class_names),
        crop_fraction=crop_fraction,
        source=source,
    )
