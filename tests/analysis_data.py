"""Small feature sets for the analysis tests: digits pixels, no extraction needed."""

from __future__ import annotations

import numpy as np

from core.datasets import load_dataset
from core.features.feature_sets import from_arrays, pixel_values


def digits_pixels(*, cache_dir=None):
    """All 1,797 digits as 64 pixel features with the dataset's own splits."""
    return pixel_values(dataset=load_dataset(name="digits"), cache_dir=cache_dir)


def digits_pixels_subset(*, n: int = 400, cache_dir=None):
    full = digits_pixels(cache_dir=cache_dir)
    rows = np.sort(np.random.default_rng(0).choice(full.n, size=n, replace=False))
    return from_arrays(values=np.asarray(full.values)[rows], labels=full.labels[rows],
                       splits=full.splits[rows], sample_ids=full.sample_ids[rows],
                       class_names=full.class_names, name=f"digits-pixels-{n}",
                       cache_dir=cache_dir)


def with_flipped_labels(tv, *, fraction: float, seed: int, cache_dir=None):
    """A copy of tv with `fraction` of its labels moved to another random class."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(tv.labels).copy()
    flipped = rng.choice(tv.n, size=max(1, int(round(fraction * tv.n))), replace=False)
    num_classes = len(tv.class_names)
    labels[flipped] = (labels[flipped] + rng.integers(1, num_classes, size=len(flipped))) % num_classes
    noisy = from_arrays(values=np.asarray(tv.values), labels=labels, splits=tv.splits,
                        sample_ids=tv.sample_ids, class_names=tv.class_names,
                        name=f"noisy-{seed}", cache_dir=cache_dir)
    return noisy, flipped
