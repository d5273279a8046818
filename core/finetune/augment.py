"""Training augmentation of fine-tuning, on uint8 batches before preprocessing.

Every op is a stateless random op seeded by the step's seed, so a resumed run sees the same
augmented batches as an uninterrupted one. They run on the images as stored (28×28 for
Fashion-MNIST), before the resize, where they cost next to nothing.
"""

from __future__ import annotations

import math
from typing import Any

# random erasing (Zhong et al., 2017): the share of the image a rectangle covers and its
# height/width ratio, the paper's ranges
ERASE_AREA = (0.02, 0.4)
ERASE_ASPECT = (0.3, 1 / 0.3)


def random_crop(tf: Any, x, *, seed, pad_fraction: float):
    """Pad each side by `pad_fraction` of the height (zeros), then crop back at one random
    offset for the whole batch.

    One offset per batch, not per image: drawn per image, the default recipe measured 94.25 %
    test accuracy against 94.50 / 94.49 % (README, "Fine-tuning"), so the measured recipe stays.
    """
    if pad_fraction <= 0:
        return x
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    pad = tf.cast(tf.round(tf.cast(h, tf.float32) * pad_fraction), tf.int32)
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([2], seed=seed, minval=0, maxval=2 * pad + 1,
                                          dtype=tf.int32)
    return padded[:, offsets[0]:offsets[0] + h, offsets[1]:offsets[1] + w, :]


def random_flip(tf: Any, x, *, seed):
    """Mirror each image left-right with probability one half."""
    flips = tf.random.stateless_uniform([tf.shape(x)[0], 1, 1, 1], seed=seed) < 0.5
    return tf.where(flips, tf.reverse(x, axis=[2]), x)


def random_erase(tf: Any, x, *, seed, probability: float):
    """With `probability`, replace one rectangle of each image by uniform noise (random
    erasing): its area a share in ERASE_AREA of the image, its aspect in ERASE_ASPECT (log-
    uniform), its place uniform inside the image."""
    if probability <= 0:
        return x
    shape = tf.shape(x)
    b, h, w = shape[0], shape[1], shape[2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    u = tf.random.stateless_uniform([b, 5], seed=seed)
    area = (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * u[:, 1]) * hf * wf
    log_low, log_high = math.log(ERASE_ASPECT[0]), math.log(ERASE_ASPECT[1])
    aspect = tf.exp(log_low + (log_high - log_low) * u[:, 2])
    height = tf.minimum(tf.sqrt(area * aspect), hf)
    width = tf.minimum(tf.sqrt(area / aspect), wf)
    top = u[:, 3] * (hf - height)
    left = u[:, 4] * (wf - width)
    ys = tf.range(h, dtype=tf.float32)[None, :] + 0.5  # pixel centres
    xs = tf.range(w, dtype=tf.float32)[None, :] + 0.5
    in_rows = (ys >= top[:, None]) & (ys < (top + height)[:, None])  # (b, h)
    in_cols = (xs >= left[:, None]) & (xs < (left + width)[:, None])  # (b, w)
    mask = in_rows[:, :, None] & in_cols[:, None, :] & (u[:, 0] < probability)[:, None, None]
    noise = tf.cast(tf.random.stateless_uniform(shape, seed=seed + 1, minval=0, maxval=256,
                                                dtype=tf.int32), x.dtype)
    return tf.where(mask[:, :, :, None], noise, x)


def augment(tf: Any, x, *, seed, pad_fraction: float, flip: bool, erase: float):
    """Crop after padding, flip, erase: each with its own seed derived from the step's."""
    x = random_crop(tf, x, seed=seed, pad_fraction=pad_fraction)
    if flip:
        x = random_flip(tf, x, seed=seed + 1)
    return random_erase(tf, x, seed=seed + 2, probability=erase)
