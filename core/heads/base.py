"""The pieces every head shares: what it is trained on, what it logs, and the estimator
interface a new head implements to appear in `HEADS` — a classification head (`HeadModel`,
class probabilities) or a regression head (`RegressionHead`, one number per sample)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

import numpy as np

from core.base.params import ParamSpec, Params
from core.base.progress import ProgressCallback


@dataclass(frozen=True)
class NoParams(Params):
    """The config of a head without parameters."""


@dataclass(frozen=True)
class EpochLog:
    """One epoch of a Keras head (logistic regression has none). A regression head logs no
    accuracy (None) but its mean absolute errors in the target's units."""

    epoch: int
    loss: float
    accuracy: Optional[float]
    val_loss: Optional[float]
    val_accuracy: Optional[float]
    seconds: float
    mae: Optional[float] = None
    val_mae: Optional[float] = None


@dataclass
class HeadData:
    """The rows a head trains on: `y_*` are class indices, or a regression head's float
    targets (then `num_classes` is 0). `x_train` may hold extra (augmented) rows after the
    original ones; `train_rows`/`val_rows` are the sample indices into `tv` behind the
    original rows. `tv` and `dataset` are context for heads that need more than features
    (a fine-tuning head reads images from `dataset`)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    train_rows: np.ndarray
    val_rows: np.ndarray
    tv: Any = None  # core.features.transfer_values.TransferValues
    dataset: Any = None  # core.datasets.ImageDataset, when the caller has it


class HeadModel:
    """A trainable head: scikit-learn style (`fit` returns self, learned state ends in `_`).

    To add a head: subclass, set `name`, `description`, `config` (a frozen dataclass
    subclassing `core.base.params.Params` whose `param` fields declare every parameter's
    default, bounds and help), implement the five methods below, and decorate with
    `core.heads.registry.register_head`. `needs_images = True` marks heads that train on
    images rather than cached transfer values (fine-tuning); `train_head` then requires a
    dataset.
    """

    name: ClassVar[str] = ""
    task: ClassVar[str] = "classification"  # or "regression" (RegressionHead)
    title: ClassVar[str] = ""  # a short display name for front ends ("" shows `name`)
    description: ClassVar[str] = ""
    config: ClassVar[type[Params]] = NoParams
    needs_images: ClassVar[bool] = False
    # True for the head of a fine-tuning run (the backbone itself is trained, on images):
    # front ends offer it apart from the heads trained on cached transfer values
    fine_tunes_backbone: ClassVar[bool] = False
    # why `train_head(cross_fit_folds=K)` refuses this head ("" = it allows it): set by heads
    # whose fit is no cheap refit on other rows (fine-tuning)
    cross_fit_reason: ClassVar[str] = ""

    def __init__(self, *, params: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.params = self.resolve_params(params)
        self.seed = int(seed)
        self.history_: list[EpochLog] = []
        self.details_: dict[str, Any] = {}

    @classmethod
    def resolve_params(cls, params: dict[str, Any] | None) -> dict[str, Any]:
        """The config's defaults overlaid with `params`, each checked against its spec
        (ParameterError naming the bound)."""
        return cls.config.check(params, owner=f"head '{cls.name}'")

    @classmethod
    def parameter_specs(cls) -> dict[str, ParamSpec]:
        """name → ParamSpec, in the config's field order (a front end's widget bounds)."""
        return cls.config.parameter_specs()

    def check_resources(self, data: "HeadData") -> None:
        """Refuse (core.base.errors.ResourceLimitError) before training when `data` with these
        parameters would not fit in memory; heads whose size is set by parameters override."""

    def fit(self, data: HeadData, *, progress: Optional[ProgressCallback] = None,
            on_epoch: Optional[Callable[[EpochLog], None]] = None) -> "HeadModel":
        """Learn from `data`; call `progress` where training can stop (it may raise
        CancelledError, see core.base.progress)."""
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, C) float32 class probabilities for transfer values X (n, D)."""
        raise NotImplementedError

    def to_keras(self):
        """A Keras model: transfer values (B, D) → probabilities (B, C), for export."""
        raise NotImplementedError

    def save_state(self, folder: Path) -> list[str]:
        """Write the learned state into `folder`; returns the file names written."""
        raise NotImplementedError

    @classmethod
    def load_state(cls, folder: Path, *, params: dict[str, Any], seed: int) -> "HeadModel":
        raise NotImplementedError


class RegressionHead(HeadModel):
    """A head that predicts one number per sample (trained with `train_head(target=...)`).

    Implements `predict` instead of `predict_proba`; `to_keras` maps transfer values
    (B, D) to the number (B, 1) in the target's own units.
    """

    task = "regression"

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n,) float32 predictions for transfer values X (n, D)."""
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise TypeError(f"the {self.name} head predicts a number, not class probabilities; "
                        f"use predict()")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def linear_softmax_model(*, kernel: np.ndarray, bias: np.ndarray, layer_name: str,
                         model_name: str):
    """A Keras model: transfer values (B, D) → softmax(x @ kernel + bias), for export."""
    return dense_model(kernel=kernel, bias=bias, activation="softmax", layer_name=layer_name,
                       model_name=model_name)


def dense_model(*, kernel: np.ndarray, bias: np.ndarray, activation: str | None,
                layer_name: str, model_name: str):
    """A Keras model: transfer values (B, D) → activation(x @ kernel + bias) (B, K)."""
    from core.base.tf_env import import_tensorflow

    import_tensorflow()
    import keras

    inputs = keras.Input((kernel.shape[0],), name="transfer_values")
    dense = keras.layers.Dense(kernel.shape[1], activation=activation, name=layer_name)
    outputs = dense(inputs)
    dense.set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])
    return keras.Model(inputs, outputs, name=model_name)
