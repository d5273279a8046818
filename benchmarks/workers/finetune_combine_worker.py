"""Worker: does averaging the fine-tuned model's probabilities with an MLP head on the frozen
transfer values help? Loads a finished fine-tuning run from the cache (the same command and
settings, so nothing is retrained), trains core's MLP head on the original backbone's values
at the same input size, chooses the MLP's weight w on the validation split and reports test
accuracy of the fine-tuned model alone, the MLP alone and (1 − w)·fine-tuned + w·MLP.

    python -m benchmarks.workers.finetune_combine_worker --dataset fashion_mnist --param epochs=10
    python -m benchmarks.workers.finetune_combine_worker --dataset digits --run-dir RUN_DIR

`--run-dir` takes the settings, backbone and cache of a finished run folder (benchmarks
section 11 passes the run its fine-tuning command has just made).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import emit

WEIGHTS = np.round(np.arange(0.0, 0.55, 0.05), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE, as the CLI")
    parser.add_argument("--run-dir", type=Path,
                        help="a finished run folder: its settings replace --backbone, --seed "
                             "and --param, its cache is used")
    args = parser.parse_args()

    from core.cli.args import parse_value
    from core.base.splits import split_mask
    from core.datasets import load_dataset
    from core.finetune.evaluate import config_from_params, fine_tune_and_evaluate
    from core.heads import train_head

    cache_dir = None  # $TRANSFER_LENS_CACHE or cache/
    if args.run_dir:
        from core.finetune.config import FineTuneConfig

        finished = json.loads((args.run_dir / "result.json").read_text())
        config, backbone = FineTuneConfig(**finished["config"]), finished["backbone"]
        cache_dir = args.run_dir.parent.parent  # <cache>/finetune/<key>
    else:
        params = {k: parse_value(v) for k, v in (p.split("=", 1) for p in args.param)}
        config = config_from_params(params, seed=args.seed, backbone=args.backbone)
        backbone = args.backbone
    dataset = load_dataset(name=args.dataset)
    if args.run_dir:  # checked first: a run of other settings would be trained from scratch
        from core.finetune.run import run_dir_for

        expected = run_dir_for(dataset=dataset, backbone=backbone, config=config,
                               cache_dir=cache_dir)
        if expected.resolve() != args.run_dir.resolve():
            raise SystemExit(f"{args.run_dir} is not the run of its settings on {args.dataset}")
    done = fine_tune_and_evaluate(dataset=dataset, backbone=backbone, config=config,
                                  cache_dir=cache_dir)
    mlp = train_head(tv=done.before, head="mlp", seed=config.seed, cache_dir=cache_dir)
    labels = np.asarray(done.after.labels)
    val, test = (split_mask(done.after.splits, name) for name in ("val", "test"))
    tuned = np.asarray(done.head.probabilities, np.float64)
    frozen = np.asarray(mlp.probabilities, np.float64)

    def accuracy(w: float, mask: np.ndarray) -> float:
        mixed = (1 - w) * tuned[mask] + w * frozen[mask]
        return float((mixed.argmax(axis=1) == labels[mask]).mean())

    by_weight = {float(w): {"val": accuracy(w, val), "test": accuracy(w, test)}
                 for w in WEIGHTS}
    # the best validation accuracy; among ties the smallest weight (the simpler model)
    chosen = max(WEIGHTS, key=lambda w: (by_weight[float(w)]["val"], -w))
    emit({"fine_tuned_test": by_weight[0.0]["test"], "fine_tuned_val": by_weight[0.0]["val"],
          "mlp_test": accuracy(1.0, test), "mlp_val": accuracy(1.0, val),
          "chosen_weight": float(chosen), "combined_test": by_weight[float(chosen)]["test"],
          "combined_val": by_weight[float(chosen)]["val"], "by_weight": by_weight,
          "run_dir": str(done.result.run_dir), "weights": done.result.weights})


if __name__ == "__main__":
    main()
