"""The 1000 ImageNet-1k class names, shipped with the code (Keras downloads them otherwise).

imagenet_classes.txt holds one name per line in class-index order (0 "tench" …
999 "toilet tissue"). It is pytorch/hub's imagenet_classes.txt, which lists Keras'
imagenet_class_index.json names, with the index prefixes dropped and underscores shown as
spaces, the familiar torchvision spelling. Two names appear twice ("crane" 134/517,
"maillot" 638/639): those really are distinct ImageNet synsets.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

_CLASSES_FILE = Path(__file__).with_name("imagenet_classes.txt")
NUM_CLASSES = 1000


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    names = tuple(_CLASSES_FILE.read_text(encoding="utf-8").splitlines())
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"{_CLASSES_FILE} has {len(names)} lines, expected {NUM_CLASSES}")
    return names


def imagenet_class_names() -> list[str]:
    """ImageNet-1k class names, index i is class i."""
    return list(_names())


def top_k_classes(probabilities: np.ndarray, *, k: int = 5) -> list[list[tuple[int, str, float]]]:
    """Per row of a (B, 1000) score array: the k best (index, name, score), best first."""
    scores = np.atleast_2d(np.asarray(probabilities))
    if scores.shape[-1] != NUM_CLASSES:
        raise ValueError(f"expected {NUM_CLASSES} class scores per row, got {scores.shape[-1]}")
    names = _names()
    best = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
    return [[(int(i), names[i], float(row[i])) for i in order] for row, order in zip(scores, best)]
