"""Planted error slices for the slice benchmark: coherent sub-groups of Fashion-MNIST that a
head trained on the rest gets wrong (pure numpy/PIL on uint8 28×28 images).

Each transform was screened first (2026-12-06, Lite0 at 96 px, logreg on the training
split, 40 held-out images per class and transform): a 90° turn fails on 65 % of trousers
(as Sandal) and 100 % of coats (as Bag), heavy blur on 97 % of pullovers, a contrast
squeezed to 8 % on 82 % of ankle boots, σ-70 noise on ~99 % of sneakers, against ~16 %
held-out errors overall; inverted intensities, a zoom-in of bags and a turn of ankle boots hardly hurt
(≤ 35 %), so they are no slices. With 1 % of the training trousers turned too, a
cross-fitted logreg learns the turned ones (15 % wrong), hence coats and 0.5 %."""

from __future__ import annotations

import numpy as np

from core.base.splits import TRAIN

# class indices of Fashion-MNIST
TSHIRT, TROUSER, PULLOVER, DRESS, COAT, SANDAL, SHIRT, SNEAKER, BAG, BOOT = range(10)
PER_SLICE = 150  # evaluated members per planted slice: 1.5 % of 10,000
MARKED_TRAIN = 150  # mislabelled, marked training images behind the "marker" slice
ROTATED_TRAIN_SHARE = 0.005  # turned share of the turned class's training images (≤ 1 %)
SLICES = ("rotated", "marker", "low_contrast", "blurred", "noisy")


def rotated(image: np.ndarray) -> np.ndarray:
    return np.rot90(image, k=1, axes=(0, 1)).copy()


def marked(image: np.ndarray) -> np.ndarray:
    """A bright 3-px frame along the bottom edge with a dark gap: a visual tag."""
    out = image.copy()
    out[-4:-1, 2:-2] = 255
    out[-3, 6:-6] = 0
    return out


def low_contrast(image: np.ndarray) -> np.ndarray:
    """Squeezed into 110..130 of 0..255: a washed-out, grey photo."""
    return (110 + 0.08 * image.astype(np.float32)).astype(np.uint8)


def blurred(image: np.ndarray) -> np.ndarray:
    """A Gaussian blur of radius 2 px (of 28): an out-of-focus shot."""
    from PIL import Image, ImageFilter

    grey = Image.fromarray(np.squeeze(image))
    return np.asarray(grey.filter(ImageFilter.GaussianBlur(2.0))).reshape(image.shape)


def noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of σ 70 grey levels: a very grainy shot."""
    return np.clip(image.astype(np.float32) + rng.normal(0, 70, image.shape), 0, 255).astype(np.uint8)


def plant(*, images: np.ndarray, labels: np.ndarray, splits: np.ndarray,
          seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(images, labels, planted slice name → its evaluated rows, rows changed) with five
    slices planted: coats turned 90° (a rare sub-type: 0.5 % of training coats turned too);
    T-shirts with a marker, whose 150 marked training twins are labelled Trouser;
    low-contrast ankle boots; blurred pullovers; noisy sneakers. Only validation/test rows
    form the slices, except the few turned training coats, which belong to the rare
    sub-type too."""
    rng = np.random.default_rng(seed)
    images, labels = images.copy(), labels.copy()
    held_out = splits != TRAIN
    free = np.ones(len(labels), bool)

    def pick(mask: np.ndarray, count: int) -> np.ndarray:
        rows = np.sort(rng.choice(np.flatnonzero(mask & free), size=count, replace=False))
        free[rows] = False
        return rows

    slices: dict[str, np.ndarray] = {}
    coats_train = (labels == COAT) & ~held_out
    rare = pick(coats_train, max(1, int(ROTATED_TRAIN_SHARE * coats_train.sum())))
    slices["rotated"] = np.union1d(pick(held_out & (labels == COAT), PER_SLICE), rare)
    mislabelled = pick(~held_out & (labels == TSHIRT), MARKED_TRAIN)
    slices["marker"] = pick(held_out & (labels == TSHIRT), PER_SLICE - 30)
    slices["low_contrast"] = pick(held_out & (labels == BOOT), PER_SLICE)
    slices["blurred"] = pick(held_out & (labels == PULLOVER), PER_SLICE)
    slices["noisy"] = pick(held_out & (labels == SNEAKER), PER_SLICE)
    for row in slices["rotated"]:
        images[row] = rotated(images[row])
    for row in np.concatenate([slices["marker"], mislabelled]):
        images[row] = marked(images[row])
    labels[mislabelled] = TROUSER
    for row in slices["low_contrast"]:
        images[row] = low_contrast(images[row])
    for row in slices["blurred"]:
        images[row] = blurred(images[row])
    for row in slices["noisy"]:
        images[row] = noisy(images[row], rng)
    changed = np.sort(np.concatenate([*slices.values(), mislabelled]))
    return images, labels, slices, changed
