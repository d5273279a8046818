"""The "finetune" head: the classifier of a finished fine-tuning run, on the fine-tuned
backbone's transfer values.

Fine-tuning (`core.finetune`) trains the backbone and a linear classifier together on images.
Its end-to-end model is `softmax(features(image) @ kernel + bias)`, so on the fine-tuned
backbone's transfer values this head gives exactly the fine-tuned model's predictions, and
every analysis that works on a (transfer values, head) pair — confusion matrix, failure
gallery, label issues, export — works on the fine-tuned model too. `fit` does not train: it
reads the run folder named by the `run_dir` parameter (see `core.finetune.evaluate`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.base.errors import TransferLensError
from core.base.params import Params, param
from core.heads.base import EpochLog, HeadData, HeadModel, linear_softmax_model, softmax
from core.heads.registry import register_head

WEIGHTS_FILE = "weights.npz"


@dataclass(frozen=True)
class FineTunedConfig(Params):
    run_dir: str = param("", help="the finished fine-tuning run's folder (set by "
                                  "core.finetune.evaluate)")


@register_head
class FineTunedHead(HeadModel):
    name = "finetune"
    title = "Fine-tune"
    fine_tunes_backbone = True
    description = ("Fine-tune the backbone itself: a linear head on the frozen transfer values "
                   "first, then the whole network (or its top K blocks) end to end on the images "
                   "with random-crop and flip augmentation, AdamW one-cycle and label smoothing. "
                   "Minutes to hours; checkpoints after every epoch.")
    config = FineTunedConfig
    cross_fit_reason = ("cross-fitting would fine-tune the backbone once per fold; use a head "
                        "on the fine-tuned transfer values (e.g. logreg) for out-of-fold "
                        "probabilities instead")

    def fit(self, data: HeadData, *, progress=None, on_epoch=None):
        run_dir = Path(str(self.params["run_dir"]))
        if not (run_dir / "result.json").is_file():
            raise TransferLensError(
                "The 'finetune' head reads a finished fine-tuning run: use "
                "core.finetune.evaluate.fine_tune_and_evaluate (CLI: train --head finetune).")
        result = json.loads((run_dir / "result.json").read_text())
        with np.load(run_dir / "head.npz", allow_pickle=False) as head:
            self.kernel_ = head["kernel"].astype(np.float32)
            self.bias_ = head["bias"].astype(np.float32)
        if self.kernel_.shape != (data.x_train.shape[1], data.num_classes):
            raise TransferLensError(f"The fine-tuning run in {run_dir} does not fit these "
                                    f"transfer values; compute them with its backbone.")
        self.history_ = [EpochLog(epoch=h["epoch"], loss=h["loss"], accuracy=h["accuracy"],
                                  val_loss=h["val_loss"], val_accuracy=h["val_accuracy"],
                                  seconds=h["seconds"]) for h in result["history"]]
        # the time that counts is the fine-tuning run's own (possibly over several resumes)
        self.details_ = {"train_seconds": round(float(result["train_seconds"]), 3),
                         "images_per_second": result["images_per_second"],
                         "resumed_from_epoch": result["resumed_from_epoch"],
                         "config": result["config"], "run": run_dir.name}
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = np.asarray(X, dtype=np.float32) @ self.kernel_ + self.bias_
        return softmax(logits).astype(np.float32)

    def folded_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(kernel (D, C), bias (C,)): logits = values @ kernel + bias, as for logreg, so
        `core.serving.cam` gives the exact CAM on the fine-tuned backbone's conv map."""
        return self.kernel_, self.bias_

    def to_keras(self):
        return linear_softmax_model(kernel=self.kernel_, bias=self.bias_,
                                    layer_name="probabilities", model_name="finetuned_head")

    def save_state(self, folder: Path) -> list[str]:
        np.savez(folder / WEIGHTS_FILE, kernel=self.kernel_, bias=self.bias_)
        return [WEIGHTS_FILE]

    @classmethod
    def load_state(cls, folder: Path, *, params: dict[str, Any], seed: int) -> "FineTunedHead":
        head = cls(params=params, seed=seed)
        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as weights:
            head.kernel_ = weights["kernel"].astype(np.float32)
            head.bias_ = weights["bias"].astype(np.float32)
        return head
