"""`quality`: label issues, outliers, duplicates, split leakage and class balance at once.

With --json the last stdout line holds counts per issue type, the leakage figures, the
class balance and the top rows of each section; --csv writes every flagged item.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.cli.args import Handler, add_dataset_args, load_for_cli, progress_bar, user_errors


def _records(frame, top: int) -> list[dict[str, Any]]:
    return json.loads(frame.head(top).to_json(orient="records"))


def cmd_quality(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.quality import data_quality
    from core.features.feature_sets import feature_values

    dataset = load_for_cli(args)
    tv = feature_values(dataset=dataset, backbone=args.backbone, image_size=args.image_size,
                        cache_dir=args.cache_dir, progress=progress_bar())
    report = data_quality(tv=tv, head=args.head, cross_fit_folds=args.cross_fit,
                          duplicate_threshold=args.duplicate_threshold, dataset=dataset,
                          pixel_threshold=args.pixel_threshold,
                          outlier_score=args.outlier_score, seed=args.seed,
                          cache_dir=args.cache_dir, progress=progress_bar())
    counts = report.counts()
    result = {"n": tv.n, "image_size": tv.image_size, "settings": report.settings,
              "counts": counts, "leakage": report.leakage.as_dict(),
              "balance": _records(report.balance, len(tv.class_names)),
              "top": {"label": _records(report.label_issues, args.top),
                      "outlier": _records(report.outliers, args.top),
                      "duplicate": _records(report.duplicates, args.top)}}
    if args.csv:
        from core.serving.export import export_rows_csv

        rows = report.flagged_rows()
        path = export_rows_csv(tv=tv, rows=rows["index"].to_numpy(), path=args.csv,
                               extra_columns={c: rows[c].to_numpy() for c in
                                              ("issue", "score", "suggested_class")})
        result["csv"] = str(path)
    if not args.json:
        leak = report.leakage
        print(f"{tv.n} samples: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        if leak.test_accuracy is not None:
            print(f"test accuracy {leak.test_accuracy:.4f}, without the {len(leak.leaked_test)} "
                  f"test images duplicated in train {leak.test_accuracy_without_leaked:.4f}")
        for row in report.label_issues.head(args.top).itertuples():
            print(f"  label    {row.sample_id:<16} given {row.given_class!s:<12} suggested "
                  f"{row.suggested_class!s:<12} score {row.score:.3f} ({row.witness})")
        for row in report.outliers.head(args.top).itertuples():
            print(f"  outlier  {row.sample_id:<16} {row.given_class!s:<12} score {row.score:.3f}")
    return result


def register(subparsers, handlers: dict[str, Handler]) -> None:
    from core.analysis.duplicates import DEFAULT_PIXEL_THRESHOLD, DEFAULT_THRESHOLD
    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS
    from core.analysis.quality import DEFAULT_OUTLIER_SCORE
    from core.heads import DEFAULT_HEAD, head_names

    p = subparsers.add_parser("quality", help="label issues, outliers, duplicates, leakage, "
                                              "class balance")
    add_dataset_args(p)
    p.add_argument("--head", choices=head_names(fine_tunes_backbone=False), default=DEFAULT_HEAD)
    p.add_argument("--cross-fit", type=int, default=DEFAULT_CROSS_FIT_FOLDS, metavar="K")
    p.add_argument("--duplicate-threshold", type=float, default=DEFAULT_THRESHOLD,
                   help="near-duplicates by transfer values: × the median nearest-neighbour "
                        "distance (default %(default)s)")
    p.add_argument("--pixel-threshold", type=float, default=DEFAULT_PIXEL_THRESHOLD,
                   help="near-duplicates by pixels: RMS difference of the blurred, best-shifted "
                        "grey images as a fraction of 0-255 (default %(default)s)")
    p.add_argument("--outlier-score", type=float, default=DEFAULT_OUTLIER_SCORE,
                   help="flag outliers scoring this many times the median (default %(default)s)")
    p.add_argument("--top", type=int, default=10, help="rows per section shown")
    p.add_argument("--csv", default=None, help="write every flagged item to this CSV")
    p.add_argument("--seed", type=int, default=0)
    handlers["quality"] = user_errors(cmd_quality)
