"""ONNX Runtime session recipes (`core.backbones.onnx_session.SESSION_RECIPES`: options such
as the optimisation level, spinning threads, the memory arena, and model edits such as an
NCHW input, a fixed input size, a graph optimised once) side by side in one process: for
each input size, the backbone converted as extraction converts it, each recipe's forward
pass timed on the same ready batches (real images preprocessed as extraction does, `map`
as extraction runs it) in alternating rounds, its values checked against the first
recipe's on the first four batches, and the time to open its session from a warm cache
(what a fresh process pays). One session lives at a time (each warmed up by a batch before
its turn, closed after).

    python -m benchmarks.workers.ort_options_worker --sizes 96,128,224 --cache /tmp/ort

Reports per size and recipe: images/s per round and the best, best / default's best, the
median of the per-round ratios to the default (steadier under load), the largest relative
difference to the default's values and whether it is within 1e-4.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.common import emit, forward_speeds

TOLERANCE = 1e-4  # relative: what may share TensorFlow's cache key (issue 31)


def main() -> None:
    from core.backbones.onnx_session import SESSION_RECIPES, describe, recipe_named

    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--sizes", default="96,128,224", help="comma-separated px, 16–512")
    parser.add_argument("--recipes", default=",".join(SESSION_RECIPES),
                        help="comma-separated names, the first being the reference")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=16, help="per round and recipe")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", required=True, help="a scratch cache folder")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.recipes.split(",")
    if not all(16 <= s <= 512 for s in sizes) or not 1 <= args.batch <= 512 \
            or args.batches < 1 or args.rounds < 1:
        parser.error("sizes 16–512 px, batch 1–512, batches and rounds ≥ 1")
    recipes = {name: recipe_named(name) for name in names}  # unknown names fail here

    from core.backbones.converted import backbone_forward
    from core.backbones.registry import get_backbone
    from core.datasets import default_dataset_name, load_dataset
    from core.features.extractor import FeatureExtractor

    spec = get_backbone(args.backbone)
    dataset = default_dataset_name()
    data = load_dataset(name=dataset).limited(limit=args.batch * args.batches, seed=1)
    results = {}
    for size in sizes:
        inputs = np.concatenate(list(FeatureExtractor(image_size=size, forward=lambda x: x).run(
            dataset=data, indices=np.arange(len(data)), batch_size=args.batch,
            crop_fraction=data.crop_fraction)))

        def forward(recipe):
            return backbone_forward(spec=spec, runtime="onnxruntime", image_size=size,
                                    cache_dir=args.cache, session_recipe=recipe)

        checked = min(len(inputs), 4 * args.batch)  # values compared on these
        forwards, opens, outputs = {}, {}, {}
        for name, recipe in recipes.items():  # one session's memory at a time
            forward(recipe)  # converted (and optimised) once: the cache is warm from here
            started = time.perf_counter()
            forwards[name] = forward(recipe)
            opens[name] = time.perf_counter() - started
            outputs[name] = np.concatenate([forwards[name](inputs[i:i + args.batch])
                                            for i in range(0, checked, args.batch)])
            forwards[name].release_memory()
        speeds = forward_speeds(forwards, inputs, args.rounds, batch=args.batch, release=True)
        reference = names[0]
        scale = max(float(np.abs(outputs[reference]).max()), 1e-12)
        per_size = {}
        for name in names:
            difference = float(np.abs(outputs[name] - outputs[reference]).max()) / scale
            per_size[name] = {
                "changes": describe(recipes[name]), "images_per_s": speeds[name],
                "best": max(speeds[name]),
                "ratio": max(speeds[name]) / max(speeds[reference]),
                "median_round_ratio": statistics.median(
                    b / a for a, b in zip(speeds[reference], speeds[name])),
                "max_rel_diff": difference, "within_tolerance": difference <= TOLERANCE,
                "open_seconds": opens[name]}
        results[str(size)] = per_size
    emit({"backbone": args.backbone, "dataset": dataset, "images": len(data),
          "values_compared_on": min(len(data), 4 * args.batch),
          "batch": args.batch, "rounds": args.rounds, "reference": names[0],
          "tolerance": TOLERANCE, "sizes": results})


if __name__ == "__main__":
    main()
