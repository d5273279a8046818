"""`publish`: a demo bundle (values, projections, kNN graph, head, label issues, thumbnails)
in open files, and optionally one self-contained HTML page of it (--html)."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from core.cli.args import Handler, add_dataset_args, progress_bar, user_errors


def command_line(args: argparse.Namespace) -> str:
    """The command that makes this bundle, for its manifest (the options that matter)."""
    parts = ["python", "-m", "core", "publish", "--dataset", args.dataset,
             "--backbone", args.backbone]
    for option in ("image_size", "limit", "thumb_size", "knn_neighbors"):
        value = getattr(args, option)
        if value is not None:
            parts += [f"--{option.replace('_', '-')}", str(value)]
    return shlex.join(parts + ["--out", args.out])


def cmd_publish(args: argparse.Namespace) -> dict[str, Any]:
    from core.publish import writer

    options = {name: value for name in ("thumb_size", "knn_neighbors")
               if (value := getattr(args, name)) is not None}
    result = writer.publish_bundle(dataset=args.dataset, backbone=args.backbone, out=args.out,
                                   image_size=args.image_size, limit=args.limit,
                                   cache_dir=args.cache_dir, command=command_line(args),
                                   progress=progress_bar(), **options)
    if args.html:
        from core.publish import open_bundle
        from core.publish.html import write_html

        page = write_html(bundle=open_bundle(result["path"]), path=args.html)
        result["html"], result["html_bytes"] = str(page), page.stat().st_size
    if not args.json:
        print(f"{result['status']} {result['path']}: {result['n']} × {result['dim']} "
              f"{result['value_dtype']} (float32 test accuracy "
              f"{result['float32_test_accuracy']:.4f}, float16 "
              f"{result['float16_test_accuracy']:.4f}), {result['bytes'] / 1e6:.1f} MB in "
              f"{len(result['files'])} files, {result['seconds']:.1f}s"
              + (f"; {result['html']} ({result['html_bytes'] / 1e6:.1f} MB)"
                 if args.html else ""))
    return result


def register(subparsers, handlers: dict[str, Handler]) -> None:
    from core.publish.writer import DEFAULT_KNN_NEIGHBORS, DEFAULT_THUMB_SIZE

    p = subparsers.add_parser("publish", help="write a demo bundle (and an HTML share)")
    add_dataset_args(p)
    p.add_argument("--out", required=True, help="bundle folder, e.g. demo/fashion")
    p.add_argument("--html", default=None, help="also write one self-contained HTML page")
    p.add_argument("--thumb-size", type=int, default=None,
                   help=f"thumbnail size in px (default {DEFAULT_THUMB_SIZE})")
    p.add_argument("--knn-neighbors", type=int, default=None,
                   help=f"neighbours stored per sample (default {DEFAULT_KNN_NEIGHBORS})")
    handlers["publish"] = user_errors(cmd_publish)
