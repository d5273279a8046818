"""`train`: a head on the transfer values (or a fine-tuning run), evaluated on test; a
regression head (ridge, mlp_regressor) on a numeric target (`--target NAME`)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from core.base.errors import TransferLensError
from core.base.splits import split_mask
from core.cli.args import (Handler, add_dataset_args, features_for_cli, load_for_cli, param_dict,
                           parse_value, progress_bar, user_errors)
from core.cli.corrections import corrected_for_train


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from core.heads.evaluation import confusion_matrix, top_confusions
    from core.heads import HEADS, is_degenerate, train_head

    started = time.perf_counter()
    params = param_dict(args.param)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    extra: dict[str, Any] = {}
    # a head that fine-tunes the backbone trains on images and brings its own model
    fine_tunes = HEADS[args.head].fine_tunes_backbone
    if args.corrections and (fine_tunes or HEADS[args.head].task == "regression"):
        raise TransferLensError(f"--corrections trains a head on transfer values with "
                                f"corrected labels; '{args.head}' "
                                f"{'fine-tunes the backbone' if fine_tunes else 'predicts a number'}.")
    if HEADS[args.head].task == "regression":
        return _train_regression(args, params, started)
    if args.target is not None:
        raise TransferLensError(f"--target goes with a regression head (--head ridge or "
                                f"mlp_regressor); '{args.head}' predicts classes.")
    if fine_tunes:
        tv, trained, extra = _fine_tune(args, params)
    else:
        if args.C is not None:
            params["C"] = parse_value(args.C)
        tv, extra = corrected_for_train(args, features_for_cli(args))
        trained = train_head(tv=tv, head=args.head, params=params, seed=args.seed,
                             cross_fit_folds=args.cross_fit, cache_dir=args.cache_dir,
                             use_cache=not args.no_cache, progress=progress_bar())
    m = trained.metrics
    test = split_mask(tv.splits, "test")
    matrix = confusion_matrix(labels=tv.labels, predictions=trained.predictions,
                              num_classes=len(tv.class_names), mask=test)
    result = {"head": trained.head, "params": trained.params, "backbone": args.backbone,
              "image_size": tv.image_size,
              "n": tv.n, "dim": tv.dim, "cache": trained.cache,
              **{k: m.get(k) for k in ("chance_accuracy", "chance_rule", "train_accuracy",
                                       "val_accuracy", "test_accuracy", "test_log_loss",
                                       "train_seconds", "cross_fit_seconds", "n_train", "n_val",
                                       "n_test", "train_accuracy_out_of_fold")},
              "epochs_run": len(trained.history), "details": m.get("details"),
              "key": trained.key, "degenerate": is_degenerate(trained),
              "confusion_sum": int(matrix.sum()),
              "top_confusions": top_confusions(matrix=matrix, class_names=tv.class_names),
              "per_class": m.get("per_class"), **extra,
              "total_seconds": round(time.perf_counter() - started, 3)}
    if args.save:
        result["saved"] = str(trained.save(args.save))
    if args.export and fine_tunes:
        import shutil

        shutil.copyfile(extra["model_path"], args.export)  # already end to end
        result["exported"] = str(args.export)
    elif args.export:
        result["exported"] = _export_head(args, trained, tv)
    if not args.json:
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"{trained.head} on {tv.n} × {tv.dim} ({trained.cache}): test {fmt(m['test_accuracy'])}"
              f" · val {fmt(m['val_accuracy'])} · chance {fmt(m['chance_accuracy'])} · "
              f"{m['train_seconds']:.1f}s")
        if result["degenerate"]:
            print(f"  degenerate, not worth keeping: {result['degenerate']}")
        for row in result["top_confusions"]:
            print(f"  {row['true']} → {row['predicted']}: {row['count']}")
    return result


def _export_head(args: argparse.Namespace, trained, tv) -> str:
    """--export: the head on its backbone as one .keras model (uint8 images in)."""
    from core.features.feature_sets import PIXELS
    from core.serving.export import export_end_to_end_model

    if args.backbone == PIXELS:
        raise SystemExit("--export needs a backbone (pixels have no model to export)")
    return str(export_end_to_end_model(head=trained, backbone=args.backbone,
                                       image_size=tv.manifest["key_fields"]["image_size"],
                                       path=args.export))


def _train_regression(args: argparse.Namespace, params: dict[str, Any],
                      started: float) -> dict[str, Any]:
    """A regression head on the dataset's numeric target: r2, mae, rmse and the mean
    baseline on test."""
    from core.heads import is_degenerate, train_head

    if args.C is not None:
        raise TransferLensError("--C is logreg's; ridge takes --param alpha=VALUE (or auto).")
    dataset = load_for_cli(args)
    target = dataset.target(args.target)
    tv = features_for_cli(args, dataset=dataset)
    trained = train_head(tv=tv, head=args.head, params=params, seed=args.seed,
                         cross_fit_folds=args.cross_fit, cache_dir=args.cache_dir,
                         use_cache=not args.no_cache, progress=progress_bar(), target=target)
    m = trained.metrics
    result = {"head": trained.head, "task": "regression", "target": target.name,
              "params": trained.params, "backbone": args.backbone, "image_size": tv.image_size,
              "n": tv.n, "dim": tv.dim, "cache": trained.cache,
              **{k: m.get(k) for k in ("r2", "mae", "rmse", "baseline_mae", "baseline_rmse",
                                       "baseline_rule", "reported_on", "train_r2", "val_r2",
                                       "val_mae", "test_r2", "test_mae", "test_rmse",
                                       "train_r2_out_of_fold", "n_train", "n_val", "n_test",
                                       "train_seconds", "cross_fit_seconds", "target_mean",
                                       "target_std")},
              "epochs_run": len(trained.history), "details": m.get("details"),
              "key": trained.key, "degenerate": is_degenerate(trained),
              "per_class": m.get("per_class"),
              "total_seconds": round(time.perf_counter() - started, 3)}
    if args.save:
        result["saved"] = str(trained.save(args.save))
    if args.export:
        result["exported"] = _export_head(args, trained, tv)
    if not args.json:
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"{trained.head} → {target.name} on {tv.n} × {tv.dim} ({trained.cache}), "
              f"{m['reported_on']}: R² {fmt(m['r2'])} · MAE {fmt(m['mae'])} · RMSE "
              f"{fmt(m['rmse'])} · baseline MAE {fmt(m['baseline_mae'])} · "
              f"{m['train_seconds']:.1f}s")
        if result["degenerate"]:
            print(f"  degenerate, not worth keeping: {result['degenerate']}")
    return result


def _fine_tune(args: argparse.Namespace, params: dict[str, Any]):
    """Fine-tune (or resume, or load) and evaluate: (values after, head, extra JSON fields)."""
    from core.features.feature_sets import PIXELS
    from core.finetune.evaluate import config_from_params, fine_tune_and_evaluate

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
              f"{record.val_accuracy:.4f}"
              + (f" (moving average {record.ema_val_accuracy:.4f})" if config.ema else "")
              + f" · {record.images_per_second:.0f} images/s", file=sys.stderr)

    done = fine_tune_and_evaluate(dataset=dataset, backbone=args.backbone, config=config,
                                  cache_dir=args.cache_dir, progress=progress_bar(),
                                  on_epoch=on_epoch)
    result = done.result
    extra = {"image_size": config.image_size, "epoch_sizes": config.epoch_sizes(),
             "epochs": config.epochs,
             "unfreeze": config.unfreeze, "images_per_second": round(result.images_per_second, 1),
             "resumed_from_epoch": result.resumed_from_epoch,
             "val_accuracy_per_epoch": [round(h.val_accuracy, 4) for h in result.history],
             **({"ema": config.ema, "ema_val_accuracy_per_epoch": [
                 round(h.ema_val_accuracy, 4) for h in result.history]} if config.ema else {}),
             "weights": result.weights, "fine_tune_seconds": round(result.train_seconds, 1),
             "peak_rss_mb": _peak_rss_mb(),
             "model_path": str(result.model_path), "backbone_path": str(result.backbone_path),
             "run_dir": str(result.run_dir), "before_key": done.before.key,
             "after_key": done.after.key}
    return done.after, done.head, extra


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def register(subparsers, handlers: dict[str, Handler]) -> None:
    from core.heads import DEFAULT_HEAD, head_names

    p = subparsers.add_parser("train", help="train a head on the transfer values and evaluate "
                                            "it (a regression head: on --target)")
    add_dataset_args(p)
    p.add_argument("--head", choices=head_names(task=None), default=DEFAULT_HEAD,
                   help="ridge and mlp_regressor predict a numeric --target")
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
                   help="export backbone + head as one Keras model taking uint8 images of "
                        "any size, greyscale or RGB")
    p.add_argument("--no-cache", action="store_true", help="train again even if cached")
    p.add_argument("--corrections", default=None, metavar="FILE",
                   help="train on the labels a corrections file gives (relabelled, excluded "
                        "samples left out); see `corrections export --file`")
    handlers["train"] = user_errors(cmd_train)
