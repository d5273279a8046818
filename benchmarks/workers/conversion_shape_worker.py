"""One conversion for every input size against one per size, side by side in one process:
for each converted runtime, the backbone converted at `--size` (static) and converted for
any size (what extraction uses for backbones that compute the same function at every size),
each run on the same random float32 batches in alternating rounds. Reports images/s per
round, the best, the ratio any-size / static and the largest relative difference.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from benchmarks.common import emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=16, help="per round and shape")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runtimes", default="onnxruntime,openvino")
    args = parser.parse_args()

    from core.backbones.converted import backbone_forward
    from core.backbones.registry import get_backbone
    from core.backbones.runtime import installed

    spec = get_backbone(args.backbone)
    batches = [np.random.default_rng(i).uniform(0, 255, (args.batch, args.size, args.size, 3))
               .astype(np.float32) for i in range(4)]
    results = {}
    with tempfile.TemporaryDirectory() as cache:
        for runtime in [r for r in args.runtimes.split(",") if installed(r)]:
            forwards = {shape: backbone_forward(spec=spec, runtime=runtime,
                                                image_size=args.size, cache_dir=cache,
                                                any_size=shape == "any_size")
                        for shape in ("static", "any_size")}
            outputs = {shape: forward(batches[0]) for shape, forward in forwards.items()}
            rates: dict[str, list[float]] = {shape: [] for shape in forwards}
            for _ in range(args.rounds):  # alternate: a noisy neighbour slows both
                for shape, forward in forwards.items():
                    start = time.perf_counter()
                    for output in forward.map(batches[i % len(batches)]
                                              for i in range(args.batches)):
                        np.asarray(output)
                    rates[shape].append(args.batches * args.batch
                                        / (time.perf_counter() - start))
            scale = float(np.abs(outputs["static"]).max())
            results[runtime] = {
                "images_per_s": rates,
                "best": {shape: max(r) for shape, r in rates.items()},
                "ratio": max(rates["any_size"]) / max(rates["static"]),
                "max_rel_diff": float(np.abs(outputs["any_size"] - outputs["static"]).max())
                / max(scale, 1e-12)}
    emit({"backbone": args.backbone, "size": args.size, "batch": args.batch,
          "rounds": args.rounds, "runtimes": results})


if __name__ == "__main__":
    main()
