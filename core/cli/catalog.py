"""Listing commands: datasets, backbones, and the cache (info or clear)."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.args import Handler


def cmd_datasets(args: argparse.Namespace) -> dict[str, Any]:
    from core.datasets.registry import DATASETS, default_dataset_name

    rows = [{"name": d.name, "status": d.status(), "offline": d.offline,
             "description": d.description} for d in DATASETS.values()]
    if not args.json:
        for row in rows:
            print(f"{row['name']:<15} {row['status']:<26} {row['description']}")
        print("any folder     available                  a folder with one sub-folder of images "
              "per class (or a .zip of one); numeric targets: a targets.csv at its root")
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


def cmd_cache(args: argparse.Namespace) -> dict[str, Any]:
    from core.base.cache import cache_summary, clear_cache

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


def register(sub, handlers: dict[str, Handler]) -> None:
    p = sub.add_parser("datasets", help="list datasets and whether each is available here")
    p.add_argument("--json", action="store_true")
    handlers["datasets"] = cmd_datasets

    p = sub.add_parser("backbones", help="list backbones and whether each is available here")
    p.add_argument("--json", action="store_true")
    handlers["backbones"] = cmd_backbones

    p = sub.add_parser("cache", help="show or clear the cache")
    p.add_argument("action", choices=["info", "clear"], nargs="?", default="info")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json", action="store_true")
    handlers["cache"] = cmd_cache
