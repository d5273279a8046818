"""`slices` (where the head fails, as groups) and `cam` (class activation maps of chosen
images, as PNG overlays plus a CSV of their ids)."""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from core.base.params import whole_number
from core.cli.args import (Handler, add_dataset_args, features_for_cli, load_for_cli,
                           param_dict, progress_bar, user_errors)

MIN_TILE = 96  # overlays are enlarged to at least this many pixels per image


def _trained(args: argparse.Namespace, tv):
    from core.heads import train_head

    return train_head(tv=tv, head=args.head, seed=args.seed, cross_fit_folds=args.cross_fit,
                      cache_dir=args.cache_dir, progress=progress_bar())


def cmd_slices(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.slices import (find_error_slices, image_statistics,
                                      out_of_sample_rows)

    dataset = load_for_cli(args)
    tv = features_for_cli(args, dataset=dataset)
    trained = _trained(args, tv)
    stats = image_statistics([dataset.images.get(i) for i in range(len(dataset))])
    result = find_error_slices(
        tv=tv, probabilities=trained.probabilities,
        evaluated=out_of_sample_rows(splits=tv.splits, cross_fit_folds=trained.cross_fit_folds),
        image_stats=stats, config=param_dict(args.param), cache_dir=args.cache_dir)
    out = {"n": tv.n, "head": trained.head, "cross_fit_folds": trained.cross_fit_folds,
           "cache": result.cache, **result.as_dict(with_members=not args.no_members)}
    ids = np.asarray(tv.sample_ids)
    for item, record in zip(result.slices, out["slices"]):
        record["gallery_ids"] = [str(ids[i]) for i in item.gallery]
    if not args.json:
        print(f"{len(result.evaluated)} out-of-sample rows, {result.overall_error_rate:.1%} "
              f"wrong; {len(result)} slice(s) of {result.candidates} candidate groups")
        for item in result.slices:
            print(f"  #{item.rank} {item.size:>5} rows  {item.error_rate:6.1%} wrong  "
                  f"score {item.score:8.1f}  {item.description}")
    return out


def _rows(dataset, spec: list[str]) -> np.ndarray:
    """Sample indices from --images: numbers are row indices, anything else a sample id."""
    tokens = [t for part in spec for t in re.split(r"[,\s]+", part) if t]
    positions = {str(sid): i for i, sid in enumerate(dataset.sample_ids)}
    rows = []
    for token in tokens:
        if (row := whole_number(token)) is not None:
            rows.append(row)
        elif token in positions:
            rows.append(positions[token])
        else:
            raise ValueError(f"--images: {token!r} is neither a row index nor a sample id of "
                             f"{dataset.name}")
    return np.asarray(rows, dtype=np.int64)


def cmd_cam(args: argparse.Namespace) -> dict[str, Any]:
    from PIL import Image

    from core.base.atomic import atomic_write_bytes
    from core.serving.cam import class_activation_maps, side_by_side

    dataset = load_for_cli(args)
    tv = features_for_cli(args, dataset=dataset)
    trained = _trained(args, tv)
    rows = _rows(dataset, args.images)
    maps = class_activation_maps(dataset=dataset, tv=tv, trained=trained, indices=rows,
                                 backbone=args.backbone, cache_dir=args.cache_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names, ids = list(tv.class_names), np.asarray(tv.sample_ids)
    records = []
    for position, row in enumerate(rows):
        image = dataset.images.get(int(row))
        scale = max(1, -(-MIN_TILE // max(image.shape[:2])))
        strip = side_by_side(image, maps.predicted_map(position), maps.given_map(position),
                             scale=scale)
        file = out / f"{position:04d}_{re.sub(r'[^A-Za-z0-9._-]', '_', str(ids[row]))}.png"
        buffer = io.BytesIO()
        Image.fromarray(strip).save(buffer, format="PNG")
        atomic_write_bytes(file, buffer.getvalue())
        records.append({"index": int(row), "sample_id": str(ids[row]),
                        "given_class": names[int(maps.given[position])],
                        "predicted_class": names[int(maps.predicted[position])],
                        "method": maps.method, "file": file.name})
    import pandas as pd

    csv = out / "maps.csv"
    atomic_write_bytes(csv, pd.DataFrame(records).to_csv(index=False).encode())
    if not args.json:
        print(f"{len(records)} map strip(s) (image | predicted | given, {maps.method}) in {out}")
    return {"out": str(out), "csv": str(csv), "method": maps.method, "cache": maps.cache,
            "images": records}


def register(subparsers, handlers: dict[str, Handler]) -> None:
    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS
    from core.heads import DEFAULT_HEAD, head_names

    def head_args(p):
        add_dataset_args(p)
        p.add_argument("--head", choices=head_names(fine_tunes_backbone=False),
                       default=DEFAULT_HEAD)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--cross-fit", type=int, default=DEFAULT_CROSS_FIT_FOLDS, metavar="K",
                       help="cross-fitted folds (0: slices look at validation + test only)")

    p = subparsers.add_parser("slices", help="error slices: groups where the head fails")
    head_args(p)
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a SliceConfig setting (pca_dims, n_neighbors, label_weight, "
                        "prediction_weight, error_weight, min_size, max_share, alpha, top, "
                        "gallery)")
    p.add_argument("--no-members", action="store_true", help="leave member lists out of --json")
    handlers["slices"] = user_errors(cmd_slices)

    p = subparsers.add_parser("cam", help="class activation maps of chosen images as PNGs")
    head_args(p)
    p.add_argument("--images", required=True, nargs="+", metavar="INDEX_OR_ID",
                   help="row indices or sample ids (space- or comma-separated)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for the PNG strips (image | predicted | given) and maps.csv")
    handlers["cam"] = user_errors(cmd_cam)
