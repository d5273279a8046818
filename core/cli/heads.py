"""`heads`: the heads trained on a dataset's transfer values (the best marked), deleting one,
comparing two."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.args import Handler, add_dataset_args, features_for_cli, user_errors


def cmd_heads(args: argparse.Namespace) -> dict[str, Any]:
    from core.heads import compare_cached_heads, delete_head

    if args.delete:
        delete_head(key=args.delete, cache_dir=args.cache_dir)
        if not args.json:
            print(f"deleted head {args.delete}")
        return {"deleted": args.delete}
    if args.compare:
        result = compare_cached_heads(key_a=args.compare[0], key_b=args.compare[1],
                                      cache_dir=args.cache_dir)
        if not args.json:
            _print_comparison(result)
        return result
    return _list(args)


def _list(args: argparse.Namespace) -> dict[str, Any]:
    from core.heads import best_head, list_heads

    tv_key = None if args.all else (args.tv_key or features_for_cli(args).key)
    rows = list_heads(tv_key=tv_key, cache_dir=args.cache_dir, task=None)
    best = set()
    for row in rows:  # the best classification head, and the best per regression target
        if row.degenerate is None:
            target = _TargetKey(row.target_key) if row.task == "regression" else None
            chosen = best_head(tv_key=row.tv_key, cache_dir=args.cache_dir, target=target)
            best.add(chosen.key if chosen else None)
    heads = [{**row.fields(), "best": row.key in best} for row in rows]
    if not args.json:
        fmt = lambda v: "   —  " if v is None else f"{v:6.2%}"  # noqa: E731
        r2 = lambda v: "  —  " if v is None else f"{v:.4f}"  # noqa: E731
        for row in heads:
            mark = "*" if row["best"] else " "
            note = f"  degenerate: {row['degenerate']}" if row["degenerate"] else ""
            scores = (f"R² val {r2(row['val_r2'])}  test {r2(row['test_r2'])} ({row['target']})"
                      if row["task"] == "regression" else
                      f"val {fmt(row['val_accuracy'])}  test {fmt(row['test_accuracy'])}")
            print(f"{mark} {row['key']}  {row['head']:<9} {scores}  {row['created']}  "
                  f"{row['params']}{note}")
        if not heads:
            print("no heads trained on these transfer values yet (python -m core train)")
    return {"tv_key": tv_key, "heads": heads}


class _TargetKey:
    """What `best_head(target=...)` reads of a target: its key (a listing has no values)."""

    def __init__(self, key: str | None) -> None:
        self.key = key


def _print_comparison(result: dict[str, Any]) -> None:
    a, b = result["a"], result["b"]
    for name in ("val_accuracy", "test_accuracy"):
        print(f"{name:<14} {a['head']} {a[name]}  vs  {b['head']} {b[name]}")
    for row in result["per_class"]:
        print(f"  {row['class']:<16} F1 {row['f1_a']:.3f} → {row['f1_b']:.3f}")
    print(" ".join(f"{k}={v}" for k, v in result["test"].items()))


def register(sub, handlers: dict[str, Handler]) -> None:
    p = sub.add_parser("heads", help="list the heads trained on the transfer values (* = best), "
                                     "delete or compare them")
    add_dataset_args(p)
    p.add_argument("--tv-key", default=None,
                   help="list the heads on these transfer values (e.g. a fine-tuning run's "
                        "after_key) instead of --dataset/--backbone's")
    p.add_argument("--all", action="store_true", help="list every head in the cache")
    p.add_argument("--delete", default=None, metavar="KEY", help="delete this head")
    p.add_argument("--compare", nargs=2, default=None, metavar=("KEY_A", "KEY_B"),
                   help="accuracies, per-class F1 and the test confusion change (B − A)")
    handlers["heads"] = user_errors(cmd_heads)
