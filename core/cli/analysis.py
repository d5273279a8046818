"""Analysis commands: project, label-issues, neighbors, separability.

Each uses the same --dataset/--backbone/--image-size/--limit/--cache-dir arguments as
`extract` (`--backbone pixels` uses raw pixels, the baseline), computes or loads the
transfer values, and with --json prints one JSON object as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from core.cli.args import (Handler, add_dataset_args, features_for_cli, param_dict,
                           progress_bar, user_errors)


def cmd_project(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.projections import compute_projection

    started = time.perf_counter()
    tv = features_for_cli(args)
    params = param_dict(args.param)
    for name in ("perplexity", "n_iter", "n_neighbors", "min_dist", "metric", "pca_dims"):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    projection = compute_projection(tv=tv, method=args.method, dims=args.dims, params=params,
                                    seed=args.seed, cache_dir=args.cache_dir, progress=progress_bar())
    result = {"n": tv.n, "dim": tv.dim, "image_size": tv.image_size, "method": projection.method, "dims": projection.dims,
              "params": projection.params, "seed": projection.seed, "cache": projection.cache,
              "seconds": round(projection.seconds, 4), "key": projection.key,
              "total_seconds": round(time.perf_counter() - started, 3)}
    if projection.explained_variance is not None:
        result["explained_variance"] = [round(float(v), 5) for v in projection.explained_variance]
    if args.out:
        from core.serving.export import export_projection_csv

        result["csv"] = str(export_projection_csv(projection=projection, tv=tv, path=args.out))
    if not args.json:
        print(f"{args.method} {args.dims}-D of {tv.n} × {tv.dim} ({projection.cache}, "
              f"{projection.seconds:.2f}s)" + (f" → {args.out}" if args.out else ""))
    return result


def cmd_label_issues(args: argparse.Namespace) -> dict[str, Any]:
    from core.heads import train_head
    from core.analysis.label_issues import find_label_issues

    started = time.perf_counter()
    tv = features_for_cli(args)
    trained = train_head(tv=tv, head=args.head, seed=args.seed, cross_fit_folds=args.cross_fit,
                         cache_dir=args.cache_dir, progress=progress_bar())
    issues = find_label_issues(tv=tv, probabilities=trained.probabilities,
                               n_neighbors=args.neighbors, cache_dir=args.cache_dir)
    flagged = len(issues)
    rows = issues.head(args.top)
    result = {"n": tv.n, "image_size": tv.image_size, "head": trained.head,
              "cross_fit_folds": args.cross_fit, "neighbors": args.neighbors,
              "flagged": flagged, "top": json.loads(rows.to_json(orient="records")),
              "seconds": round(time.perf_counter() - started, 3)}
    if not args.json:
        print(f"{flagged} suspected label errors among {tv.n} samples; most suspicious first:")
        for row in rows.itertuples():
            print(f"  {row.sample_id:<16} given {row.given_class!s:<12} suggested "
                  f"{row.suggested_class!s:<12} score {row.score:.3f} "
                  f"neighbours agree {row.knn_agreement:.0%}")
    return result


def cmd_neighbors(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.neighbors import nearest_neighbors

    tv = features_for_cli(args)
    index = args.index
    if args.sample_id is not None:
        matches = [i for i, s in enumerate(tv.sample_ids) if s == args.sample_id]
        if not matches:
            raise SystemExit(f"no sample with id {args.sample_id!r}")
        index = matches[0]
    pairs = nearest_neighbors(tv=tv, index=index, k=args.k, cache_dir=args.cache_dir)
    rows = [{"index": i, "sample_id": str(tv.sample_ids[i]),
             "class": tv.class_names[int(tv.labels[i])], "distance": round(d, 5)} for i, d in pairs]
    if not args.json:
        print(f"{tv.sample_ids[index]} ({tv.class_names[int(tv.labels[index])]}):")
        for row in rows:
            print(f"  {row['sample_id']:<16} {row['class']:<14} {row['distance']:.4f}")
    return {"index": index, "sample_id": str(tv.sample_ids[index]), "image_size": tv.image_size,
            "neighbors": rows}


def cmd_separability(args: argparse.Namespace) -> dict[str, Any]:
    from core.analysis.separability import separability

    tv = features_for_cli(args)
    result = separability(tv=tv, n_neighbors=args.neighbors, max_samples=args.max_samples,
                          seed=args.seed, cache_dir=args.cache_dir)
    if not args.json:
        sil = "—" if result["silhouette"] is None else f"{result['silhouette']:.3f}"
        print(f"kNN accuracy {result['knn_accuracy']:.4f} · silhouette {sil} "
              f"(n={result['n']}, k={result['n_neighbors']})")
    return {"backbone": args.backbone, "image_size": tv.image_size, **result}


def register(subparsers, handlers: dict[str, Handler]) -> None:
    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS, DEFAULT_NEIGHBORS
    from core.analysis.projections import default_params
    from core.analysis import separability
    from core.heads import DEFAULT_HEAD, head_names

    tsne, umap = default_params("tsne"), default_params("umap")

    p = subparsers.add_parser("project", help="2-D/3-D projection: pca, tsne or umap (cached)")
    add_dataset_args(p)
    p.add_argument("--method", choices=["pca", "tsne", "umap"], default="pca")
    p.add_argument("--dims", type=int, choices=[2, 3], default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--perplexity", type=float, default=None,
                   help=f"t-SNE (default {tsne['perplexity']:g})")
    p.add_argument("--n-iter", type=int, default=None,
                   help=f"t-SNE iterations (default {tsne['n_iter']})")
    p.add_argument("--n-neighbors", type=int, default=None,
                   help=f"UMAP (default {umap['n_neighbors']})")
    p.add_argument("--min-dist", type=float, default=None,
                   help=f"UMAP (default {umap['min_dist']:g})")
    p.add_argument("--metric", choices=["euclidean", "cosine"], default=None, help="UMAP")
    p.add_argument("--pca-dims", type=int, default=None,
                   help=f"t-SNE/UMAP input reduction (default {tsne['pca_dims']}; 0 = raw "
                        f"features)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="any other parameter")
    p.add_argument("--out", default=None, help="also write the coordinates to this CSV")
    handlers["project"] = user_errors(cmd_project)

    p = subparsers.add_parser("label-issues", help="rank suspected label errors")
    add_dataset_args(p)
    # heads that fine-tune the backbone cannot be cross-fitted (one run per fold)
    p.add_argument("--head", choices=head_names(fine_tunes_backbone=False), default=DEFAULT_HEAD)
    p.add_argument("--cross-fit", type=int, default=DEFAULT_CROSS_FIT_FOLDS, metavar="K")
    p.add_argument("--neighbors", type=int, default=DEFAULT_NEIGHBORS)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    handlers["label-issues"] = user_errors(cmd_label_issues)

    p = subparsers.add_parser("neighbors", help="nearest samples of one sample in feature space")
    add_dataset_args(p)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--sample-id", default=None)
    p.add_argument("-k", type=int, default=8)
    handlers["neighbors"] = user_errors(cmd_neighbors)

    p = subparsers.add_parser("separability", help="kNN accuracy and silhouette of the features")
    add_dataset_args(p)
    p.add_argument("--neighbors", type=int, default=separability.DEFAULT_NEIGHBORS)
    p.add_argument("--max-samples", type=int, default=separability.DEFAULT_MAX_SAMPLES)
    p.add_argument("--seed", type=int, default=0)
    handlers["separability"] = user_errors(cmd_separability)
