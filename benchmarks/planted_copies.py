"""Planted near-duplicates for the duplicate benchmark and tests: copies of images made the
ways copies arise (re-saved as JPEG, resized and back, shifted by a pixel or two)."""

from __future__ import annotations

import io

import numpy as np

KINDS = ("exact", "resized", "jpeg", "shifted", "shifted_both")


def resized(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrunk to 60–80 % or enlarged to 150–200 %, then back to the original size (bilinear)."""
    from PIL import Image

    height, width = image.shape[:2]
    factor = rng.uniform(0.6, 0.8) if rng.random() < 0.5 else rng.uniform(1.5, 2.0)
    pil = Image.fromarray(_plane(image))
    pil = pil.resize((max(1, round(width * factor)), max(1, round(height * factor))),
                     Image.BILINEAR)
    return np.asarray(pil.resize((width, height), Image.BILINEAR)).reshape(image.shape)


def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-encoded as JPEG at quality 50–79."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_plane(image)).save(buffer, format="JPEG", quality=int(rng.integers(50, 80)))
    buffer.seek(0)
    return np.asarray(Image.open(buffer)).reshape(image.shape)


def shifted(image: np.ndarray, rng: np.random.Generator, *, most: int = 2) -> np.ndarray:
    """Moved by 1–`most` px up, down, left or right; the uncovered border is black."""
    step = int(rng.integers(1, most + 1)) * int(rng.choice([-1, 1]))
    return moved(image, *((step, 0) if rng.random() < 0.5 else (0, step)))


def shifted_both(image: np.ndarray, rng: np.random.Generator, *, most: int = 2) -> np.ndarray:
    """Moved by 1–`most` px along both axes (diagonally); the uncovered border is black."""
    dy, dx = (int(v) * int(s) for v, s in zip(rng.integers(1, most + 1, size=2),
                                                rng.choice([-1, 1], size=2)))
    return moved(image, dy, dx)


def moved(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Moved by (dy, dx) px; the uncovered border is black (as a crop-and-pad copy is)."""
    height, width = image.shape[:2]
    out = np.zeros_like(image)
    out[max(0, dy):height + min(0, dy), max(0, dx):width + min(0, dx)] = \
        image[max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
    return out


def copy_of(kind: str, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if kind == "exact":
        return image.copy()
    return {"resized": resized, "jpeg": jpeg, "shifted": shifted,
            "shifted_both": shifted_both}[kind](image, rng)


def _plane(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def plant_copies(*, images: np.ndarray, originals: np.ndarray, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Copies of images[originals], the kinds in turn (an equal share each): (copies, kinds)."""
    rng = np.random.default_rng(seed)
    kinds = np.array([KINDS[i * len(KINDS) // len(originals)] for i in range(len(originals))])
    copies = np.stack([copy_of(kind, images[o], rng) for kind, o in zip(kinds, originals)])
    return copies, kinds
