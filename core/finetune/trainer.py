"""Fine-tuning the backbone end to end, after a head trained on frozen transfer values.

Phase 1 trains a softmax head on the cached transfer values (seconds). Phase 2 puts that head
on the backbone, unfreezes all of it or its top K blocks, and trains on the images with
augmentation (random crop after padding, horizontal flip, optional random erasing), AdamW
with a one-cycle or cosine schedule and label smoothing. With `start_size` the input grows over the epochs (progressive
resizing), so the early epochs cost a fraction of the last ones.

Resumable: after every epoch the weights, the optimizer state and the history are written
(atomically, under names that carry the epoch, the state file last), so a run killed even
with SIGKILL continues from its last finished epoch when started again with the same
settings. Batches are drawn from a permutation seeded by (seed, epoch) and augmented with
stateless random ops seeded by (seed, epoch, step), so a resumed run sees the same data.

Batch normalisation: `bn="frozen"` (default) keeps ImageNet's BN statistics and folds every
BN layer into its convolution (an affine map with trainable scale and shift left in the
conv's kernel and bias). Measured here on an 11k-image Fashion-MNIST subset, 2 epochs at
64 px, side by side: frozen reached 89.8 % validation accuracy at 162 images/s, BN in
training mode 83.4 % at 98 images/s — batch statistics of short CPU-sized runs are noisy, and
the unfolded BN layers cost time. `bn="train"` lets BN in the unfrozen blocks adapt its
statistics instead (frozen blocks always run BN in inference mode).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from core.base.atomic import atomic_path, atomic_save_npz, atomic_write_bytes
from core.base.errors import CancelledError, TransferLensError
from core.backbones.lite_specs import has_lite_structure
from core.base.progress import Progress
from core.datasets.base import ImageDataset
from core.features.preprocessing import Preprocessing
from core.finetune.blocks import top_blocks
from core.finetune.config import FineTuneConfig, FineTuneEpoch, FineTuneResult
from core.finetune.schedule import OneCycleSchedule


class Trainer:
    def __init__(self, *, dataset: ImageDataset, backbone: str, config: FineTuneConfig,
                 run_dir: Path, cache_dir, progress, on_epoch) -> None:
        self.dataset, self.backbone, self.config = dataset, backbone, config
        self.run_dir, self.cache_dir = run_dir, cache_dir
        self.progress, self.on_epoch = progress, on_epoch

    # --- data ---
    def _base_images(self) -> tuple[np.ndarray, float]:
        """The pixels augmentation starts from, and the crop fraction still to apply: the
        uint8 array itself, or for folders each image already preprocessed to the input size
        (decoded once, kept in memory as uint8, so its crop is done)."""
        store = self.dataset.images
        if store.uniform_shape is not None:
            return store.array, self.dataset.crop_fraction
        from core.features.preprocessing import preprocess_image

        preprocessing = Preprocessing(size=self.config.image_size,
                                      crop_fraction=self.dataset.crop_fraction)
        return np.stack([np.clip(np.round(preprocess_image(store.get(i),
                                                           preprocessing=preprocessing)),
                                 0, 255).astype(np.uint8)
                         for i in range(len(store))]), 1.0

    # --- phase 1: a head on frozen transfer values ---
    def _phase_one_head(self) -> tuple[np.ndarray, np.ndarray]:
        head_file = self.run_dir / "phase1_head.npz"
        if head_file.is_file():
            saved = np.load(head_file, allow_pickle=False)
            return saved["kernel"], saved["bias"]
        from core.features.transfer_values import compute_transfer_values

        tv = compute_transfer_values(dataset=self.dataset, backbone=self.backbone,
                                     image_size=self.config.image_size, cache_dir=self.cache_dir,
                                     progress=self.progress)
        keras = self.keras
        keras.utils.set_random_seed(self.config.seed)
        train = self.dataset.split_indices("train")
        x = np.asarray(tv.values[train], dtype=np.float32)
        y = tv.labels[train]
        head = keras.Sequential([keras.Input((x.shape[1],)),
                                 keras.layers.Dense(self.dataset.num_classes)])
        head.compile(optimizer=keras.optimizers.Adam(1e-3),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        # at least ~500 optimizer steps, so small datasets converge too
        epochs = max(self.config.head_epochs, math.ceil(500 / math.ceil(len(x) / 256)))
        # every epoch a new shuffle, all epochs in one fit: Keras' per-epoch overhead made
        # 500 one-step epochs (a small dataset) cost ~20x the steps themselves
        tf = self.tf
        batches = (tf.data.Dataset.from_tensor_slices((x, y))
                   .shuffle(len(x), seed=self.config.seed, reshuffle_each_iteration=True)
                   .batch(256).repeat(epochs))
        head.fit(batches, epochs=1, verbose=0, shuffle=False)  # batches shuffle themselves
        kernel, bias = (w.numpy() if hasattr(w, "numpy") else np.asarray(w)
                        for w in head.layers[-1].weights)
        atomic_save_npz(head_file, kernel=kernel, bias=bias)
        return kernel, bias

    # --- the model ---
    def _build(self, kernel: np.ndarray, bias: np.ndarray):
        keras, config = self.keras, self.config
        from core.backbones.registry import get_backbone

        if has_lite_structure(self.backbone):
            # fixed BN statistics are an affine map: fold them into the convs (fewer ops);
            # matmul gradients for the 1×1 convs (measured: benchmarks, fine-tuning section)
            from core.backbones.efficientnet_lite import build_efficientnet_lite

            features = build_efficientnet_lite(variant=self.backbone, input_size=config.image_size,
                                               fold_bn=config.bn == "frozen", fast_gradients=True,
                                               any_size=config.progressive)
        elif config.progressive:
            raise TransferLensError("Progressive resizing (start_size) is supported for the "
                                    "EfficientNet-Lite backbones; set start_size=0.")
        else:
            features = get_backbone(self.backbone).build(input_size=config.image_size)
        features.trainable = True
        if config.unfreeze != "all":
            from core.backbones.efficientnet_lite import block_names

            keep = set(top_blocks(block_names(features), backbone=self.backbone,
                                  unfreeze=config.unfreeze))
            for layer in features.layers:
                prefix = layer.name.split("_")[0]
                layer.trainable = prefix in keep or layer.name.startswith("head")
        if config.bn == "frozen":
            for layer in features.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        side = None if config.progressive else config.image_size
        inputs = keras.Input((side, side, 3), name="pixels")
        x = features(inputs)
        x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
        outputs = keras.layers.Dense(self.dataset.num_classes, name="classifier")(x)
        model = keras.Model(inputs, outputs, name="finetune")
        model.get_layer("classifier").set_weights([kernel, bias])
        return model, features

    def run(self) -> FineTuneResult:
        from core.base.tf_env import import_tensorflow

        tf = import_tensorflow()
        import keras

        self.tf, self.keras, config = tf, keras, self.config
        started = time.perf_counter()
        kernel, bias = self._phase_one_head()
        keras.utils.set_random_seed(config.seed)
        model, features = self._build(kernel, bias)

        images, crop_fraction = self._base_images()
        labels = self.dataset.labels
        train_idx = self.dataset.split_indices("train")
        val_idx = self.dataset.split_indices("val")
        steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
        schedule = OneCycleSchedule(total_steps=steps_per_epoch * config.epochs,
                                    peak=config.peak_lr, warmup_fraction=config.warmup_fraction,
                                    kind=config.schedule)
        optimizer = keras.optimizers.AdamW(learning_rate=schedule(0),
                                           weight_decay=config.weight_decay,
                                           use_ema=config.ema > 0,
                                           ema_momentum=config.ema or 0.99)
        optimizer.build(model.trainable_variables)
        state = self._restore(model, optimizer)
        self.seconds_before = float(state.get("seconds", 0.0))
        self.started = started
        history = [FineTuneEpoch(**h) for h in state.get("history", [])]
        first_epoch = len(history)
        train_step, eval_step = self._steps(model, optimizer, crop_fraction)

        n_train_total = steps_per_epoch * config.epochs
        done_steps = first_epoch * steps_per_epoch
        clock = time.perf_counter()
        rates = []
        sizes = config.epoch_sizes()
        for epoch in range(first_epoch, config.epochs):
            epoch_start = time.perf_counter()
            size = sizes[epoch]
            order = np.random.default_rng([config.seed, epoch]).permutation(train_idx)
            loss_sum = correct = seen = 0.0
            for step in range(steps_per_epoch):
                rows = np.sort(order[step * config.batch_size:(step + 1) * config.batch_size])
                optimizer.learning_rate.assign(schedule(done_steps))
                loss, hits = train_step(tf.constant(images[rows]), tf.constant(labels[rows]),
                                        tf.constant([config.seed, epoch * 100_003 + step],
                                                    dtype=tf.int64), size)
                loss_sum += float(loss) * len(rows)
                correct += float(hits)
                seen += len(rows)
                done_steps += 1
                try:  # the caller's progress callback may stop the run here
                    self._report(done_steps, n_train_total, first_epoch * steps_per_epoch,
                                 clock, f"epoch {epoch + 1}/{config.epochs}"
                                 + (f" at {size} px" if config.progressive else "")
                                 + f" · loss {loss_sum / seen:.3f} · acc {correct / seen:.3f}")
                except CancelledError as stop:
                    raise CancelledError(f"Fine-tuning stopped in epoch {epoch + 1}; {epoch} "
                                         f"finished epochs are kept for next time.") from stop
            seconds = time.perf_counter() - epoch_start
            rates.append(seen / seconds)
            val_loss, val_acc = self._evaluate(eval_step, images, labels, val_idx, size)
            ema_acc = float("nan")
            if config.ema > 0:
                with _averaged_weights(model, optimizer):
                    ema_acc = self._evaluate(eval_step, images, labels, val_idx, size)[1]
            record = FineTuneEpoch(epoch=epoch + 1, loss=loss_sum / seen, accuracy=correct / seen,
                                   val_loss=val_loss, val_accuracy=val_acc, seconds=seconds,
                                   images_per_second=seen / seconds,
                                   learning_rate=float(schedule(done_steps - 1)),
                                   image_size=size, ema_val_accuracy=ema_acc)
            history.append(record)
            self._checkpoint(model, optimizer, history)
            if self.on_epoch is not None:
                self.on_epoch(record)

        weights = _choose_weights(history, ema=config.ema)
        if weights == "ema":
            optimizer.finalize_variable_values(model.trainable_variables)
        return self._finish(model, features, history, started, first_epoch, rates, weights)

    def _steps(self, model, optimizer, crop_fraction: float):
        from core.features.preprocessing import preprocess_batch
        from core.finetune.augment import augment as augment_batch

        tf, config = self.tf, self.config
        smoothing = config.label_smoothing
        classes = self.dataset.num_classes

        def prepare(batch, seed, augment: bool, size: int):
            """Augmentation (train) on the images as they are, then the one preprocessing."""
            x = batch
            if augment:
                x = augment_batch(tf, x, seed=seed, pad_fraction=config.crop_pad_fraction,
                                  flip=config.flip, erase=config.erase)
            return preprocess_batch(x, preprocessing=Preprocessing(size=size,
                                                                   crop_fraction=crop_fraction))

        def loss_fn(y, logits):
            target = tf.one_hot(y, classes) * (1 - smoothing) + smoothing / classes
            return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target, logits))

        # size is a Python int: one trace per input size (progressive resizing uses a few)
        @tf.function(reduce_retracing=True)
        def train_step(batch, y, seed, size: int):
            x = prepare(batch, seed, augment=True, size=size)
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = loss_fn(y, logits)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            hits = tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == y, tf.float32))
            return loss, hits

        @tf.function(reduce_retracing=True)
        def eval_step(batch, y, size: int):
            x = prepare(batch, tf.constant([0, 0], tf.int64), augment=False, size=size)
            logits = model(x, training=False)
            return logits, loss_fn(y, logits)

        return train_step, eval_step

    def _evaluate(self, eval_step, images, labels, rows, size: int) -> tuple[float, float]:
        if len(rows) == 0:
            return float("nan"), float("nan")
        tf = self.tf
        losses, hits = [], 0
        for start in range(0, len(rows), 256):
            part = rows[start:start + 256]
            logits, loss = eval_step(tf.constant(images[part]), tf.constant(labels[part]), size)
            losses.append(float(loss) * len(part))
            hits += int((np.argmax(logits.numpy(), -1) == labels[part]).sum())
        return sum(losses) / len(rows), hits / len(rows)

    def _report(self, done, total, done_before, clock, message) -> None:
        """Progress counts optimizer steps; the rate is in images per second."""
        if self.progress is None:
            return
        elapsed = time.perf_counter() - clock
        steps_rate = (done - done_before) / elapsed if elapsed > 0 else 0.0
        rate = steps_rate * self.config.batch_size
        eta = (total - done) / steps_rate if steps_rate > 0 else None
        self.progress(Progress("fine-tune", done, total, rate, eta, message))

    # --- checkpoints ---
    def _checkpoint(self, model, optimizer, history: list[FineTuneEpoch]) -> None:
        epoch = history[-1].epoch
        weights = self.run_dir / f"epoch_{epoch:03d}.weights.h5"
        with atomic_path(weights) as tmp:
            model.save_weights(tmp)
        # dropout's random state is not among the model weights; keep it so a resumed run
        # draws the same masks as an uninterrupted one
        seeds = {f"s{i:04d}": np.asarray(g.state.numpy()) for i, g in
                 enumerate(_seed_generators(model))}
        atomic_save_npz(self.run_dir / f"epoch_{epoch:03d}.optimizer.npz", **seeds,
                    **{f"v{i:04d}": np.asarray(v.numpy()) for i, v in
                       enumerate(optimizer.variables)})
        state = {"epoch": epoch, "history": [asdict(h) for h in history],
                 "config": asdict(self.config),
                 "seconds": self.seconds_before + time.perf_counter() - self.started}
        atomic_write_bytes(self.run_dir / "state.json", json.dumps(state, indent=1).encode())
        for old in self.run_dir.glob("epoch_*"):
            if not old.name.startswith(f"epoch_{epoch:03d}."):
                old.unlink(missing_ok=True)

    def _restore(self, model, optimizer) -> dict[str, Any]:
        state_file = self.run_dir / "state.json"
        if not state_file.is_file():
            return {}
        state = json.loads(state_file.read_text())
        epoch = state["epoch"]
        model.load_weights(self.run_dir / f"epoch_{epoch:03d}.weights.h5")
        saved = np.load(self.run_dir / f"epoch_{epoch:03d}.optimizer.npz", allow_pickle=False)
        for i, variable in enumerate(optimizer.variables):
            value = saved[f"v{i:04d}"]
            if tuple(value.shape) != tuple(variable.shape):
                raise TransferLensError(f"Checkpoint in {self.run_dir} does not fit this model; "
                                        f"delete that folder to start over.")
            variable.assign(value)
        for i, generator in enumerate(_seed_generators(model)):
            if f"s{i:04d}" in saved:
                generator.state.assign(saved[f"s{i:04d}"])
        return state

    def _fixed_size_copy(self, features):
        """The trained any-size extractor as a model of the final input size (what a saved
        backbone declares as its size)."""
        from core.backbones.efficientnet_lite import build_efficientnet_lite

        fixed = build_efficientnet_lite(variant=self.backbone, input_size=self.config.image_size,
                                        fold_bn=self.config.bn == "frozen", fast_gradients=True)
        fixed.set_weights(features.get_weights())
        return fixed

    def _finish(self, model, features, history, started, first_epoch, rates,
                weights: str) -> FineTuneResult:
        kernel, bias = (np.asarray(w) for w in model.get_layer("classifier").get_weights())
        if self.config.progressive:  # trained as an any-size model
            features = self._fixed_size_copy(features)
        atomic_save_npz(self.run_dir / "head.npz", kernel=kernel, bias=bias)
        backbone_path = self.run_dir / "backbone.keras"
        _atomic_keras_save(features, backbone_path)
        model_path = self.run_dir / "model.keras"
        preprocessing = Preprocessing(size=self.config.image_size,
                                      crop_fraction=self.dataset.crop_fraction)
        _atomic_keras_save(_end_to_end(self.keras, features, kernel, bias,
                                       preprocessing=preprocessing,
                                       class_names=self.dataset.class_names), model_path)
        total_seconds = self.seconds_before + time.perf_counter() - started
        rate = float(np.mean(rates)) if rates else float("nan")
        result = {"history": [asdict(h) for h in history], "train_seconds": total_seconds,
                  "resumed_from_epoch": first_epoch, "images_per_second": rate,
                  "config": asdict(self.config), "backbone": self.backbone,
                  "class_names": list(self.dataset.class_names),
                  "feature_layer": features.layers[-1].name, "weights": weights}
        atomic_write_bytes(self.run_dir / "result.json", json.dumps(result, indent=1).encode())
        for old in self.run_dir.glob("epoch_*"):
            old.unlink(missing_ok=True)
        return FineTuneResult(run_dir=self.run_dir, backbone_path=backbone_path,
                              model_path=model_path, head_weights=(kernel, bias),
                              history=history, config=self.config, train_seconds=total_seconds,
                              resumed_from_epoch=first_epoch, images_per_second=rate,
                              feature_layer=features.layers[-1].name, weights=weights)


def _choose_weights(history: list[FineTuneEpoch], *, ema: float) -> str:
    """"ema" when the moving average is on and its last validation is at least the raw
    weights' (or there is no validation to tell them apart), else "raw"."""
    if ema <= 0 or not history:
        return "raw"
    last = history[-1]
    if math.isnan(last.val_accuracy) or math.isnan(last.ema_val_accuracy):
        return "ema"
    return "ema" if last.ema_val_accuracy >= last.val_accuracy else "raw"


class _averaged_weights:
    """Within the block the model holds the optimizer's moving average of its weights."""

    def __init__(self, model, optimizer) -> None:
        self.model, self.optimizer = model, optimizer

    def __enter__(self) -> None:
        self.raw = [v.numpy() for v in self.model.trainable_variables]
        self.optimizer.finalize_variable_values(self.model.trainable_variables)

    def __exit__(self, *exc) -> None:
        for variable, value in zip(self.model.trainable_variables, self.raw):
            variable.assign(value)


def _seed_generators(model) -> list:
    return [layer.seed_generator for layer in model._flatten_layers()
            if getattr(layer, "seed_generator", None) is not None]


def _end_to_end(keras, features, kernel, bias, *, preprocessing: Preprocessing,
                class_names) -> Any:
    """uint8 images (any size, 1 or 3 channels) → class probabilities, one .keras file."""
    from core.features.preprocessing import preprocessing_layer

    inputs = keras.Input((None, None, None), dtype="uint8", name="images")
    x = preprocessing_layer(preprocessing=preprocessing)(inputs)
    x = features(x)
    dense = keras.layers.Dense(len(class_names), activation="softmax", name="probabilities")
    outputs = dense(x)
    dense.set_weights([kernel, bias])
    return keras.Model(inputs, outputs, name="transfer_lens_finetuned")


def _atomic_keras_save(model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)
