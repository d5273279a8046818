"""Feature matrices for benchmark workers: real cached transfer values or synthetic blobs.

A source is "synthetic" or "dataset:backbone:size" (e.g. "fashion_mnist:efficientnet_lite0:96");
the real one is opened from the cache that the run prepared beforehand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SYNTHETIC = "synthetic"


def real_source(*, dataset: str, backbone: str, size: int) -> str:
    return f"{dataset}:{backbone}:{size}"


def describe_source(source: str) -> str:
    if source == SYNTHETIC:
        return "synthetic Gaussian blobs (10 classes, dim 1280)"
    dataset, backbone, size = source.split(":")
    return f"real transfer values: {dataset}, {backbone} at {size} px"


def synthetic_blobs(*, n: int, dim: int = 1280, classes: int = 10,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(values float32 (n, dim), labels): isotropic unit-variance blobs around random centres.

    Centres spread less than the noise in each coordinate but are far apart in total, so
    neighbours are mostly same-class, roughly as in real transfer values.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.5, (classes, dim)).astype(np.float32)
    labels = np.arange(n) % classes
    values = centres[labels] + rng.standard_normal((n, dim), dtype=np.float32)
    return values, labels.astype(np.int64)


def load_points(*, source: str, n: int, scratch: str | Path, seed: int = 0):
    """TransferValues of `n` rows of `source` (a seeded random subset of real values), whose
    derived results (PCA, kNN, projections) are cached under `scratch`, never reused."""
    from core.features.feature_sets import from_arrays

    if source == SYNTHETIC:
        values, labels = synthetic_blobs(n=n, seed=seed)
        return from_arrays(values=values, labels=labels, name=f"blobs-{n}", cache_dir=scratch)
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    dataset, backbone, size = source.split(":")
    tv = compute_transfer_values(dataset=load_dataset(name=dataset), backbone=backbone,
                                 image_size=int(size))
    if n >= tv.n:
        return tv  # projections key on tv.key, so passing cache_dir=scratch keeps them apart
    rows = np.sort(np.random.default_rng(seed).permutation(tv.n)[:n])
    return from_arrays(values=np.asarray(tv.values[rows]), labels=tv.labels[rows],
                       class_names=tv.class_names, splits=tv.splits[rows],
                       sample_ids=tv.sample_ids[rows], name=f"{dataset}-{n}", cache_dir=scratch)
