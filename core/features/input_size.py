"""The input size a backbone gets when the user does not choose one (CLI and app alike)."""

from __future__ import annotations

import numpy as np

from core.backbones.spec import BackboneSpec
from core.datasets.base import ImageDataset

SMALL_IMAGE = 64  # px: images up to this size gain nothing from a 224 px input...
SMALL_IMAGE_INPUT = 96  # ...and a 96 px input is several times faster (benchmarks/RESULTS.md)
SIDES_SAMPLED = 64  # files whose headers are read to judge a folder's image size
SMALL_SHARE = 0.95  # a folder is "small images" when this share of the sample is small


def default_image_size(*, dataset: ImageDataset, spec: BackboneSpec) -> int:
    """SMALL_IMAGE_INPUT for datasets of small images (never above the backbone's native
    size), else the backbone's native size. Small: every image at most SMALL_IMAGE px a side
    for images held in one array; for files (a folder or .zip), at least SMALL_SHARE of
    SIDES_SAMPLED files spread over the dataset, by their headers."""
    if _small_images(dataset):
        return min(SMALL_IMAGE_INPUT, spec.native_size)
    return spec.native_size


def _small_images(dataset: ImageDataset) -> bool:
    shape = dataset.images.uniform_shape
    if shape is not None:
        return max(shape[:2]) <= SMALL_IMAGE
    sample_sides = getattr(dataset.images, "sample_sides", None)  # files: headers are cheap
    if sample_sides is None:  # e.g. images behind URIs: reading them to decide costs too much
        return False
    sides = sample_sides(SIDES_SAMPLED)
    return len(sides) > 0 and float(np.mean(sides <= SMALL_IMAGE)) >= SMALL_SHARE
