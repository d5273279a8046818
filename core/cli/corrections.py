"""`corrections`: the overlay of a dataset's labels — list it, accept the top K suggested
labels, apply a corrections file, undo, compare a head before/after, export the cleaned
dataset. The overlay is chosen by the dataset (its content fingerprint) and --namespace."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.args import (Handler, add_dataset_args, features_for_cli, load_for_cli,
                           param_dict, progress_bar, user_errors)


def _summary(overlay) -> dict[str, Any]:
    return {"path": str(overlay.path), "dataset": overlay.dataset,
            "namespace": overlay.namespace, "content_hash": overlay.content_hash,
            "counts": overlay.counts()}


def _open(args: argparse.Namespace, dataset=None):
    from core.corrections import open_corrections

    dataset = dataset if dataset is not None else load_for_cli(args)
    tv = features_for_cli(args, dataset=dataset)
    return dataset, tv, open_corrections(tv=tv, namespace=args.namespace,
                                         cache_dir=args.cache_dir)


def cmd_corrections(args: argparse.Namespace) -> dict[str, Any]:
    dataset, tv, overlay = _open(args)
    result: dict[str, Any] = {"action": args.action}
    if args.action == "accept":
        result["changed"] = _accept(args, tv, overlay)
    elif args.action == "apply":
        result["changed"] = overlay.apply_file(args.file)
    elif args.action == "undo":
        result["changed"] = (overlay.undo_sample(args.sample) if args.sample
                             else overlay.undo())
    elif args.action == "compare":
        from core.corrections import retrain_and_compare

        result["comparison"] = retrain_and_compare(
            tv=tv, corrections=overlay, head=args.head, params=param_dict(args.param),
            seed=args.seed, cache_dir=args.cache_dir, progress=progress_bar()).as_dict()
    elif args.action == "export":
        result["exported"] = _export(args, dataset, overlay)
    result.update(_summary(overlay))
    table = overlay.table()
    result["records"] = table.head(args.top).to_dict(orient="records")
    if not args.json:
        _print(result, table, args.top)
    return result


def _accept(args: argparse.Namespace, tv, overlay) -> int:
    from core.analysis.label_issues import find_label_issues
    from core.heads import train_head

    trained = train_head(tv=tv, head=args.head, cross_fit_folds=args.cross_fit, seed=args.seed,
                         cache_dir=args.cache_dir, progress=progress_bar())
    issues = find_label_issues(tv=tv, probabilities=trained.probabilities,
                               cache_dir=args.cache_dir)
    return overlay.accept_suggestions(issues=issues, top=args.k, source="cli")


def _export(args: argparse.Namespace, dataset, overlay) -> dict[str, Any]:
    from core.corrections.export import (export_corrections_file, export_csv, export_folder,
                                         write_cleaned_zip)
    from core.base.atomic import atomic_path

    done: dict[str, Any] = {}
    if args.file:
        done["file"] = str(export_corrections_file(corrections=overlay, path=args.file))
    if args.csv:
        done["csv"] = str(export_csv(dataset=dataset, corrections=overlay, path=args.csv))
    if args.zip:
        with atomic_path(args.zip) as tmp, open(tmp, "wb") as handle:
            write_cleaned_zip(dataset=dataset, corrections=overlay, target=handle)
        done["zip"] = str(args.zip)
    if args.folder:
        done["folder"] = export_folder(dataset=dataset, corrections=overlay, out=args.folder)
    if not done:
        raise ValueError("export needs at least one of --file, --csv, --zip, --folder")
    return done


def _print(result: dict[str, Any], table, top: int) -> None:
    counts = result["counts"]
    if "changed" in result:
        print(f"{result['action']}: {result['changed']} record(s) changed")
    print(f"{counts['relabel']} relabelled, {counts['exclude']} excluded, {counts['keep']} kept "
          f"· hash {result['content_hash'] or '—'} · {result['path']}")
    for row in table.head(top).itertuples():
        target = row.label if row.action == "relabel" else row.action
        print(f"  {row.sample_id:<24} {row.original!s:<12} → {target!s:<12} {row.reason} "
              f"({row.source}, {row.when})")
    if "comparison" in result:
        acc = result["comparison"]["accuracy"]
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"test accuracy before {fmt(acc['before_original'])} (corrected labels "
              f"{fmt(acc['before_corrected'])}) · after {fmt(acc['after_original'])} "
              f"(corrected labels {fmt(acc['after_corrected'])})")
    for kind, where in result.get("exported", {}).items():
        print(f"exported {kind}: {where}")


def corrected_for_train(args: argparse.Namespace, tv):
    """tv under `train --corrections FILE` (tv itself without the option)."""
    if not getattr(args, "corrections", None):
        return tv, {}
    from core.corrections import corrected, corrections_from_file

    overlay = corrections_from_file(tv=tv, path=args.corrections)
    counts = overlay.counts()
    return corrected(tv, overlay), {"corrections": {
        "file": str(args.corrections), "content_hash": overlay.content_hash,
        "relabelled": counts["relabel"], "excluded": counts["exclude"]}}


def register(subparsers, handlers: dict[str, Handler]) -> None:
    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS
    from core.corrections import DEFAULT_NAMESPACE
    from core.heads import DEFAULT_HEAD, head_names

    p = subparsers.add_parser("corrections", help="relabel/exclude samples in an overlay: "
                                                  "list, accept, apply, undo, compare, export")
    p.add_argument("action", choices=("list", "accept", "apply", "undo", "compare", "export"),
                   help="list the records; accept the top K suggested labels; apply FILE; "
                        "undo the last change (or --sample ID); compare a head before/after; "
                        "export the cleaned dataset")
    add_dataset_args(p)
    p.add_argument("--namespace", default=DEFAULT_NAMESPACE,
                   help="whose overlay (default %(default)s; the app uses one per session "
                        "in public mode)")
    p.add_argument("--top", type=int, default=20, help="records shown (default %(default)s)")
    accept = p.add_argument_group("accept / compare")
    accept.add_argument("--k", type=int, default=None, metavar="K",
                        help="accept the first K flagged suggestions (default: all flagged)")
    accept.add_argument("--head", choices=head_names(fine_tunes_backbone=False),
                        default=DEFAULT_HEAD)
    accept.add_argument("--cross-fit", type=int, default=DEFAULT_CROSS_FIT_FOLDS, metavar="K")
    accept.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="a head parameter (compare)")
    accept.add_argument("--seed", type=int, default=0)
    p.add_argument("--file", default=None, help="apply: the corrections file to apply; "
                                                "export: write the corrections file here")
    p.add_argument("--sample", default=None, metavar="ID", help="undo: only this sample")
    p.add_argument("--csv", default=None, help="export: path,label CSV of the corrected dataset")
    p.add_argument("--zip", default=None, help="export: class-folder zip of the cleaned dataset")
    p.add_argument("--folder", default=None,
                   help="export: class-folder tree (hard links where possible; new folder)")
    handlers["corrections"] = user_errors(_checked(cmd_corrections))


def _checked(handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> dict[str, Any]:
        if args.action == "apply" and not args.file:
            raise ValueError("corrections apply needs --file FILE (a corrections .jsonl)")
        return handler(args)

    return run
