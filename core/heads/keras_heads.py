"""Keras heads on transfer values: a softmax layer, and the classic transfer-learning
tutorial's Dense(1024, relu) → softmax, trained with Adam in batches of 64.

Inputs are standardized by a Normalization layer adapted on the training rows (it is part
of the saved model, so exported models need no side-car scaler). Early stopping watches the
validation loss and restores the best epoch's weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.base.memory import out_of_memory_as_user_error, require_memory
from core.base.params import Params, param
from core.heads.base import EpochLog, HeadData, HeadModel
from core.heads.registry import register_head
from core.base.progress import Progress

MODEL_FILE = "model.keras"
_REPORT_EVERY_BATCHES = 20
PREDICT_BATCH = 4096
_LOWER = "hidden or batch_size"


def _keras():
    from core.base.tf_env import import_tensorflow

    import_tensorflow()  # quiet logs before keras pulls TensorFlow in
    import keras

    return keras


class KerasModelState:
    """A head whose learned state is one Keras model (`model_`): exported as it is, saved
    as one .keras file and loaded back safely. Shared by the classification and the
    regression Keras heads."""

    def to_keras(self):
        return self.model_

    def save_state(self, folder: Path) -> list[str]:
        self.model_.save(folder / MODEL_FILE)
        return [MODEL_FILE]

    @classmethod
    def load_state(cls, folder: Path, *, params: dict[str, Any], seed: int):
        keras = _keras()
        head = cls(params=params, seed=seed)
        # safe_mode refuses Lambda layers and other deserialization that could run code
        head.model_ = keras.saving.load_model(folder / MODEL_FILE, compile=False, safe_mode=True)
        return head


@dataclass(frozen=True)
class KerasConfig(Params):
    """The Keras heads' parameters; the softmax head's defaults (no hidden layer)."""

    epochs: int = param(40, min=1, max=1000,
                        help="training epochs at most (early stopping may end sooner)")
    batch_size: int = param(64, min=1, max=65_536, help="rows per gradient step")
    # Adam at 1e-4 as in the classic tutorial: in a one-off comparison on Fashion-MNIST
    # Lite0@96px, 1e-3 overfit standardized features within 1–3 epochs and tested about a
    # point lower (softmax 87.6 %, MLP 87.1 %); the heads' current figures at these defaults
    # are in benchmarks/RESULTS.md, "Heads".
    learning_rate: float = param(1e-4, min=0, min_exclusive=True, max=1,
                                 help="Adam's step size")
    patience: int = param(5, min=0, max=1000,
                          help="epochs without a better validation loss before stopping")
    hidden: int = param(0, min=0, max=0, help="no hidden layer (the mlp head has one)")
    dropout: float = param(0.0, min=0, max=1, max_exclusive=True,
                           help="share of hidden units dropped while training")


@dataclass(frozen=True)
class MLPConfig(KerasConfig):
    """The mlp head's: one hidden layer, with dropout."""

    # the upper bound keeps a widget usable; what this machine can hold is checked before
    # training (memory_estimate)
    hidden: int = param(1024, min=1, max=100_000, help="units of the hidden Dense(relu) layer")
    # dropout 0.5: about a point better on test than none in a one-off comparison
    # (Fashion-MNIST Lite0@96px, 88.75 % without; with it: benchmarks/RESULTS.md, "Heads")
    dropout: float = 0.5


class KerasHead(KerasModelState, HeadModel):
    config = KerasConfig

    def memory_estimate(self, *, n_rows: int, dim: int, num_classes: int) -> int:
        """Bytes training and prediction need, roughly: float32 weights with their gradients
        and Adam's two moments, a batch's activations forward and backward, and the copy of
        the `n_rows` training and validation rows Keras makes."""
        hidden = int(self.params["hidden"])
        weights = (dim * hidden + hidden + hidden * num_classes if hidden else dim * num_classes)
        batch = int(self.params["batch_size"])
        activations = max(batch * (dim + 3 * hidden + 2 * num_classes),
                          PREDICT_BATCH * (dim + hidden + num_classes))
        return 4 * (4 * (weights + num_classes + 2 * dim) + activations + n_rows * dim)

    def check_resources(self, data: HeadData) -> None:
        needed = self.memory_estimate(n_rows=len(data.x_train) + len(data.x_val),
                                      dim=data.x_train.shape[1], num_classes=data.num_classes)
        require_memory(needed=needed, what=self._what(), lower=_LOWER)

    def _what(self) -> str:
        return (f"the {self.name} head ({self.params['hidden']} hidden units, batch "
                f"{self.params['batch_size']})")

    def build(self, *, x_train: np.ndarray, num_classes: int):
        keras = _keras()
        inputs = keras.Input((x_train.shape[1],), name="transfer_values")
        norm = keras.layers.Normalization(name="standardize")
        norm.adapt(x_train)
        x = norm(inputs)
        if int(self.params["hidden"]) > 0:
            x = keras.layers.Dense(int(self.params["hidden"]), activation="relu", name="hidden")(x)
            if float(self.params["dropout"]) > 0:
                x = keras.layers.Dropout(float(self.params["dropout"]), seed=self.seed)(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
        return keras.Model(inputs, outputs, name=f"{self.name}_head")

    def fit(self, data: HeadData, *, progress=None, on_epoch=None):
        keras = _keras()
        keras.utils.set_random_seed(self.seed)  # weights init and shuffling
        model = self.build(x_train=data.x_train, num_classes=data.num_classes)
        model.compile(optimizer=keras.optimizers.Adam(float(self.params["learning_rate"])),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        epochs = int(self.params["epochs"])
        history: list[EpochLog] = []
        has_val = len(data.x_val) > 0
        reporter = make_reporter(keras, history=history, epochs=epochs, name=self.name,
                                  progress=progress, on_epoch=on_epoch)
        callbacks = [reporter]
        if has_val:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=int(self.params["patience"]),
                restore_best_weights=True))
        with out_of_memory_as_user_error(what=f"Training {self._what()}", lower=_LOWER):
            model.fit(data.x_train, data.y_train, batch_size=int(self.params["batch_size"]),
                      epochs=epochs, shuffle=True, verbose=0, callbacks=callbacks,
                      validation_data=(data.x_val, data.y_val) if has_val else None)
        self.model_ = model
        self.history_ = history
        best = (int(np.argmin([h.val_loss for h in history])) + 1) if has_val and history else None
        self.details_ = {"epochs_run": len(history), "best_epoch": best}
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if len(X) == 0:
            return np.zeros((0, self.model_.output_shape[-1]), np.float32)
        return np.asarray(self.model_.predict(X, batch_size=PREDICT_BATCH, verbose=0),
                          dtype=np.float32)



def _classification_entry(epoch: int, logs: dict, seconds: float) -> EpochLog:
    return EpochLog(epoch=epoch, loss=float(logs.get("loss", np.nan)),
                    accuracy=float(logs.get("accuracy", np.nan)),
                    val_loss=_maybe(logs.get("val_loss")),
                    val_accuracy=_maybe(logs.get("val_accuracy")), seconds=seconds)


def _classification_message(entry: EpochLog) -> str:
    message = f"loss {entry.loss:.3f} acc {entry.accuracy:.3f}"
    if entry.val_accuracy is not None:
        message += f" val acc {entry.val_accuracy:.3f}"
    return message


def make_reporter(keras, *, history, epochs, name, progress, on_epoch,
                  entry=_classification_entry, message=_classification_message):
    """A Keras callback that logs each epoch as `entry(epoch, logs, seconds)` (an EpochLog),
    passes it to `on_epoch` and reports progress with `message(entry)`."""

    class Reporter(keras.callbacks.Callback):
        """Logs each epoch and reports progress, also every few batches: the progress
        callback may stop training there (CancelledError)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if progress is not None and batch % _REPORT_EVERY_BATCHES == 0:
                progress(Progress(f"train {name}", len(history), epochs))

        def on_epoch_end(self, epoch, logs=None):
            record = entry(epoch + 1, logs or {}, time.perf_counter() - self.started)
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if progress is not None:
                progress(Progress(f"train {name}", epoch + 1, epochs, message=message(record)))

    return Reporter()


def _maybe(value) -> float | None:
    return None if value is None else float(value)


@register_head
class SoftmaxHead(KerasHead):
    name = "softmax"
    title = "Softmax (Keras)"
    description = ("One softmax layer (Keras, Adam, batch 64) on standardized transfer values, "
                   "early stopping on validation loss.")


@register_head
class MLPHead(KerasHead):
    name = "mlp"
    title = "MLP (Keras)"
    description = ("The classic tutorial head: Dense(1024, relu) → softmax (Keras, Adam, "
                   "batch 64), early stopping on validation loss; dropout 0.5 after the hidden "
                   "layer (set 0 for the tutorial's exact head).")
    config = MLPConfig
