"""`extract`: compute (or load cached) transfer values."""

from __future__ import annotations

import argparse
import time
from typing import Any

from core.base.splits import SPLITS
from core.cli.args import Handler, add_dataset_args, features_for_cli


def cmd_extract(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    tv = features_for_cli(args, split=args.split)
    result = {"n": tv.n, "dim": tv.dim, "cache": tv.cache, "seconds": round(tv.seconds, 4),
              "total_seconds": round(time.perf_counter() - started, 3), "path": str(tv.path),
              "key": tv.key, "backbone": args.backbone,
              "image_size": tv.image_size, "dtype": str(tv.values.dtype)}
    if not args.json:
        print(f"{tv.n} × {tv.dim} transfer values ({tv.cache}, {tv.seconds:.2f}s) at {tv.path}")
    return result


def register(sub, handlers: dict[str, Handler]) -> None:
    p = sub.add_parser("extract", help="compute (or load cached) transfer values")
    add_dataset_args(p)
    p.add_argument("--split", choices=[*SPLITS, "all"], default="all")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    handlers["extract"] = cmd_extract
