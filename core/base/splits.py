"""Split codes: every dataset stores its split per sample as a uint8 code, 0/1/2 for
train/val/test. The one place that says so; compare with TRAIN/VAL/TEST, never bare ints."""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")
TRAIN, VAL, TEST = 0, 1, 2
SPLIT_CODES = {"train": TRAIN, "val": VAL, "test": TEST}
SPLIT_NAMES = np.array(SPLITS)  # code → name: SPLIT_NAMES[splits] names every sample's split


def split_mask(splits: np.ndarray, name: str) -> np.ndarray:
    """Boolean mask of the samples in split `name` ("train", "val", "test"; "all": every one)."""
    splits = np.asarray(splits)
    if name == "all":
        return np.ones(len(splits), dtype=bool)
    return splits == SPLIT_CODES[name]


def split_indices(splits: np.ndarray, name: str) -> np.ndarray:
    """Indices of the samples in split `name` ("all": every sample), ascending."""
    return np.flatnonzero(split_mask(splits, name))
