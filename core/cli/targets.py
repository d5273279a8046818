"""`target-outliers`: samples whose numeric target both an out-of-sample regression head and
their neighbours contradict (the regression analogue of `label-issues`)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from core.cli.args import (Handler, add_dataset_args, features_for_cli, load_for_cli,
                           progress_bar, user_errors)


def cmd_target_outliers(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.target_outliers import target_outliers

    started = time.perf_counter()
    dataset = load_for_cli(args)
    target = dataset.target(args.target)
    tv = features_for_cli(args, dataset=dataset)
    ranked = target_outliers(tv=tv, target=target, head=args.head, folds=args.cross_fit,
                             seed=args.seed, n_neighbors=args.neighbors,
                             cache_dir=args.cache_dir, progress=progress_bar())
    rows = ranked.head(args.top)
    result = {"n": tv.n, "target": target.name, "head": args.head,
              "cross_fit_folds": args.cross_fit, "neighbors": args.neighbors,
              "flagged": int(len(ranked)), "top": json.loads(rows.to_json(orient="records")),
              "seconds": round(time.perf_counter() - started, 3)}
    if not args.json:
        print(f"{len(ranked)} suspected wrong '{target.name}' values among {tv.n} samples; most "
              f"suspicious first:")
        for row in rows.itertuples():
            print(f"  {row.sample_id:<24} given {row.given:<10.4g} model {row.predicted:<10.4g}"
                  f" neighbours {row.neighbours:<10.4g} score {row.score:.2f}")
    return result


def register(subparsers, handlers: dict[str, Handler]) -> None:
    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS
    from core.analysis.target_outliers import DEFAULT_NEIGHBORS
    from core.heads import head_names

    p = subparsers.add_parser("target-outliers",
                              help="rank suspected wrong numeric targets (--target NAME)")
    add_dataset_args(p)
    p.add_argument("--head", choices=head_names(task="regression"), default="ridge")
    p.add_argument("--cross-fit", type=int, default=DEFAULT_CROSS_FIT_FOLDS, metavar="K")
    p.add_argument("--neighbors", type=int, default=DEFAULT_NEIGHBORS)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    handlers["target-outliers"] = user_errors(cmd_target_outliers)
