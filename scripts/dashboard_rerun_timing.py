"""Measure how long a dashboard rerun takes when the user switches views (server time).

A thin command-line wrapper: the measurement lives in `benchmarks.dashboard_rerun_worker`
(also used by `python -m benchmarks --only dashboard`). Several limits run in one process.

    .venv/bin/python scripts/dashboard_rerun_timing.py --dataset fashion_mnist \\
        --backbone efficientnet_lite0 --size 96 --limits 10000,all

`--backbone tiny_test_cnn` registers the test backbone (seconds, no weights): the rerun
cost depends on the number of points, not on the backbone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workers.dashboard_rerun_worker import format_result, measure, use_backbone  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--limits", default="10000,all", help="comma-separated; 'all' = full")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", help="cache folder (default: $TRANSFER_LENS_CACHE or cache/)")
    args = parser.parse_args()
    if args.cache:
        os.environ["TRANSFER_LENS_CACHE"] = args.cache
    use_backbone(args.backbone)
    for limit in args.limits.split(","):
        result = measure(dataset=args.dataset, backbone=args.backbone, size=args.size,
                         limit=limit, repeats=args.repeats)
        print(format_result(result, repeats=args.repeats))


if __name__ == "__main__":
    main()
