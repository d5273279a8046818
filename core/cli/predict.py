"""`predict`: batch prediction of unlabelled images with an exported model, to Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli.args import Handler, add_runtime_args, progress_bar, runtime_args, user_errors


def cmd_predict(args: argparse.Namespace) -> dict[str, Any]:
    from core.serving.batch_predict import predict_to_parquet

    result = predict_to_parquet(model_path=args.model, images=args.images, out=args.out,
                                engine=args.engine, address=args.address, workers=args.workers,
                                top_k=args.top_k, batch_size=args.batch_size,
                                class_names=_class_names(args.classes), progress=progress_bar(),
                                **runtime_args(args))
    if not args.json:
        print(f"{result['n']} predictions ({result['engine']}, {result['runtime']} "
              f"{result['precision']}, {result['seconds']:.1f}s) → {result['out']}")
    return result


def _class_names(value: str | None) -> list[str] | None:
    """A file with one class name a line, or a comma-separated list."""
    if value is None:
        return None
    if Path(value).is_file():
        return [line.strip() for line in Path(value).read_text().splitlines() if line.strip()]
    return [name.strip() for name in value.split(",")]


def register(sub, handlers: dict[str, Handler]) -> None:
    from core.serving.batch_predict import DEFAULT_BATCH, DEFAULT_TOP_K

    p = sub.add_parser("predict", help="predict unlabelled images with an exported .keras model")
    p.add_argument("--model", required=True, metavar="MODEL.keras",
                   help="an end-to-end model from `train --export` or fine-tuning")
    p.add_argument("--images", required=True, metavar="DIR_OR_URI",
                   help="a folder (recursive), an image, a .txt list of paths/URIs, or a URI "
                        "(s3://, gs://, file://)")
    p.add_argument("--out", required=True, metavar="PREDS.parquet")
    p.add_argument("--classes", default=None,
                   help="class names in training order: a file (one a line) or a,b,c "
                        "(default: the output index)")
    p.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    add_runtime_args(p)
    p.add_argument("--address", default=None, help="ray: the cluster's address (host:6379)")
    p.add_argument("--workers", type=int, default=None, help="ray: actors, one CPU each")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    handlers["predict"] = user_errors(cmd_predict)
