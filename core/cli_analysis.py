"""Analysis commands for `python -m core`: project, train, label-issues, neighbors, separability.

Each uses the same --dataset/--backbone/--image-size/--limit/--cache-dir arguments as
`extract` (`--backbone pixels` uses raw pixels, the baseline), computes or loads the
transfer values, and with --json prints one JSON object as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from core.cli import Handler, add_dataset_args, load_for_cli, transfer_values_for_cli
from core.errors import TransferLensError


def _features(args: argparse.Namespace):
    from core.feature_sets import PIXELS, pixel_values
    from core.progress import stderr_progress_bar

    if args.backbone == PIXELS:
        return pixel_values(dataset=load_for_cli(args), cache_dir=args.cache_dir,
                            progress=stderr_progress_bar())
    return transfer_values_for_cli(args)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare string such as "cosine" or "auto"


def _param_dict(pairs: list[str] | None) -> dict[str, Any]:
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--param expects name=value, got {pair!r}")
        name, value = pair.split("=", 1)
        params[name.strip().replace("-", "_")] = _parse_value(value)
    return params


def _progress():
    from core.progress import stderr_progress_bar

    return stderr_progress_bar()


# --- project ---

def cmd_project(args: argparse.Namespace) -> dict[str, Any]:
    from core.projections import compute_projection

    started = time.perf_counter()
    tv = _features(args)
    params = _param_dict(args.param)
    for name in ("perplexity", "n_iter", "n_neighbors", "min_dist", "metric", "pca_dims"):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    projection = compute_projection(tv=tv, method=args.method, dims=args.dims, params=params,
                                    seed=args.seed, cache_dir=args.cache_dir, progress=_progress())
    result = {"n": tv.n, "dim": tv.dim, "method": projection.method, "dims": projection.dims,
              "params": projection.params, "seed": projection.seed, "cache": projection.cache,
              "seconds": round(projection.seconds, 4), "key": projection.key,
              "total_seconds": round(time.perf_counter() - started, 3)}
    if projection.explained_variance is not None:
        result["explained_variance"] = [round(float(v), 5) for v in projection.explained_variance]
    if args.out:
        from core.export import export_projection_csv

        result["csv"] = str(export_projection_csv(projection=projection, tv=tv, path=args.out))
    if not args.json:
        print(f"{args.method} {args.dims}-D of {tv.n} × {tv.dim} ({projection.cache}, "
              f"{projection.seconds:.2f}s)" + (f" → {args.out}" if args.out else ""))
    return result


# --- train ---

def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from core.evaluation import confusion_matrix, top_confusions
    from core.heads import train_head

    started = time.perf_counter()
    params = _param_dict(args.param)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    extra: dict[str, Any] = {}
    if args.head == "finetune":
        tv, trained, extra = _fine_tune(args, params)
    else:
        if args.C is not None:
            params["C"] = _parse_value(args.C)
        tv = _features(args)
        trained = train_head(tv=tv, head=args.head, params=params, seed=args.seed,
                             cross_fit_folds=args.cross_fit, cache_dir=args.cache_dir,
                             use_cache=not args.no_cache, progress=_progress())
    m = trained.metrics
    test = tv.splits == 2
    matrix = confusion_matrix(labels=tv.labels, predictions=trained.predictions,
                              num_classes=len(tv.class_names), mask=test)
    result = {"head": trained.head, "params": trained.params, "backbone": args.backbone,
              "image_size": tv.manifest.get("key_fields", {}).get("image_size"),
              "n": tv.n, "dim": tv.dim, "cache": trained.cache,
              **{k: m.get(k) for k in ("chance_accuracy", "chance_rule", "train_accuracy",
                                       "val_accuracy", "test_accuracy", "test_log_loss",
                                       "train_seconds", "cross_fit_seconds", "n_train", "n_val",
                                       "n_test", "train_accuracy_out_of_fold")},
              "epochs_run": len(trained.history), "details": m.get("details"),
              "confusion_sum": int(matrix.sum()),
              "top_confusions": top_confusions(matrix=matrix, class_names=tv.class_names),
              "per_class": m.get("per_class"), **extra,
              "total_seconds": round(time.perf_counter() - started, 3)}
    if args.save:
        result["saved"] = str(trained.save(args.save))
    if args.export and args.head == "finetune":
        import shutil

        shutil.copyfile(extra["model_path"], args.export)  # already end to end
        result["exported"] = str(args.export)
    elif args.export:
        from core.export import export_end_to_end_model
        from core.feature_sets import PIXELS

        if args.backbone == PIXELS:
            raise SystemExit("--export needs a backbone (pixels have no model to export)")
        result["exported"] = str(export_end_to_end_model(
            head=trained, backbone=args.backbone,
            image_size=tv.manifest["key_fields"]["image_size"], path=args.export,
            channels=args.export_channels))
    if not args.json:
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"{trained.head} on {tv.n} × {tv.dim} ({trained.cache}): test {fmt(m['test_accuracy'])}"
              f" · val {fmt(m['val_accuracy'])} · chance {fmt(m['chance_accuracy'])} · "
              f"{m['train_seconds']:.1f}s")
        for row in result["top_confusions"]:
            print(f"  {row['true']} → {row['predicted']}: {row['count']}")
    return result


def _fine_tune(args: argparse.Namespace, params: dict[str, Any]):
    """Fine-tune (or resume, or load) and evaluate: (values after, head, extra JSON fields)."""
    from core.feature_sets import PIXELS
    from core.finetune_evaluation import config_from_params, fine_tune_and_evaluate

    if args.backbone == PIXELS:
        raise TransferLensError("Fine-tuning needs a backbone; pixels have none.")
    if args.cross_fit:
        raise TransferLensError("--cross-fit does not go with --head finetune (it would "
                                "fine-tune once per fold).")
    if args.image_size is not None:
        params["image_size"] = args.image_size
    if args.unfreeze is not None:
        params["unfreeze"] = args.unfreeze
    config = config_from_params(params, seed=args.seed, backbone=args.backbone)
    dataset = load_for_cli(args)

    def on_epoch(record) -> None:
        print(f"epoch {record.epoch}/{config.epochs} ({record.image_size} px): train loss "
              f"{record.loss:.4f} · train accuracy {record.accuracy:.4f} · val accuracy "
              f"{record.val_accuracy:.4f} · {record.images_per_second:.0f} images/s",
              file=sys.stderr)

    done = fine_tune_and_evaluate(dataset=dataset, backbone=args.backbone, config=config,
                                  cache_dir=args.cache_dir, progress=_progress(),
                                  on_epoch=on_epoch)
    result = done.result
    extra = {"image_size": config.image_size, "epoch_sizes": config.epoch_sizes(),
             "epochs": config.epochs,
             "unfreeze": config.unfreeze, "images_per_second": round(result.images_per_second, 1),
             "resumed_from_epoch": result.resumed_from_epoch,
             "val_accuracy_per_epoch": [round(h.val_accuracy, 4) for h in result.history],
             "model_path": str(result.model_path), "backbone_path": str(result.backbone_path),
             "run_dir": str(result.run_dir), "before_key": done.before.key,
             "after_key": done.after.key}
    return done.after, done.head, extra


# --- label issues ---

def cmd_label_issues(args: argparse.Namespace) -> dict[str, Any]:
    from core.heads import train_head
    from core.label_issues import find_label_issues

    started = time.perf_counter()
    tv = _features(args)
    trained = train_head(tv=tv, head=args.head, seed=args.seed, cross_fit_folds=args.cross_fit,
                         cache_dir=args.cache_dir, progress=_progress())
    issues = find_label_issues(tv=tv, probabilities=trained.probabilities,
                               n_neighbors=args.neighbors, cache_dir=args.cache_dir)
    flagged = len(issues)
    rows = issues.head(args.top)
    result = {"n": tv.n, "head": trained.head, "cross_fit_folds": args.cross_fit,
              "flagged": flagged, "top": json.loads(rows.to_json(orient="records")),
              "seconds": round(time.perf_counter() - started, 3)}
    if not args.json:
        print(f"{flagged} suspected label errors among {tv.n} samples; most suspicious first:")
        for row in rows.itertuples():
            print(f"  {row.sample_id:<16} given {row.given_class!s:<12} suggested "
                  f"{row.suggested_class!s:<12} score {row.score:.3f} "
                  f"neighbours agree {row.knn_agreement:.0%}")
    return result


# --- neighbours and separability ---

def cmd_neighbors(args: argparse.Namespace) -> dict[str, Any]:
    from core.neighbors import nearest_neighbors

    tv = _features(args)
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
    return {"index": index, "sample_id": str(tv.sample_ids[index]), "neighbors": rows}


def cmd_separability(args: argparse.Namespace) -> dict[str, Any]:
    from core.separability import separability

    tv = _features(args)
    result = separability(tv=tv, n_neighbors=args.neighbors, max_samples=args.max_samples,
                          seed=args.seed, cache_dir=args.cache_dir)
    if not args.json:
        sil = "—" if result["silhouette"] is None else f"{result['silhouette']:.3f}"
        print(f"kNN accuracy {result['knn_accuracy']:.4f} · silhouette {sil} "
              f"(n={result['n']}, k={result['n_neighbors']})")
    return {"backbone": args.backbone, **result}


def _user_errors(handler: Handler) -> Handler:
    """Bad parameter values (ValueError from core) become user-facing errors: `main` prints
    them as one line (and a JSON error with --json) instead of a traceback."""

    def run(args: argparse.Namespace) -> dict[str, Any]:
        try:
            return handler(args)
        except ValueError as error:
            raise TransferLensError(str(error)) from error

    return run


def register_analysis_commands(subparsers, handlers: dict[str, Handler]) -> None:
    p = subparsers.add_parser("project", help="2-D/3-D projection: pca, tsne or umap (cached)")
    add_dataset_args(p)
    p.add_argument("--method", choices=["pca", "tsne", "umap"], default="pca")
    p.add_argument("--dims", type=int, choices=[2, 3], default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--perplexity", type=float, default=None, help="t-SNE (default 30)")
    p.add_argument("--n-iter", type=int, default=None, help="t-SNE iterations (default 750)")
    p.add_argument("--n-neighbors", type=int, default=None, help="UMAP (default 15)")
    p.add_argument("--min-dist", type=float, default=None, help="UMAP (default 0.1)")
    p.add_argument("--metric", choices=["euclidean", "cosine"], default=None, help="UMAP")
    p.add_argument("--pca-dims", type=int, default=None,
                   help="t-SNE/UMAP input reduction (default 50; 0 = raw features)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="any other parameter")
    p.add_argument("--out", default=None, help="also write the coordinates to this CSV")
    handlers["project"] = _user_errors(cmd_project)

    from core.heads import HEADS

    p = subparsers.add_parser("train", help="train a head on the transfer values and evaluate it")
    add_dataset_args(p)
    p.add_argument("--head", choices=list(HEADS), default="logreg")
    from core.finetune import FineTuneConfig

    p.add_argument("--epochs", type=int, default=None,
                   help=f"Keras heads: maximum epochs; finetune: epochs (default "
                        f"{FineTuneConfig.epochs})")
    p.add_argument("--unfreeze", default=None, metavar="all|top-K",
                   help=f"finetune: train the whole backbone (all) or its top K blocks (default "
                        f"{FineTuneConfig.unfreeze} for EfficientNet-Lite, else all); "
                        f"--image-size is the last epoch's size (default "
                        f"{FineTuneConfig.image_size}), growing from --param start_size="
                        f"{FineTuneConfig.start_size} (0: one size)")
    p.add_argument("--C", default=None, help="logreg: inverse regularisation, or 'auto'")
    p.add_argument("--cross-fit", type=int, default=0, metavar="K",
                   help="out-of-fold probabilities for training samples from K folds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="any head parameter")
    p.add_argument("--save", default=None, metavar="FOLDER", help="save the trained head here")
    p.add_argument("--export", default=None, metavar="MODEL.keras",
                   help="export backbone + head as one Keras model taking uint8 images")
    p.add_argument("--export-channels", type=int, choices=[1, 3], default=3,
                   help="channels of the exported model's input (1 = greyscale images)")
    p.add_argument("--no-cache", action="store_true", help="train again even if cached")
    handlers["train"] = _user_errors(cmd_train)

    p = subparsers.add_parser("label-issues", help="rank suspected label errors")
    add_dataset_args(p)
    p.add_argument("--head", choices=list(HEADS), default="logreg")
    p.add_argument("--cross-fit", type=int, default=5, metavar="K")
    p.add_argument("--neighbors", type=int, default=10)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    handlers["label-issues"] = _user_errors(cmd_label_issues)

    p = subparsers.add_parser("neighbors", help="nearest samples of one sample in feature space")
    add_dataset_args(p)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--sample-id", default=None)
    p.add_argument("-k", type=int, default=8)
    handlers["neighbors"] = _user_errors(cmd_neighbors)

    p = subparsers.add_parser("separability", help="kNN accuracy and silhouette of the features")
    add_dataset_args(p)
    p.add_argument("--neighbors", type=int, default=10)
    p.add_argument("--max-samples", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    handlers["separability"] = _user_errors(cmd_separability)

