"""Small image helpers for display (no TensorFlow)."""

from __future__ import annotations

import numpy as np


def to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 H×W, H×W×1 or H×W×3 → H×W×3."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an H×W[×1|3] image, got shape {image.shape}")
    return image


def thumbnail(image: np.ndarray, *, size: int = 96) -> np.ndarray:
    """An RGB uint8 image whose longer side is `size`.

    Tiny images (8×8 digits, 28×28 Fashion-MNIST) are enlarged by whole-pixel repetition so
    they stay crisp instead of blurred; larger ones are downscaled with PIL's Lanczos filter.
    """
    rgb = to_rgb(image)
    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= size:
        factor = max(1, size // longest)
        return np.ascontiguousarray(rgb.repeat(factor, axis=0).repeat(factor, axis=1))
    from PIL import Image

    scale = size / longest
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(new, Image.LANCZOS))
