"""Train one regression head on fashion_mnist_scale's cached transfer values (or raw pixels),
in its own process with the head cache off, so the training is really run and timed."""

from __future__ import annotations

import argparse

from benchmarks.common import emit, peak_rss_mb, timer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist_scale")
    parser.add_argument("--target", default="scale")
    parser.add_argument("--backbone", required=True, help="a backbone name or 'pixels'")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--head", required=True)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="a seeded subset (0: all)")
    args = parser.parse_args()

    from core.cli.args import param_dict
    from core.datasets import load_dataset
    from core.features.feature_sets import feature_values
    from core.heads import train_head

    dataset = load_dataset(name=args.dataset).limited(limit=args.limit or None)
    target = dataset.target(args.target)
    with timer() as extraction:
        tv = feature_values(dataset=dataset, backbone=args.backbone,
                            image_size=args.size or None)
    with timer() as took:
        trained = train_head(tv=tv, head=args.head, params=param_dict(args.param),
                             seed=args.seed, target=target, use_cache=False)
    m = trained.metrics
    details = {k: v for k, v in m.get("details", {}).items() if k != "tried"}
    emit({"dataset": args.dataset, "backbone": args.backbone, "size": args.size,
          "head": args.head, "params": trained.params, "values_cache": tv.cache, "dim": tv.dim,
          "values_seconds": extraction["seconds"], "n": tv.n,
          "seconds": took["seconds"], "train_seconds": m["train_seconds"],
          "epochs_run": len(trained.history),
          **{name: m[name] for name in ("r2", "mae", "rmse", "baseline_mae", "val_r2",
                                        "train_r2", "n_train", "n_val", "n_test")},
          "details": details, "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
