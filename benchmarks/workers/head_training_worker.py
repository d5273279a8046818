"""Train one classification head on cached transfer values (or raw pixels), in its own
process, with the head cache off so the training is really run and timed."""

from __future__ import annotations

import argparse

from benchmarks.common import emit, peak_rss_mb, timer
from benchmarks.workers.transfer_values_worker import benchmark_dataset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--backbone", required=True, help="a backbone name or 'pixels'")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--head", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0,
                        help="a seeded subset of this many images (0: all)")
    args = parser.parse_args()

    from core.features.feature_sets import feature_values
    from core.heads import train_head

    tv = feature_values(dataset=benchmark_dataset(args.dataset, limit=args.limit),
                        backbone=args.backbone, image_size=args.size or None)
    with timer() as took:
        trained = train_head(tv=tv, head=args.head, seed=args.seed, use_cache=False)
    metrics = trained.metrics
    emit({"dataset": args.dataset, "backbone": args.backbone, "size": args.size,
          "head": args.head, "values_cache": tv.cache, "dim": tv.dim,
          "seconds": took["seconds"], "train_seconds": metrics["train_seconds"],
          **{name: metrics[name] for name in ("test_accuracy", "val_accuracy", "train_accuracy",
                                              "chance_accuracy", "n_train", "n_val", "n_test")},
          "details": metrics.get("details", {}), "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
