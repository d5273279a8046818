"""`fashion_mnist_scale`: the built-in numeric-target demo, made from Fashion-MNIST's files.

Each 28×28 item is shrunk by a factor drawn uniformly from [0.35, 1.0] and placed at a
random position on a 40×40 black canvas; the target `scale` is that factor, the item's
class stays as its label. The head has to read the object's size from the image: it is a
visual task, not one the class gives away (every class spans every size).

Deterministic: one seeded generator draws every factor and offset, so the pixels, and with
them the dataset's fingerprint and every cache key, are the same on every machine.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from core.datasets.base import ImageDataset, make_array_dataset
from core.datasets.builtin import FASHION_CLASSES, load_fashion_mnist

NAME = "fashion_mnist_scale"
CANVAS = 40
SCALE_RANGE = (0.35, 1.0)
TARGET = "scale"
SEED = 14  # the number; any fixed seed would do
# the canvas is drawn this many times larger, then averaged down in SUPER×SUPER blocks, so a
# shrunken item is antialiased and its size and position are exact to 1/SUPER of a pixel
SUPER = 4


def place_scaled(*, image: np.ndarray, factor: float, x: float, y: float,
                 canvas: int = CANVAS) -> np.ndarray:
    """`image` (H×W uint8) shrunk by `factor` with its top-left corner at (x, y) pixels of a
    black `canvas`×`canvas` image (uint8)."""
    from PIL import Image

    height, width = image.shape
    big = Image.new("L", (canvas * SUPER, canvas * SUPER))
    size = (max(1, round(width * factor * SUPER)), max(1, round(height * factor * SUPER)))
    item = Image.fromarray(image).resize(size, Image.BILINEAR, reducing_gap=None)
    big.paste(item, (round(x * SUPER), round(y * SUPER)))
    return np.asarray(big.reduce(SUPER), dtype=np.uint8)  # box average of SUPER×SUPER blocks


def scale_items(images: np.ndarray, *, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(canvases (N, CANVAS, CANVAS) uint8, factors (N,) float64) for (N, 28, 28) items."""
    rng = np.random.default_rng(seed)
    n, height, width = images.shape
    factors = rng.uniform(*SCALE_RANGE, size=n)
    # the room left on the canvas by each item, and a uniform position within it
    room_x = CANVAS - width * factors
    room_y = CANVAS - height * factors
    xs = rng.uniform(0.0, 1.0, size=n) * room_x
    ys = rng.uniform(0.0, 1.0, size=n) * room_y
    out = np.empty((n, CANVAS, CANVAS), dtype=np.uint8)
    for i in range(n):
        out[i] = place_scaled(image=images[i], factor=float(factors[i]), x=float(xs[i]),
                              y=float(ys[i]))
    # the target is the size actually drawn (rounded to 1/SUPER px), not the drawn number:
    # the head is scored against what the image shows
    drawn = np.maximum(1, np.round(width * factors * SUPER)) / (width * SUPER)
    return out, drawn


@lru_cache(maxsize=1)
def load_fashion_mnist_scale() -> ImageDataset:
    """70,000 40×40 canvases with a `scale` target, Fashion-MNIST's split and classes."""
    base = load_fashion_mnist()
    items = np.asarray(base.images.array)[..., 0]
    canvases, factors = scale_items(items)
    dataset = make_array_dataset(
        name=NAME, images=canvases, labels=base.labels, class_names=FASHION_CLASSES,
        splits=base.splits, sample_ids=base.sample_ids,
        source=f"{base.source} (rescaled by a seeded factor in {SCALE_RANGE}, seed {SEED})")
    return dataset.with_targets({TARGET: factors})
