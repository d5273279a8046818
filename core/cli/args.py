"""What every command shares: the dataset/backbone arguments, loading the features, loose
`--param name=value` pairs, and turning core's ValueErrors into one-line user errors."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from core.base.errors import TransferLensError

Handler = Callable[[argparse.Namespace], dict[str, Any]]


def add_dataset_args(parser: argparse.ArgumentParser) -> None:
    from core.backbones.registry import DEFAULT_BACKBONE
    from core.features.input_size import SMALL_IMAGE, SMALL_IMAGE_INPUT

    parser.add_argument("--dataset", default="digits",
                        help="built-in name (digits, fashion_mnist, fashion_mnist_scale, "
                             "cifar10, mnist), a folder with one sub-folder per class "
                             "(and/or a targets.csv), or a .zip of one")
    parser.add_argument("--target", default=None, metavar="NAME",
                        help="a numeric target of the dataset (a column of its targets.csv; "
                             "fashion_mnist_scale: scale), for regression heads")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE,
                        help="backbone name (see `backbones`) or path/to/model.keras:layer")
    parser.add_argument("--image-size", type=int, default=None,
                        help=f"input size in pixels (default: the backbone's native size, or "
                             f"{SMALL_IMAGE_INPUT} for datasets of images up to {SMALL_IMAGE} px)")
    parser.add_argument("--limit", type=int, default=None,
                        help="embed a random subset of at most N images (seeded)")
    parser.add_argument("--cache-dir", default=None,
                        help="cache folder (default: $TRANSFER_LENS_CACHE or <repo>/cache)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    """--runtime and --precision, from their one declaration (`core.backbones.runtime`)."""
    from core.backbones.runtime import RUNTIME_DEFAULTS, RUNTIME_SPECS

    for name, spec in RUNTIME_SPECS.items():
        parser.add_argument(f"--{name}", choices=list(spec.choices),
                            default=RUNTIME_DEFAULTS[name],
                            help=f"{spec.help} (default {RUNTIME_DEFAULTS[name]})")


def runtime_args(args: argparse.Namespace) -> dict[str, str]:
    """runtime= and precision= for core, from the parsed flags (defaults where a command has
    none)."""
    from core.backbones.runtime import RUNTIME_DEFAULTS

    return {name: getattr(args, name, default) for name, default in RUNTIME_DEFAULTS.items()}


def load_for_cli(args: argparse.Namespace, split: str = "all"):
    from core.datasets import load_dataset

    dataset = load_dataset(name=args.dataset)
    _report_skipped(dataset)
    if getattr(args, "target", None) is not None:
        dataset.target(args.target)  # a wrong name fails now, before any extraction
    return dataset.limited(limit=args.limit, split=split)


def _report_skipped(dataset, listed: int = 20) -> None:
    """Each skipped file on stderr — the first `listed` of those a targets file leaves out,
    then their count (a big folder may hold thousands)."""
    from core.datasets.folder import UNLISTED_REASON

    unlisted = 0
    for skipped in dataset.skipped:
        if skipped.reason.startswith(UNLISTED_REASON):
            unlisted += 1
            if unlisted > listed:
                continue
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    if unlisted:
        print(f"skipped {unlisted} image(s) the targets file does not list", file=sys.stderr)


def features_for_cli(args: argparse.Namespace, split: str = "all", dataset=None):
    """`feature_values` for the command's arguments: the backbone's transfer values (at
    --image-size, else core's default size) or raw pixels (--backbone pixels); of `dataset`
    when the caller already loaded it with `load_for_cli`."""
    from core.features.feature_sets import feature_values

    dataset = dataset if dataset is not None else load_for_cli(args, split=split)
    return feature_values(dataset=dataset, backbone=args.backbone,
                          image_size=args.image_size, cache_dir=args.cache_dir,
                          dtype=getattr(args, "dtype", "float32"), progress=progress_bar(),
                          **runtime_args(args))


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare string such as "cosine" or "auto"


def param_dict(pairs: list[str] | None) -> dict[str, Any]:
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--param expects name=value, got {pair!r}")
        name, value = pair.split("=", 1)
        params[name.strip().replace("-", "_")] = parse_value(value)
    return params


def progress_bar():
    from core.base.progress import stderr_progress_bar

    return stderr_progress_bar()


def user_errors(handler: Handler) -> Handler:
    """Bad parameter values (ValueError from core) become user-facing errors: `main` prints
    them as one line (and a JSON error with --json) instead of a traceback."""

    def run(args: argparse.Namespace) -> dict[str, Any]:
        try:
            return handler(args)
        except TransferLensError:
            raise  # already a user error (ParameterError is a ValueError too): keep its type
        except ValueError as error:
            raise TransferLensError(str(error)) from error

    return run
