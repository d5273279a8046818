"""`python -m core`: list, extract and analyse transfer values from the command line.

Progress goes to stderr; with --json the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

from core.errors import TransferLensError

Handler = Callable[[argparse.Namespace], dict[str, Any]]


def add_dataset_args(parser: argparse.ArgumentParser) -> None:
    from core.backbones.registry import DEFAULT_BACKBONE

    parser.add_argument("--dataset", default="digits",
                        help="built-in name (digits, fashion_mnist, cifar10, mnist), a folder "
                             "with one sub-folder per class, or a .zip of one")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE,
                        help="backbone name (see `backbones`) or path/to/model.keras:layer")
    parser.add_argument("--image-size", type=int, default=None,
                        help="input size in pixels (default: the backbone's native size)")
    parser.add_argument("--limit", type=int, default=None,
                        help="embed a random subset of at most N images (seeded)")
    parser.add_argument("--cache-dir", default=None,
                        help="cache folder (default: $TRANSFER_LENS_CACHE or <repo>/cache)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")


def cmd_datasets(args: argparse.Namespace) -> dict[str, Any]:
    from core.datasets.registry import DATASETS, default_dataset_name

    rows = [{"name": d.name, "status": d.status(), "offline": d.offline,
             "description": d.description} for d in DATASETS.values()]
    if not args.json:
        for row in rows:
            print(f"{row['name']:<15} {row['status']:<26} {row['description']}")
        print("any folder     available                  a folder with one sub-folder of images "
              "per class (or a .zip of one)")
        print(f"default: {default_dataset_name()}")
    return {"datasets": rows, "default": default_dataset_name()}


def cmd_backbones(args: argparse.Namespace) -> dict[str, Any]:
    from core.backbones.registry import list_backbones

    rows = []
    for spec in list_backbones():
        reason = spec.unavailable_reason()
        rows.append({"name": spec.name, "available": reason is None, "offline": spec.offline,
                     "native_size": spec.native_size, "dim": spec.feature_dim,
                     "description": spec.description, "reason": reason})
    if not args.json:
        for row in rows:
            state = "available" if row["available"] else "unavailable"
            mode = "offline" if row["offline"] else "online"
            print(f"{row['name']:<19} {state:<12} {mode:<8} {row['native_size']:>4}px "
                  f"{row['dim']:>5}-d  {row['description']}")
            if row["reason"]:
                print(f"{'':<19} └ {row['reason']}")
    return {"backbones": rows}


def load_for_cli(args: argparse.Namespace, split: str = "all"):
    from core.datasets import load_dataset

    dataset = load_dataset(name=args.dataset)
    for skipped in dataset.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    return dataset.limited(limit=args.limit, split=split)


def transfer_values_for_cli(args: argparse.Namespace, split: str = "all"):
    from core.progress import stderr_progress_bar
    from core.transfer_values import compute_transfer_values

    dataset = load_for_cli(args, split=split)
    return compute_transfer_values(dataset=dataset, backbone=args.backbone,
                                   image_size=args.image_size, cache_dir=args.cache_dir,
                                   dtype=getattr(args, "dtype", "float32"),
                                   progress=stderr_progress_bar())


def cmd_extract(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    tv = transfer_values_for_cli(args, split=args.split)
    result = {"n": tv.n, "dim": tv.dim, "cache": tv.cache, "seconds": round(tv.seconds, 4),
              "total_seconds": round(time.perf_counter() - started, 3), "path": str(tv.path),
              "key": tv.key, "backbone": args.backbone,
              "image_size": tv.manifest["key_fields"]["image_size"], "dtype": str(tv.values.dtype)}
    if not args.json:
        print(f"{tv.n} × {tv.dim} transfer values ({tv.cache}, {tv.seconds:.2f}s) at {tv.path}")
    return result


def cmd_cache(args: argparse.Namespace) -> dict[str, Any]:
    from core.cache import cache_summary, clear_cache

    if args.action == "clear":
        freed = clear_cache(args.cache_dir)
        if not args.json:
            print(f"cleared {freed / 1e6:.1f} MB")
        return {"freed_bytes": freed}
    summary = cache_summary(args.cache_dir)
    if not args.json:
        print(f"{summary['path']}: {summary['bytes'] / 1e6:.1f} MB")
        for kind, info in summary["kinds"].items():
            print(f"  {kind:<20} {info['entries']:>4} entries {info['bytes'] / 1e6:>9.1f} MB")
    return summary


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Handler] = {}

    p = sub.add_parser("datasets", help="list datasets and whether each is available here")
    p.add_argument("--json", action="store_true")
    handlers["datasets"] = cmd_datasets

    p = sub.add_parser("backbones", help="list backbones and whether each is available here")
    p.add_argument("--json", action="store_true")
    handlers["backbones"] = cmd_backbones

    p = sub.add_parser("extract", help="compute (or load cached) transfer values")
    add_dataset_args(p)
    p.add_argument("--split", choices=["train", "val", "test", "all"], default="all")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    handlers["extract"] = cmd_extract

    p = sub.add_parser("cache", help="show or clear the cache")
    p.add_argument("action", choices=["info", "clear"], nargs="?", default="info")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json", action="store_true")
    handlers["cache"] = cmd_cache

    try:
        from core.cli_analysis import register_analysis_commands
    except ImportError:
        register_analysis_commands = None
    if register_analysis_commands is not None:
        register_analysis_commands(sub, handlers)
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    try:
        result = handlers[args.command](args)
    except TransferLensError as error:
        print(f"error: {error}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": str(error), "type": type(error).__name__}))
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished chunks are kept; run the same command again to resume.",
              file=sys.stderr)
        return 130
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
    return 0
