"""Feature matrices that are not a backbone's extraction, shaped as `TransferValues`.

- `from_arrays`: any (N, D) matrix with labels (tests, imported features).
- `pixel_values`: raw pixels as features, the baseline every backbone must beat.
- `concatenate`: several backbones' transfer values side by side (same samples).
- `feature_values`: one entry point for "backbone name or 'pixels'" (CLI, dashboard).

Each result is cached (kind "feature_sets") under a hash of its content or inputs, so it
has a stable `key` and every analysis cached on top of it (projections, kNN graphs, heads)
is found again next time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from core.base.cache import ArrayCache
from core.datasets.base import ImageDataset, stratified_splits
from core.base.hashing import hash_array, hash_key, new_hasher
from core.base.progress import ProgressCallback
from core.features.transfer_values import TransferValues, _from_entry

KIND = "feature_sets"
PIXELS = "pixels"  # pseudo-backbone name: raw pixels as features
FEATURE_SETS_VERSION = 1


def from_arrays(*, values: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None,
                splits: np.ndarray | None = None, sample_ids: np.ndarray | None = None,
                name: str = "arrays", cache_dir: str | Path | None = None,
                split_seed: int = 0) -> TransferValues:
    """Wrap an (N, D) matrix and its labels as TransferValues without extraction.

    Missing splits are drawn stratified (80/10/10, `split_seed`); missing ids are "name/i".
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be (N, D), got shape {values.shape}")
    if values.dtype not in (np.float32, np.float16):
        values = values.astype(np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(values)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} rows")
    if class_names is None:
        class_names = [str(c) for c in range(int(labels.max()) + 1 if n else 0)]
    class_names = tuple(str(c) for c in class_names)
    if splits is None:
        splits = stratified_splits(labels, val_fraction=0.1, test_fraction=0.1, seed=split_seed)
    splits = np.asarray(splits, dtype=np.uint8)
    if sample_ids is None:
        sample_ids = np.array([f"{name}/{i}" for i in range(n)])
    sample_ids = np.asarray(sample_ids).astype(str)
    fields = {"source": "arrays", "name": name, "values": hash_array(values),
              "labels": hash_array(labels), "splits": hash_array(splits),
              "sample_ids": _hash_strings(sample_ids), "class_names": list(class_names),
              "version": FEATURE_SETS_VERSION}
    return _cached(fields=fields, cache_dir=cache_dir, backbone=name, dataset_name=name,
                   class_names=class_names,
                   build=lambda: (values, labels, splits, sample_ids))


def pixel_values(*, dataset: ImageDataset, cache_dir: str | Path | None = None,
                 progress: Optional[ProgressCallback] = None) -> TransferValues:
    """Raw pixels scaled to [0, 1] and flattened: the no-backbone baseline.

    Needs images of one shape (array datasets); folders of mixed sizes are refused rather
    than silently resized, because the baseline should see the pixels the dataset has.
    """
    shape = dataset.images.uniform_shape
    if shape is None:
        from core.base.errors import DatasetError

        raise DatasetError(f"Dataset '{dataset.name}' has images of different sizes, so raw "
                           f"pixels do not form one feature matrix. Fix: use a backbone.")
    fields = {"source": PIXELS, "dataset": dataset.fingerprint, "shape": list(shape),
              "scale": "x/255", "version": FEATURE_SETS_VERSION}

    def build():
        n, dim = len(dataset), int(np.prod(shape))
        values = np.empty((n, dim), dtype=np.float32)
        step = 8192
        for start in range(0, n, step):
            rows = np.arange(start, min(n, start + step))
            values[rows] = dataset.images.batch(rows).reshape(len(rows), dim) / np.float32(255)
            if progress is not None:
                from core.base.progress import Progress

                progress(Progress("pixels", int(rows[-1]) + 1, n))
        return values, dataset.labels, dataset.splits, dataset.sample_ids.astype(str)

    return _cached(fields=fields, cache_dir=cache_dir, backbone=PIXELS,
                   dataset_name=dataset.name, class_names=dataset.class_names, build=build,
                   extra_manifest={"image_shape": list(shape)})


def concatenate(*, parts: Sequence[TransferValues], cache_dir: str | Path | None = None) -> TransferValues:
    """Several feature sets of the same samples side by side (e.g. two backbones)."""
    if len(parts) < 2:
        raise ValueError("concatenate needs at least two feature sets")
    first = parts[0]
    for other in parts[1:]:
        if not (np.array_equal(other.sample_ids, first.sample_ids)
                and np.array_equal(other.labels, first.labels)
                and np.array_equal(other.splits, first.splits)):
            raise ValueError(f"feature sets {first.key} and {other.key} are not of the same "
                             f"samples in the same order")
    fields = {"source": "concatenate", "parts": [p.key for p in parts],
              "version": FEATURE_SETS_VERSION}
    name = "+".join(str(p.manifest.get("backbone", p.key)) for p in parts)
    return _cached(fields=fields, cache_dir=cache_dir, backbone=name,
                   dataset_name=str(first.manifest.get("dataset_name", "")),
                   class_names=first.class_names,
                   build=lambda: (np.hstack([np.asarray(p.values, np.float32) for p in parts]),
                                  first.labels, first.splits, first.sample_ids))


def feature_values(*, dataset: ImageDataset, backbone: str, image_size: int | None = None,
                   cache_dir: str | Path | None = None, dtype: str = "float32",
                   progress: Optional[ProgressCallback] = None,
                   **runtime: str) -> TransferValues:
    """Transfer values of `backbone`, or raw pixels when backbone == "pixels". `runtime`:
    `compute_transfer_values`' runtime= and precision= (the backbone's forward pass)."""
    if backbone == PIXELS:
        return pixel_values(dataset=dataset, cache_dir=cache_dir, progress=progress)
    from core.features.transfer_values import compute_transfer_values

    return compute_transfer_values(dataset=dataset, backbone=backbone, image_size=image_size,
                                   cache_dir=cache_dir, dtype=dtype, progress=progress,
                                   **runtime)


# --- shared plumbing ---

def _hash_strings(strings: np.ndarray) -> str:
    hasher = new_hasher()
    for s in strings:
        hasher.update(str(s).encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def _cached(*, fields: dict[str, Any], cache_dir, backbone: str, dataset_name: str,
            class_names: Sequence[str], build, extra_manifest: dict | None = None) -> TransferValues:
    started = time.perf_counter()
    key = hash_key(fields)
    cache = ArrayCache(kind=KIND, root=cache_dir)

    def compute():
        values, labels, splits, sample_ids = build()
        manifest = {"key_fields": fields, "dataset_name": dataset_name,
                    "class_names": list(class_names), "backbone": backbone,
                    "shape": list(values.shape), "dtype": str(values.dtype),
                    "n": int(values.shape[0]), "dim": int(values.shape[1]),
                    **(extra_manifest or {})}
        return {"values": values, "labels": np.asarray(labels),
                "splits": np.asarray(splits, np.uint8),
                "sample_ids": np.asarray(sample_ids).astype(str)}, manifest

    entry, status = cache.load_or_compute(key, compute)
    return _from_entry(entry, status=status, seconds=time.perf_counter() - started)


def load_feature_set(*, key: str, cache_dir: str | Path | None = None) -> TransferValues | None:
    """Open a cached feature set (pixels, arrays, concatenation) by key."""
    entry = ArrayCache(kind=KIND, root=cache_dir).load(key)
    return None if entry is None else _from_entry(entry, status="hit", seconds=0.0)
