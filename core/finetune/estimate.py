"""How long fine-tuning will take on this machine, measured rather than guessed.

A few real training steps (the same model, optimizer, augmentation and preprocessing as the
run) are timed at the schedule's smallest and largest input size, and one forward pass at the
largest; a step's time is taken as fixed cost plus a part proportional to the pixels
(a + b·size², solved from the two sizes), which is how a convolutional network's work grows.
The estimate adds up every epoch's steps at its size, the validation passes after each epoch,
and the two extractions a run does when the values are not cached (the frozen values at the
final size for the phase-1 head, the fine-tuned values at the end). Measured once per
machine and set-up, then kept in the cache: the next look is instant.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from core.base.atomic import atomic_write_bytes
from core.base.hashing import hash_key
from core.base.paths import cache_root
from core.base.progress import Progress, ProgressCallback
from core.datasets.base import ImageDataset
from core.finetune.config import FineTuneConfig

ESTIMATE_VERSION = 1
KIND = "finetune_estimates"
TIMED_STEPS = 3  # after one untimed step that traces the graph


@dataclass(frozen=True)
class FineTuneEstimate:
    """A fine-tuning run's expected wall time, with what it was worked out from."""

    train_seconds: float  # every epoch's training steps
    validation_seconds: float  # the validation pass after each epoch
    extraction_seconds: float  # frozen values at the final size + fine-tuned values after
    step_seconds: dict[int, float] = field(default_factory=dict)  # measured, per input size
    forward_seconds_per_image: float = 0.0  # at the final size, measured
    steps_per_epoch: int = 0
    epochs: int = 0
    measured_seconds: float = 0.0  # how long measuring took

    @property
    def total_seconds(self) -> float:
        return self.train_seconds + self.validation_seconds + self.extraction_seconds

    def describe(self) -> str:
        from core.base.progress import format_seconds

        sizes = " and ".join(f"{seconds:.2f} s/step at {size} px"
                             for size, seconds in sorted(self.step_seconds.items()))
        extraction = (f", {format_seconds(self.extraction_seconds)} of extraction"
                      if self.extraction_seconds else "")
        return (f"about {format_seconds(self.total_seconds)} on this machine: "
                f"{self.epochs} epochs × {self.steps_per_epoch} steps "
                f"({format_seconds(self.train_seconds)}), validation "
                f"{format_seconds(self.validation_seconds)}{extraction}; measured {sizes}")


def estimate_key(*, dataset: ImageDataset, backbone: str, config: FineTuneConfig) -> str:
    """Everything that changes the speed: the machine's cores, the model and its frozen part,
    the batch, the sizes and the pixels' shape (not the data's content or the seed)."""
    from core.backbones.registry import get_backbone

    return hash_key({
        "version": ESTIMATE_VERSION, "cpus": os.cpu_count(),
        "backbone": backbone, "weights": get_backbone(backbone).weights_id(),
        "sizes": sorted(set(config.epoch_sizes())), "batch_size": config.batch_size,
        "unfreeze": config.unfreeze, "bn": config.bn, "progressive": config.progressive,
        "classes": dataset.num_classes, "pixels": _pixel_shape(dataset),
        "augment": [config.crop_pad_fraction > 0, config.flip],
    })


def estimate_fine_tune(*, dataset: ImageDataset, backbone: str, config: FineTuneConfig,
                       values_cached: bool = False, cache_dir: str | Path | None = None,
                       progress: Optional[ProgressCallback] = None,
                       measure: bool = True) -> FineTuneEstimate | None:
    """The expected time of `fine_tune(dataset=..., backbone=..., config=...)` here.

    Timings come from the cache when this set-up was measured before; otherwise they are
    measured now (tens of seconds: the model is built and traced at two sizes), unless
    `measure` is False (then None). `values_cached`: the frozen transfer values at the final
    size exist, so the run skips that extraction. Refused in a public app, as fine-tuning is
    (measuring builds the network and trains real steps)."""
    from core.base.public import refuse_fine_tuning_if_public

    refuse_fine_tuning_if_public("Estimating fine-tuning time")
    config.validate()
    key = estimate_key(dataset=dataset, backbone=backbone, config=config)
    path = cache_root(cache_dir) / KIND / f"{key}.json"
    timings = _read(path)
    if timings is None:
        if not measure:
            return None
        timings = _measure(dataset=dataset, backbone=backbone, config=config, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(timings).encode())
    return _scale(timings, dataset=dataset, config=config, values_cached=values_cached)


def _scale(timings: dict, *, dataset: ImageDataset, config: FineTuneConfig,
           values_cached: bool) -> FineTuneEstimate:
    steps = {int(size): float(s) for size, s in timings["step_seconds"].items()}
    small, large = min(steps), max(steps)
    if small == large:
        def step_time(size: int) -> float:
            return steps[large]
    else:  # a + b·size²: fixed cost per step plus work that grows with the pixels
        b = (steps[large] - steps[small]) / (large ** 2 - small ** 2)
        a = steps[small] - b * small ** 2

        def step_time(size: int) -> float:
            return max(0.0, a + b * size ** 2)

    n_train = len(dataset.split_indices("train"))
    n_val = len(dataset.split_indices("val"))
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    sizes = config.epoch_sizes()
    forward = float(timings["forward_seconds_per_image"])  # at the largest size
    train = sum(steps_per_epoch * step_time(size) for size in sizes)
    # a forward pass costs in proportion to the pixels too (same split as the train step)
    validation = sum(n_val * forward * step_time(size) / step_time(large) for size in sizes)
    extraction = len(dataset) * forward * (1 if values_cached else 2)
    return FineTuneEstimate(train_seconds=train, validation_seconds=validation,
                            extraction_seconds=extraction, step_seconds=steps,
                            forward_seconds_per_image=forward, steps_per_epoch=steps_per_epoch,
                            epochs=config.epochs,
                            measured_seconds=float(timings.get("measured_seconds", 0.0)))


def _measure(*, dataset: ImageDataset, backbone: str, config: FineTuneConfig,
             progress: Optional[ProgressCallback]) -> dict:
    """Time real training steps at the smallest and largest input size, and a forward pass
    at the largest, with the run's own model and step functions."""
    from core.backbones.registry import get_backbone
    from core.base.jobs import heavy_job
    from core.base.tf_env import import_tensorflow
    from core.finetune.trainer import Trainer

    started = time.perf_counter()
    sizes = sorted({min(config.epoch_sizes()), max(config.epoch_sizes())})
    total = len(sizes) * (TIMED_STEPS + 1) + 2

    def report(done: int, what: str) -> None:
        if progress is not None:
            progress(Progress("timing fine-tuning steps", done, total, message=what))

    with heavy_job(name="timing fine-tuning steps", progress=progress):
        report(0, "building the model")
        tf = import_tensorflow()
        import keras

        trainer = Trainer(dataset=dataset, backbone=backbone, config=config, run_dir=None,
                          cache_dir=None, progress=None, on_epoch=None)
        trainer.tf, trainer.keras = tf, keras
        dim = get_backbone(backbone).feature_dim
        model, _ = trainer._build(np.zeros((dim, dataset.num_classes), np.float32),
                                  np.zeros(dataset.num_classes, np.float32))
        # a tiny learning rate: the timing must not depend on (or disturb) anything learned
        optimizer = keras.optimizers.AdamW(learning_rate=1e-9, weight_decay=config.weight_decay)
        optimizer.build(model.trainable_variables)
        batch, crop_fraction = _sample_batch(dataset, config)
        train_step, eval_step = trainer._steps(model, optimizer, crop_fraction)
        images, labels = tf.constant(batch), tf.constant(
            np.resize(dataset.labels, len(batch)).astype(np.int64))
        done, step_seconds = 0, {}
        for size in sizes:
            times = []
            for step in range(TIMED_STEPS + 1):  # the first traces the graph: not timed
                clock = time.perf_counter()
                loss, _ = train_step(images, labels, tf.constant([0, step], tf.int64), size)
                float(loss)  # wait for the step to finish
                times.append(time.perf_counter() - clock)
                done += 1
                report(done, f"{size} px, step {step + 1}")
            step_seconds[size] = float(np.median(times[1:]))
        large = sizes[-1]
        times = []
        for _ in range(2):
            clock = time.perf_counter()
            logits, _ = eval_step(images, labels, large)
            float(tf.reduce_sum(logits))
            times.append(time.perf_counter() - clock)
            done += 1
            report(done, f"forward pass at {large} px")
    return {"step_seconds": step_seconds, "forward_seconds_per_image": times[-1] / len(batch),
            "measured_seconds": time.perf_counter() - started}


def _sample_batch(dataset: ImageDataset, config: FineTuneConfig) -> tuple[np.ndarray, float]:
    """A batch shaped like the run's: the dataset's own pixels for arrays (their shape and
    crop), preprocessed-size random pixels for folders (the run preprocesses those once)."""
    store = dataset.images
    n = config.batch_size
    if store.uniform_shape is not None:
        rows = np.resize(np.arange(len(store)), n)
        return np.asarray(store.array[rows]), dataset.crop_fraction
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, config.image_size, config.image_size, 3), np.uint8), 1.0


def _pixel_shape(dataset: ImageDataset) -> list | str:
    shape = dataset.images.uniform_shape
    return list(shape) if shape is not None else "folder"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
