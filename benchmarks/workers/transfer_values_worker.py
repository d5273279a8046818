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
    parser.add_argument("--limit", type=int, default=0,
                        help="a seeded subset of this many images (0: all)")
    parser.add_argument("--runtime", default="auto", help="what runs the forward pass")
    args = parser.parse_args()

    from core.features.feature_sets import feature_values

    with timer() as took:
        tv = feature_values(dataset=benchmark_dataset(args.dataset, limit=args.limit),
                            backbone=args.backbone, image_size=args.size or None,
                            **({} if args.backbone == "pixels" else {"runtime": args.runtime}))
    ran = tv.runtime.report() if tv.runtime else {}
    emit({"dataset": args.dataset, "backbone": args.backbone, "size": args.size, "key": tv.key,
          "cache": tv.cache, "seconds": took["seconds"], "n": tv.n, "dim": tv.dim,
          "images_per_s": tv.n / took["seconds"], "ran": ran, "peak_rss_mb": peak_rss_mb()})


def benchmark_dataset(name: str, *, limit: int = 0):
    """The dataset `name`, or a seeded subset of `limit` images of it (0: all)."""
    from core.datasets import load_dataset

    dataset = load_dataset(name=name)
    return dataset.limited(limit=limit, seed=1) if limit else dataset


if __name__ == "__main__":
    main()
