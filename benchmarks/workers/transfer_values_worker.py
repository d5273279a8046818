"""Compute (or open from the cache) one dataset's transfer values, in its own process.

Run before the sections that read them, so their workers find a cache hit and time only
their own work. `--backbone pixels` prepares the raw-pixel baseline instead.
"""

from __future__ import annotations

import argparse

from benchmarks.common import emit, peak_rss_mb, timer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--size", type=int, default=0, help="input px (ignored for pixels)")
    args = parser.parse_args()

    from core.datasets import load_dataset
    from core.features.feature_sets import feature_values

    dataset = load_dataset(name=args.dataset)
    with timer() as took:
        tv = feature_values(dataset=dataset, backbone=args.backbone,
                            image_size=args.size or None)
    emit({"dataset": args.dataset, "backbone": args.backbone, "size": args.size, "key": tv.key,
          "cache": tv.cache, "seconds": took["seconds"], "n": tv.n, "dim": tv.dim,
          "images_per_s": tv.n / took["seconds"], "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
