"""Worker: test-time views at several input sizes, and an ensemble of finished fine-tuning
runs, scored on validation and test. Loads each run's saved backbone and classifier (nothing
is retrained) and sums logits, which for the linear classifier is the same as averaging the
views' transfer values.

    python -m benchmarks.workers.finetune_views_worker --dataset fashion_mnist RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from benchmarks.common import emit

SIZES = (80, 88, 96, 104)
VIEWS = {"88": (88,), "80": (80,), "96": (96,), "104": (104,), "88+96": (88, 96),
         "80+88+96": (80, 88, 96), "88+96+104": (88, 96, 104)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("runs", nargs="+", type=Path, help="finished fine-tuning run folders")
    args = parser.parse_args()

    from core.datasets.registry import load_dataset

    dataset = load_dataset(name=args.dataset)
    splits = {name: dataset.split_indices(name) for name in ("val", "test")}
    logits = {run: {split: {size: _logits(run, dataset, rows, size) for size in SIZES}
                    for split, rows in splits.items()} for run in args.runs}

    def accuracy(scores: np.ndarray, split: str) -> float:
        return float((scores.argmax(1) == dataset.labels[splits[split]]).mean())

    result = {"runs": {}, "ensemble": {}}
    for run in args.runs:
        config = json.loads((run / "result.json").read_text())["config"]
        result["runs"][run.name] = {
            "config": config,
            **{split: {view: accuracy(sum(logits[run][split][s] for s in sizes), split)
                       for view, sizes in VIEWS.items()} for split in splits}}
    if len(args.runs) > 1:
        result["ensemble"] = {split: {view: accuracy(sum(logits[run][split][s]
                                                         for run in args.runs for s in sizes),
                                                     split)
                                      for view, sizes in VIEWS.items()} for split in splits}
    emit(result)


def _logits(run: Path, dataset, rows: np.ndarray, size: int) -> np.ndarray:
    """The run's classifier on its backbone's pooled features at `size` px."""
    import tensorflow as tf

    from core.features.preprocessing import Preprocessing, preprocess_batch

    model, kernel, bias = _run_model(run)
    preprocessing = Preprocessing(size=size, crop_fraction=dataset.crop_fraction)
    parts = []
    for start in range(0, len(rows), 500):
        batch = tf.constant(dataset.images.array[rows[start:start + 500]])
        features = model(preprocess_batch(batch, preprocessing=preprocessing), training=False)
        parts.append(np.asarray(features) @ kernel + bias)
    return np.concatenate(parts)


@lru_cache(maxsize=None)
def _run_model(run: Path):
    """The run's fine-tuned backbone as an any-size model, and its classifier."""
    from core.base.tf_env import import_tensorflow

    import_tensorflow()
    import keras

    import core.backbones.layers  # noqa: F401  (registers the saved custom layers)
    from core.backbones.efficientnet_lite import build_efficientnet_lite

    result = json.loads((run / "result.json").read_text())
    saved = keras.saving.load_model(run / "backbone.keras", compile=False)
    model = build_efficientnet_lite(variant=result["backbone"], input_size=None,
                                    fold_bn=result["config"]["bn"] == "frozen",
                                    fast_gradients=True, any_size=True)
    model.set_weights(saved.get_weights())
    head = np.load(run / "head.npz")
    return model, head["kernel"], head["bias"]


if __name__ == "__main__":
    main()
