"""One extraction measurement in its own process (its own peak memory): TensorFlow's bare
forward pass, or the whole pipeline on one runtime and precision.

Bare = the model's tf.function on ready-made float32 batches (and, for EfficientNet-Lite,
the unfolded port with a BatchNorm layer after every conv: the registry's extractor folds BN
into the convs); with `--runtime openvino|onnxruntime`, that runtime's forward pass (as
extraction converts it, the conversion not timed) on the same batches, so the gap between
a runtime's bare speed and its pipeline shows. Pipeline = compute_transfer_values on `--runtime`/`--precision` (uint8
batches, in-graph resize, chunked cache writes to a fresh folder); the model is built (and
converted, for OpenVINO and ONNX Runtime, and calibrated for int8) before the clock starts, and that set-up time is reported apart.
The pipeline's values go to `--out` so the section compares runtimes on the same images.
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
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--mode", choices=["bare", "pipeline"], default="pipeline")
    parser.add_argument("--runtime", default="tensorflow")
    parser.add_argument("--precision", default="f32")
    parser.add_argument("--out", default=None, help="pipeline: save the values here (.npy)")
    args = parser.parse_args()

    from core.datasets import default_dataset_name, load_dataset

    name = default_dataset_name()
    data = load_dataset(name=name).limited(limit=args.n, seed=1)
    result = {"backbone": args.backbone, "size": args.size, "n": len(data), "dataset": name,
              "mode": args.mode, "runtime": args.runtime, "precision": args.precision}
    if args.mode == "bare":
        result.update(_bare(args, batches=int(np.ceil(len(data) / args.batch))))
    else:
        result.update(_pipeline(args, data))
    emit({**result, "peak_rss_mb": peak_rss_mb()})


def _bare(args, *, batches: int) -> dict:
    from core.backbones.lite_specs import has_lite_structure
    from core.backbones.registry import get_backbone
    from core.base.tf_env import import_tensorflow

    tf = import_tensorflow()
    arrays = [np.random.default_rng(i).uniform(0, 255, (args.batch, args.size, args.size, 3))
              .astype("float32") for i in range(4)]
    if args.runtime != "tensorflow":
        return _bare_converted(args, batches=batches, arrays=arrays)
    model = get_backbone(args.backbone).build(input_size=args.size)
    ready = [tf.constant(array) for array in arrays]

    def rate(fn) -> float:
        fn(ready[0])  # trace once, as the pipeline's graph is traced in its warm-up
        start = time.perf_counter()
        for i in range(batches):
            fn(ready[i % len(ready)]).numpy()
        return batches * args.batch / (time.perf_counter() - start)

    result = {"images_per_s": rate(tf.function(lambda x: model(x, training=False)))}
    if has_lite_structure(args.backbone):
        from core.backbones.efficientnet_lite import build_efficientnet_lite

        unfolded = build_efficientnet_lite(variant=args.backbone, input_size=args.size)
        result["unfolded_images_per_s"] = rate(tf.function(lambda x: unfolded(x, training=False)))
    return result


def _bare_converted(args, *, batches: int, arrays: list) -> dict:
    """A converted runtime's forward pass alone, fed as extraction feeds it (`map`)."""
    from core.backbones.registry import get_backbone
    from core.backbones.runtime import RuntimeChoice
    from core.features.extractor import build_extractor

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        extractor = build_extractor(spec=get_backbone(args.backbone), image_size=args.size,
                                    runtime=RuntimeChoice(args.runtime, args.precision),
                                    cache_dir=cache)
        if extractor.runtime.runtime != args.runtime:
            raise RuntimeError(extractor.runtime.note)
        next(extractor._many([arrays[0]]))  # the first run allocates: not timed
        setup = time.perf_counter() - started
        start = time.perf_counter()
        for output in extractor._many(arrays[i % len(arrays)] for i in range(batches)):
            np.asarray(output)
        rate = batches * args.batch / (time.perf_counter() - start)
    return {"images_per_s": rate, "setup_seconds": setup}


def _pipeline(args, data) -> dict:
    from core.backbones.registry import get_backbone
    from core.backbones.runtime import resolve_runtime
    from core.features.extractor import FeatureExtractor, calibrated_runtime
    from core.features.transfer_values import compute_transfer_values

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        choice = calibrated_runtime(resolve_runtime(runtime=args.runtime,
                                                    precision=args.precision), data)
        extractor = FeatureExtractor.for_backbone(spec=get_backbone(args.backbone),
                                                  image_size=args.size, runtime=choice,
                                                  cache_dir=cache)
        extractor.features(data.images.batch(np.arange(min(8, len(data)))))
        setup = time.perf_counter() - started
        start = time.perf_counter()
        tv = compute_transfer_values(dataset=data, backbone=args.backbone, image_size=args.size,
                                     cache_dir=cache, batch_size=args.batch,
                                     runtime=args.runtime, precision=args.precision)
        seconds = time.perf_counter() - start
        if args.out:
            np.save(args.out, np.asarray(tv.values), allow_pickle=False)
        ran = tv.runtime.report() if tv.runtime else {}
    return {"images_per_s": tv.n / seconds, "setup_seconds": setup, "ran": ran,
            **_convolutions(extractor)}


def _convolutions(extractor) -> dict:
    """On OpenVINO: how many convolutions ran in bf16, and whether any ran on AMX."""
    layers = getattr(extractor._forward, "layers", None)
    if layers is None:
        return {}
    convolutions = [layer for layer in layers() if layer[0] == "Convolution"]
    return {"convolutions": len(convolutions),
            "bf16_convolutions": sum(layer[2] == "bf16" for layer in convolutions),
            "amx": any("amx" in layer[3] for layer in convolutions)}


if __name__ == "__main__":
    main()
