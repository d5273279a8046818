"""Planted error slices for the slice benchmark: coherent sub-groups of Fashion-MNIST that a
head trained on the rest gets wrong (pure numpy/PIL on uint8 28×28 images)."""

from __future__ import annotations

import numpy as np

from core.base.splits import TRAIN

# class indices of Fashion-MNIST
TSHIRT, TROUSER, PULLOVER, DRESS, COAT, SANDAL, SHIRT, SNEAKER, BAG, BOOT = range(10)
PER_SLICE = 150  # evaluated members per planted slice: 1.5 % of 10,000
MARKED_TRAIN = 150  # mislabelled, marked training images behind the "marker" slice
ROTATED_TRAIN_SHARE = 0.01  # rotated share of the rotated class's training images (≤ 1 %)
SLICES = ("rotated", "marker", "low_contrast", "zoomed", "noisy")


def rotated(image: np.ndarray) -> np.ndarray:
    return np.rot90(image, k=1, axes=(0, 1)).copy()


def marked(image: np.ndarray) -> np.ndarray:
    """A bright 3-px frame along the bottom edge with a dark gap: a visual tag."""
    out = image.copy()
    out[-4:-1, 2:-2] = 255
    out[-3, 6:-6] = 0
    return out


def low_contrast(image: np.ndarray) -> np.ndarray:
    """Squeezed into 100..138 of 0..255: a washed-out, grey photo."""
    return (100 + 0.15 * image.astype(np.float32)).astype(np.uint8)


def zoomed(image: np.ndarray) -> np.ndarray:
    """The centre half, enlarged back to full size (bilinear): a close-up."""
    from PIL import Image

    height, width = image.shape[:2]
    top, left = height // 4, width // 4
    centre = np.squeeze(image[top:top + height // 2, left:left + width // 2])
    return np.asarray(Image.fromarray(centre).resize((width, height), Image.BILINEAR)
                      ).reshape(image.shape)


def noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of σ 70 grey levels: a very grainy shot."""
    return np.clip(image.astype(np.float32) + rng.normal(0, 70, image.shape), 0, 255).astype(np.uint8)


def plant(*, images: np.ndarray, labels: np.ndarray, splits: np.ndarray,
          seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(images, labels, planted slice name → its evaluated rows, rows changed) with five
    slices planted: rotated ankle boots (≤ 1 % of training boots rotated too); T-shirts with a
    marker, whose 150 marked training twins are labelled Trouser; low-contrast images of
    five classes; zoomed-in bags; noisy sneakers. Only validation/test rows form the slices,
    except the few rotated training boots, which belong to the rotated sub-type too."""
    rng = np.random.default_rng(seed)
    images, labels = images.copy(), labels.copy()
    held_out = splits != TRAIN
    free = np.ones(len(labels), bool)

    def pick(mask: np.ndarray, count: int) -> np.ndarray:
        rows = np.sort(rng.choice(np.flatnonzero(mask & free), size=count, replace=False))
        free[rows] = False
        return rows

    slices: dict[str, np.ndarray] = {}
    boots_train = (labels == BOOT) & ~held_out
    rare = pick(boots_train, int(ROTATED_TRAIN_SHARE * boots_train.sum()))
    slices["rotated"] = np.union1d(pick(held_out & (labels == BOOT), PER_SLICE), rare)
    mislabelled = pick(~held_out & (labels == TSHIRT), MARKED_TRAIN)
    slices["marker"] = pick(held_out & (labels == TSHIRT), PER_SLICE - 30)
    slices["low_contrast"] = pick(held_out & np.isin(labels, [TROUSER, PULLOVER, DRESS, COAT,
                                                              SHIRT]), PER_SLICE)
    slices["zoomed"] = pick(held_out & (labels == BAG), PER_SLICE)
    slices["noisy"] = pick(held_out & (labels == SNEAKER), PER_SLICE)
    for row in slices["rotated"]:
        images[row] = rotated(images[row])
    for row in np.concatenate([slices["marker"], mislabelled]):
        images[row] = marked(images[row])
    labels[mislabelled] = TROUSER
    for row in slices["low_contrast"]:
        images[row] = low_contrast(images[row])
    for row in slices["zoomed"]:
        images[row] = zoomed(images[row])
    for row in slices["noisy"]:
        images[row] = noisy(images[row], rng)
    changed = np.sort(np.concatenate([*slices.values(), mislabelled]))
    return images, labels, slices, changed
