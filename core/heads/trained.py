"""`TrainedHead`: a trained head with its outputs, as training returns it and a saved head
folder (`core.heads.storage`) loads back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.features.preprocessing import Preprocessing
from core.heads.base import EpochLog, HeadModel
from core.heads.storage import read_head, save_head


@dataclass
class TrainedHead:
    """A trained head with its outputs on the transfer values it was trained on.

    A regression head (`task == "regression"`) has no probabilities ((N, 0)); its
    `predictions` are the numbers it gives for the target `target` (hashed in `target_key`).
    """

    head: str
    params: dict[str, Any]
    classes: tuple[str, ...]
    probabilities: np.ndarray  # (N, C) float32, every sample; out-of-fold on train if cross-fit
    predictions: np.ndarray  # (N,) class indices, or float32 numbers for a regression head
    history: list[EpochLog]
    metrics: dict[str, Any]
    model: HeadModel
    seed: int = 0
    cross_fit_folds: int = 0
    tv_key: Optional[str] = None
    feature_dim: int = 0
    key: Optional[str] = None
    cache: str = "miss"
    # how the training images were turned into transfer values (None: raw pixels, imported
    # arrays), so exports and predictions on new images resize and crop them the same way
    preprocessing: Optional[Preprocessing] = None
    task: str = "classification"
    target: Optional[str] = None
    target_key: Optional[str] = None

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class indices, or a regression head's numbers."""
        if self.task == "regression":
            return self.model.predict(X)
        return self.predict_proba(X).argmax(axis=1)

    def save(self, path: str | Path) -> Path:
        """`save_head(self, path)`: the folder format of `core.heads.storage`."""
        return save_head(self, path)


def load_head(path: str | Path) -> TrainedHead:
    """A TrainedHead from a folder written by `save_head` (see the trust model in
    `core.heads.storage`)."""
    return TrainedHead(**read_head(path))
