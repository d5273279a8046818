"""Fine-tuning throughput (images/s of optimizer steps) at one input size, in its own process.

Runs the real training step of `core.finetune` (augmentation, forward, backward, AdamW) on
Fashion-MNIST-shaped uint8 batches, after a warm-up that includes tracing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import emit, peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--bn", default="frozen")
    parser.add_argument("--unfreeze", default=None, help="default: FineTuneConfig's")
    parser.add_argument("--start-size", type=int, default=None,
                        help="0 builds a fixed-size model; default: FineTuneConfig's (an "
                             "any-size model, as progressive resizing trains)")
    parser.add_argument("--mixed", default="")  # e.g. mixed_bfloat16
    parser.add_argument("--plain-pointwise", action="store_true",
                        help="1×1 convolutions with TensorFlow's own gradients (the A/B baseline "
                             "for core.backbones.layers.PointwiseConv2D)")
    args = parser.parse_args()
    if args.plain_pointwise:
        import keras

        import core.backbones.layers

        core.backbones.layers.PointwiseConv2D = (
            lambda filters, **kwargs: keras.layers.Conv2D(filters, 1, **kwargs))

    from core.datasets.base import make_array_dataset
    from core.finetune import FineTuneConfig
    from core.finetune.trainer import Trainer
    from core.base.tf_env import import_tensorflow

    tf = import_tensorflow()
    import keras

    if args.mixed:
        keras.mixed_precision.set_global_policy(args.mixed)
    rng = np.random.default_rng(0)
    n = args.batch * 4
    data = make_array_dataset(name="bench", images=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                              labels=np.arange(n) % 10, class_names=[str(i) for i in range(10)],
                              splits=np.zeros(n, np.uint8), sample_ids=np.arange(n).astype(str),
                              source="random")
    overrides = {key: value for key, value in (("unfreeze", args.unfreeze),
                                               ("start_size", args.start_size))
                 if value is not None}
    config = FineTuneConfig(image_size=args.size, batch_size=args.batch, bn=args.bn,
                            **overrides)
    trainer = Trainer(dataset=data, backbone="efficientnet_lite0", config=config,
                       run_dir=Path("/nonexistent"), cache_dir=None, progress=None,
                       on_epoch=None)
    trainer.tf, trainer.keras = tf, keras
    model, _ = trainer._build(np.zeros((1280, 10), np.float32), np.zeros(10, np.float32))
    optimizer = keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=0.05)
    optimizer.build(model.trainable_variables)
    train_step, _ = trainer._steps(model, optimizer, 1)
    images, labels = data.images.array, data.labels

    def step(i: int) -> None:
        rows = np.arange(i % 4 * args.batch, (i % 4 + 1) * args.batch)
        loss, _ = train_step(tf.constant(images[rows]), tf.constant(labels[rows]),
                             tf.constant([0, i], dtype=tf.int64), args.size)
        float(loss)

    start = time.perf_counter()
    step(0)
    first = time.perf_counter() - start
    step(1)
    start = time.perf_counter()
    for i in range(args.steps):
        step(i + 2)
    seconds = time.perf_counter() - start
    emit({"size": args.size, "batch": args.batch, "bn": args.bn, "unfreeze": config.unfreeze,
          "start_size": config.start_size,
          "plain_pointwise": args.plain_pointwise,
          "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
          "mixed": args.mixed or "float32", "train_images_per_s": args.steps * args.batch / seconds,
          "first_step_seconds": first, "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
