"""The input size a backbone gets when the user does not choose one (CLI and app alike)."""

from __future__ import annotations

from core.backbones.spec import BackboneSpec
from core.datasets.base import ImageDataset

SMALL_IMAGE = 64  # px: images up to this size gain nothing from a 224 px input...
SMALL_IMAGE_INPUT = 96  # ...and a 96 px input is several times faster (benchmarks/RESULTS.md)


def default_image_size(*, dataset: ImageDataset, spec: BackboneSpec) -> int:
    """SMALL_IMAGE_INPUT for datasets of small images of one size (never above the backbone's
    native size), else the backbone's native size."""
    shape = dataset.images.uniform_shape
    if shape is not None and max(shape[:2]) <= SMALL_IMAGE:
        return min(SMALL_IMAGE_INPUT, spec.native_size)
    return spec.native_size
