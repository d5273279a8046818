"""int8 quantisation recipes (`core.backbones.onnx_runtime.Int8Recipe`) against ONNX Runtime
f32, in one process: for each recipe, what users do with the values (the logistic-regression
head's test accuracy, each image's 15 nearest neighbours, per-image cosine) and the forward
pass's speed, timed side by side with f32 in alternating rounds on the same preprocessed
batches. Every recipe is calibrated on the same images as extraction calibrates (a seeded
sample of the dataset). One JSON line per recipe as it finishes (`--out`), and all at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import emit, forward_speeds
from benchmarks.workers.runtime_downstream_worker import cosines, neighbour_overlap

# the recipes compared: parts kept in float32, calibration method, symmetric activations, format
RECIPES = {
    "all-int8": dict(),
    "f32-depthwise": dict(keep_f32=("depthwise",)),
    "f32-last": dict(keep_f32=("last",)),
    "f32-first-last": dict(keep_f32=("first", "last")),
    "f32-depthwise-first-last": dict(keep_f32=("depthwise", "first", "last")),
    "f32-add": dict(keep_f32=("add",)),
    "f32-start": dict(keep_f32=("start",)),  # the convolutions bf16mix keeps in f32
    "f32-start-last": dict(keep_f32=("start", "last")),
    "f32-depthwise-add": dict(keep_f32=("depthwise", "add")),
    "percentile-f32-depthwise": dict(keep_f32=("depthwise",), method="percentile"),
    "percentile-f32-last": dict(keep_f32=("last",), method="percentile"),
    "entropy-f32-last": dict(keep_f32=("last",), method="entropy"),
    "symmetric-f32-last": dict(keep_f32=("last",), symmetric_activations=True),
    "qoperator-f32-last": dict(keep_f32=("last",), quant_format="qoperator"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated names")
    parser.add_argument("--timed-images", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", required=True, help="a scratch cache folder")
    parser.add_argument("--out", default=None, help="append each recipe's JSON line here")
    args = parser.parse_args()

    from core.analysis.neighbors import knn_graph
    from core.backbones.converted import backbone_fields
    from core.backbones.onnx_runtime import Int8Recipe, OnnxForward, converted_onnx, quantize
    from core.backbones.registry import get_backbone
    from core.datasets import default_dataset_name, load_dataset
    from core.features.extractor import FeatureExtractor, calibration_inputs
    from core.features.transfer_values import compute_transfer_values
    from core.heads import train_head

    name = default_dataset_name()
    data = load_dataset(name=name).limited(limit=args.n, seed=1)
    spec = get_backbone(args.backbone)
    f32_model = converted_onnx(fields=backbone_fields(spec, args.size),
                               build=lambda: spec.build(input_size=args.size),
                               image_size=args.size, cache_dir=args.cache,
                               writer=spec.onnx_writer)  # as int8 extraction quantises
    tv = compute_transfer_values(dataset=data, backbone=args.backbone, image_size=args.size,
                                 cache_dir=args.cache, runtime="onnxruntime", precision="f32")
    inputs = np.concatenate(list(FeatureExtractor(image_size=args.size, forward=lambda x: x).run(
        dataset=data, indices=np.arange(len(data)), batch_size=64,
        crop_fraction=data.crop_fraction)))
    calibration = calibration_inputs(dataset=data, image_size=args.size)
    f32 = OnnxForward(model=f32_model)
    reference = _measures(tv, train_head, knn_graph, args.cache)
    results = []
    for recipe_name in args.recipes.split(","):
        recipe = Int8Recipe(**RECIPES[recipe_name])
        started = time.perf_counter()
        int8 = OnnxForward(model=quantize(f32_model, images=calibration, recipe=recipe))
        quantise_seconds = time.perf_counter() - started
        values = np.concatenate(list(int8.map(inputs[i:i + 64]
                                              for i in range(0, len(inputs), 64))))
        low = _measures(replace(tv, values=values, key=f"{tv.key}-{recipe.name}"), train_head,
                        knn_graph, args.cache)
        cosine = cosines(tv.values, values)
        speeds = forward_speeds({"f32": f32, "int8": int8}, inputs[:args.timed_images],
                                args.rounds)
        result = {"recipe": recipe_name, "name": recipe.name, "dataset": name, "n": len(data),
                  "size": args.size, "f32_test_accuracy": reference["accuracy"],
                  "test_accuracy": low["accuracy"],
                  "knn15_overlap": neighbour_overlap(reference["neighbours"], low["neighbours"]),
                  "min_cosine": float(cosine.min()), "median_cosine": float(np.median(cosine)),
                  "f32_images_per_s": max(speeds["f32"]), "images_per_s": max(speeds["int8"]),
                  "speedup": max(speeds["int8"]) / max(speeds["f32"]),
                  "round_speedups": [b / a for a, b in zip(speeds["f32"], speeds["int8"])],
                  "quantise_seconds": quantise_seconds}
        results.append(result)
        if args.out:
            with Path(args.out).open("a") as handle:
                handle.write(json.dumps(result) + "\n")
    emit({"recipes": results})


def _measures(tv, train_head, knn_graph, cache: str) -> dict:
    head = train_head(tv=tv, head="logreg", use_cache=False)
    return {"accuracy": float(head.metrics["test_accuracy"]),
            "neighbours": np.asarray(knn_graph(tv=tv, n_neighbors=15, cache_dir=cache).indices_)}


if __name__ == "__main__":
    main()
