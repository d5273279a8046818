"""Pixel-level evidence that two images are copies: resized, re-encoded or slightly shifted.

Transfer values of small images do not separate a re-encoded copy from a look-alike (see
duplicates.py), so near-duplicates are confirmed on the pixels:

- **Thumbnails**: grey images at the dataset's own size when every image has one shape of
  at most 64 px a side (Fashion-MNIST 28×28, digits 8×8, CIFAR 32×32: an integer shift
  stays an integer shift), else resized to 32×32.
- **Candidates**, two searches that a shift does not defeat (plain thumbnails do not find
  shifted copies): `spectrum_signatures`, the magnitude of the low 8×8 frequencies of the
  blurred thumbnail; and `aligned_thumbnails`, the blurred thumbnail moved so that the
  centroid of its bright pixels sits in the middle. Either alone misses 2-5 % of copies
  shifted 2 px along both axes (content pushed off the frame changes the spectrum and
  the centroid); their union missed 0.5-1.5 % on held-out Fashion-MNIST copies.
- **Distance** (`shifted_distances`): both thumbnails blurred with the same Gaussian
  (σ = 2 px at 28 px: a resize's lost detail and JPEG's blocks no longer count), then the
  smallest root-mean-square difference over shifts of up to 10 % of the side, as a fraction
  of the 0–255 range. Not normalised for brightness or contrast on purpose: a copy keeps
  its grey levels, while distinct products of the same cut usually differ in them
  (normalised correlation left thousands of Fashion-MNIST look-alike pairs above any
  threshold that kept the copies).

Colour is dropped (grey): two images that differ only in hue count as copies.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from core.base.progress import ProgressCallback, ProgressTracker
from core.datasets.base import ImageDataset

NATIVE_MAX_SIDE = 64  # uniform images up to this side are compared at their own size
RESIZED_SIDE = 32  # everything else is resized to this square
SHIFT_FRACTION = 0.1  # largest shift searched, as a fraction of the side
BLUR_FRACTION = 2.0 / 28  # Gaussian σ as a fraction of the side (2 px at 28 px)
SPECTRUM_BLOCK = 8  # low frequencies kept per axis for candidate search
INK_LEVEL = 0.25  # pixels above this share of an image's brightest one place its centroid
_PAIRS_PER_STEP = 8192  # pairs compared between progress reports


def thumbnail_shape(dataset: ImageDataset) -> tuple[int, int]:
    """(H, W) every image is compared at."""
    shape = dataset.images.uniform_shape
    if shape is not None and max(shape[:2]) <= NATIVE_MAX_SIDE:
        return int(shape[0]), int(shape[1])
    return RESIZED_SIDE, RESIZED_SIDE


def settings(shape: tuple[int, int]) -> dict:
    """Everything that changes the pixel distances (part of the duplicates' cache key)."""
    side = max(shape)
    return {"shape": list(shape), "shift": shift_radius(shape),
            "sigma": round(BLUR_FRACTION * side, 4), "spectrum": SPECTRUM_BLOCK,
            "ink_level": INK_LEVEL, "grey": "ITU-R 601-2"}


def shift_radius(shape: tuple[int, int]) -> int:
    return max(1, int(np.ceil(SHIFT_FRACTION * max(shape))))


def grey_thumbnails(*, dataset: ImageDataset, shape: tuple[int, int],
                    progress: Optional[ProgressCallback] = None) -> np.ndarray:
    """(N, H, W) float32 grey levels 0–255 (PIL's 'L' weights; bilinear resize, which
    averages when shrinking)."""
    from PIL import Image

    n = len(dataset)
    out = np.empty((n, *shape), dtype=np.float32)
    tracker = ProgressTracker(stage="thumbnails", total=n, callback=progress)
    native = dataset.images.uniform_shape is not None and \
        tuple(dataset.images.uniform_shape[:2]) == tuple(shape)
    step = 4096
    for start in range(0, n, step):
        rows = np.arange(start, min(n, start + step))
        if native:
            batch = dataset.images.batch(rows).astype(np.float32)
            out[rows] = _grey(batch)
        else:
            for i in rows:
                pixels = dataset.images.get(int(i))
                image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
                out[i] = np.asarray(image.convert("L").resize((shape[1], shape[0]),
                                                              Image.BILINEAR), np.float32)
        tracker.update(int(rows[-1]) + 1)
    return out


def _grey(batch: np.ndarray) -> np.ndarray:
    """(B, H, W, C) → (B, H, W) with PIL's 'L' weights for RGB."""
    if batch.shape[-1] == 1:
        return batch[..., 0]
    return batch @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def blurred(thumbs: np.ndarray) -> np.ndarray:
    """The shared blur, zero outside the frame (a shifted copy's empty border then blurs
    like the original's background; reflecting the edge did not)."""
    from scipy.ndimage import gaussian_filter

    sigma = BLUR_FRACTION * max(thumbs.shape[1:])
    return gaussian_filter(thumbs, sigma=(0, sigma, sigma), mode="constant").astype(np.float32)


def spectrum_signatures(blurred_thumbs: np.ndarray) -> np.ndarray:
    """(N, ≤64) shift-invariant signatures: |FFT| of the low frequencies, zero mean and unit
    length per row, so euclidean neighbours are the most alike spectra."""
    spectrum = np.abs(np.fft.rfft2(blurred_thumbs))[:, :SPECTRUM_BLOCK, :SPECTRUM_BLOCK]
    flat = spectrum.reshape(len(spectrum), -1).astype(np.float32)
    flat -= flat.mean(axis=1, keepdims=True)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)


def aligned_thumbnails(blurred_thumbs: np.ndarray) -> np.ndarray:
    """(N, H·W) the blurred thumbnails moved by whole pixels (zero fill) so that the centroid
    of each one's bright pixels (above INK_LEVEL of its maximum) is at the centre: a
    shifted copy lands where its original does. Whole pixels, so no resampling blur."""
    n, height, width = blurred_thumbs.shape
    peak = blurred_thumbs.reshape(n, -1).max(axis=1)
    ink = (blurred_thumbs > INK_LEVEL * peak[:, None, None]).astype(np.float32)
    mass = np.maximum(ink.sum(axis=(1, 2)), 1.0)
    centre_y = ink.sum(axis=2) @ np.arange(height, dtype=np.float32) / mass
    centre_x = ink.sum(axis=1) @ np.arange(width, dtype=np.float32) / mass
    moves_y = np.rint((height - 1) / 2 - centre_y).astype(int)
    moves_x = np.rint((width - 1) / 2 - centre_x).astype(int)
    moves_y[peak <= 0], moves_x[peak <= 0] = 0, 0  # a blank image stays where it is
    out = np.zeros_like(blurred_thumbs)
    for i, (dy, dx) in enumerate(zip(moves_y, moves_x)):
        dy, dx = int(np.clip(dy, 1 - height, height - 1)), int(np.clip(dx, 1 - width, width - 1))
        out[i, max(0, dy):height + min(0, dy), max(0, dx):width + min(0, dx)] = \
            blurred_thumbs[i, max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
    return out.reshape(n, -1)


def shifted_distances(*, blurred_thumbs: np.ndarray, pairs: np.ndarray,
                      progress: Optional[ProgressCallback] = None) -> np.ndarray:
    """For each pair (a, b): the smallest RMS difference between b's centre and a's
    same-size window shifted by up to `shift_radius` px, over 255 (0 = identical)."""
    height, width = blurred_thumbs.shape[1:]
    r = min(shift_radius((height, width)), (min(height, width) - 1) // 2)
    out = np.empty(len(pairs), dtype=np.float32)
    tracker = ProgressTracker(stage="comparing pixels", total=len(pairs), callback=progress)
    for start in range(0, len(pairs), _PAIRS_PER_STEP):
        chunk = pairs[start:start + _PAIRS_PER_STEP]
        a = blurred_thumbs[chunk[:, 0]]
        b = blurred_thumbs[chunk[:, 1], r:height - r, r:width - r]
        best = np.full(len(chunk), np.inf, dtype=np.float32)
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                diff = a[:, r + dy:height - r + dy, r + dx:width - r + dx] - b
                np.minimum(best, np.einsum("pij,pij->p", diff, diff), out=best)
        out[start:start + len(chunk)] = np.sqrt(best / b[0].size) / 255.0
        tracker.update(start + len(chunk))
    return out
