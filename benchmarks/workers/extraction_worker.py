"""One extraction measurement in its own process: bare forward pass vs the whole pipeline.

Both run the same compiled backbone on the same images, alternating, so a noisy neighbour
slows both alike. Bare = the model's tf.function on ready-made float32 batches;
pipeline = compute_transfer_values (uint8 batches, in-graph resize, chunked cache writes).
For EfficientNet-Lite the unfolded port (a BatchNorm layer after every conv) runs bare too:
the registry's extractor folds BN into the convs.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from benchmarks.common import emit, peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    from core.backbones.registry import get_backbone
    from core.datasets import default_dataset_name, load_dataset
    from core.features.extractor import FeatureExtractor
    from core.backbones.lite_specs import has_lite_structure
    from core.base.tf_env import import_tensorflow
    from core.features.transfer_values import compute_transfer_values

    tf = import_tensorflow()
    name = default_dataset_name()
    data = load_dataset(name=name).limited(limit=args.n, seed=1)
    spec = get_backbone(args.backbone)
    extractor = FeatureExtractor.for_backbone(spec=spec, image_size=args.size)
    model = extractor.model

    ready = [tf.constant(np.random.default_rng(i).uniform(0, 255, (args.batch, args.size,
                                                                   args.size, 3)).astype("float32"))
             for i in range(4)]
    bare_fn = tf.function(lambda x: model(x, training=False))
    bare_fn(ready[0])  # trace once, as the pipeline's graph is traced in its warm-up below
    unfolded_fn = None
    if has_lite_structure(args.backbone):
        from core.backbones.efficientnet_lite import build_efficientnet_lite

        unfolded = build_efficientnet_lite(variant=args.backbone, input_size=args.size)
        unfolded_fn = tf.function(lambda x: unfolded(x, training=False))
        unfolded_fn(ready[0])
    extractor.features(data.images.batch(np.arange(min(8, len(data)))), crop_fraction=1.0)

    bare_rates, pipe_rates, unfolded_rates = [], [], []
    batches = int(np.ceil(len(data) / args.batch))

    def bare(fn) -> float:
        start = time.perf_counter()
        for i in range(batches):
            fn(ready[i % len(ready)]).numpy()
        return batches * args.batch / (time.perf_counter() - start)

    for round_ in range(args.rounds):
        bare_rates.append(bare(bare_fn))
        if unfolded_fn is not None:
            unfolded_rates.append(bare(unfolded_fn))
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            tv = compute_transfer_values(dataset=data, backbone=args.backbone,
                                         image_size=args.size, cache_dir=cache,
                                         batch_size=args.batch)
            pipe_rates.append(tv.n / (time.perf_counter() - start))
    emit({"backbone": args.backbone, "size": args.size, "n": len(data), "dataset": name,
          "bare_images_per_s": max(bare_rates), "pipeline_images_per_s": max(pipe_rates),
          "ratio": max(pipe_rates) / max(bare_rates), "bare_all": bare_rates,
          "pipeline_all": pipe_rates, "peak_rss_mb": peak_rss_mb(),
          "unfolded_bare_images_per_s": max(unfolded_rates) if unfolded_rates else None})


if __name__ == "__main__":
    main()
