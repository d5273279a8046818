"""A large dataset that is never stored: each index a deterministic augmentation of a base image.

`fashion_mnist_1m` is 1,000,000 images from Fashion-MNIST's 70,000: index i < 70,000 is the
original image i; beyond, image i is base image i mod 70,000 shifted, maybe flipped, scaled
and contrast-changed by parameters hashed from (AUGMENT_SEED, i) (splitmix64). The
pixels are generated on demand in each batch, so the dataset costs the base images' 55 MB,
and extraction resumes after a kill like any other (its chunks are keyed by index). An
augmented image keeps its source's label and split, so no test image leaks into train.
"""

from __future__ import annotations

import numpy as np

from core.base.hashing import new_hasher
from core.datasets.base import ImageDataset

AUGMENT_SEED = 20_161
AUGMENT_VERSION = 1
MAX_SHIFT = 2  # px, each axis
SCALE_RANGE = (0.9, 1.1)
CONTRAST_RANGE = (0.7, 1.3)


def augment(image: np.ndarray, index: int) -> np.ndarray:
    """Image `index`'s augmentation of `image` (uint8 H×W×C), the same on every call."""
    return augment_batch(image[None], np.array([index]))[0]


def augment_batch(images: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Each image (uint8 B×H×W×C) augmented by the parameters of its virtual index,
    vectorised over the batch (per-image work in Python ran at ~270 images/s, slower
    than extraction)."""
    indices = np.asarray(indices, dtype=np.uint64)
    u = [_uniform(indices, stream) for stream in range(5)]
    shift_y = np.floor(u[0] * (2 * MAX_SHIFT + 1)).astype(int) - MAX_SHIFT
    shift_x = np.floor(u[1] * (2 * MAX_SHIFT + 1)).astype(int) - MAX_SHIFT
    flip = u[2] < 0.5
    scale = SCALE_RANGE[0] + u[3] * (SCALE_RANGE[1] - SCALE_RANGE[0])
    contrast = CONTRAST_RANGE[0] + u[4] * (CONTRAST_RANGE[1] - CONTRAST_RANGE[0])
    _, h, w, _ = images.shape
    # one inverse map per image: output pixel → source coordinate (shift, flip, zoom about
    # the centre), then a bilinear read with zeros outside the frame
    ys = (np.arange(h)[None, :] - shift_y[:, None] - (h - 1) / 2) / scale[:, None] + (h - 1) / 2
    xs_out = np.arange(w)[None, :] - shift_x[:, None]
    xs_out = np.where(flip[:, None], w - 1 - xs_out, xs_out)
    xs = (xs_out - (w - 1) / 2) / scale[:, None] + (w - 1) / 2
    out = _bilinear(images.astype(np.float32), ys, xs)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    out = (out - mean) * contrast[:, None, None, None] + mean
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _uniform(indices: np.ndarray, stream: int) -> np.ndarray:
    """A uniform [0, 1) number per index and stream from splitmix64 of (seed, stream, index):
    counter-based, so any index's parameters are found without drawing the ones before."""
    with np.errstate(over="ignore"):
        z = indices * np.uint64(8) + np.uint64(stream) + np.uint64(AUGMENT_SEED) * np.uint64(
            0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _bilinear(images: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """images (B, H, W, C) read at rows ys (B, H) × columns xs (B, W); zeros outside."""
    b, h, w, c = images.shape
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = (ys - y0)[:, :, None, None], (xs - x0)[:, None, :, None]
    rows = np.arange(b)[:, None, None]

    def at(yy, xx):  # +1 for the padding; clipped reads land on the zero border
        return padded[rows, np.clip(yy + 1, 0, h + 1)[:, :, None],
                      np.clip(xx + 1, 0, w + 1)[:, None, :]]

    return ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
            + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))


class AugmentedImages:
    """An ImageStore of `indices` into a virtual dataset of augmented base images."""

    def __init__(self, base: np.ndarray, indices: np.ndarray) -> None:
        if base.ndim == 3:
            base = base[..., None]
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def get(self, index: int) -> np.ndarray:
        virtual = int(self.indices[index])
        return self.batch(np.array([index]))[0]

    def batch(self, indices: np.ndarray) -> np.ndarray:
        virtual = self.indices[np.asarray(indices)]
        images = self.base[virtual % len(self.base)]
        copies = virtual >= len(self.base)
        if copies.any():
            images[copies] = augment_batch(images[copies], virtual[copies])
        return images

    def take(self, indices: np.ndarray) -> "AugmentedImages":
        return AugmentedImages(self.base, self.indices[np.asarray(indices)])

    @property
    def uniform_shape(self) -> tuple[int, ...]:
        return tuple(self.base.shape[1:])


def augmented_dataset(*, base: ImageDataset, n: int, name: str) -> ImageDataset:
    """`n` images cycling over `base` (an array dataset): the first len(base) are the
    originals, the rest augmentations; labels, splits and ids follow the source image."""
    pixels = getattr(base.images, "array", None)
    if pixels is None:
        raise ValueError(f"{base.name} is not an array dataset; augmented datasets need one")
    if n < len(base):
        raise ValueError(f"an augmented dataset must have at least the {len(base):,} base images")
    virtual = np.arange(n, dtype=np.int64)
    source = virtual % len(base)
    copy = virtual // len(base)
    ids = np.char.add(base.sample_ids[source].astype(str),
                      np.where(copy == 0, "", np.char.add("~", copy.astype(str))))
    hasher = new_hasher()
    for part in (base.fingerprint, f"augmented:{n}:{AUGMENT_SEED}:{AUGMENT_VERSION}"):
        hasher.update(part.encode())
    return ImageDataset(name=name, images=AugmentedImages(pixels, virtual),
                        labels=base.labels[source], class_names=base.class_names,
                        splits=base.splits[source], sample_ids=ids,
                        fingerprint=hasher.hexdigest(), crop_fraction=base.crop_fraction,
                        source=f"{n:,} augmentations of {base.name} ({base.source})")
