"""`python -m core`: list, extract and analyse transfer values from the command line.

Progress goes to stderr; with --json the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys

from core.base.errors import TransferLensError
from core.cli import (analysis, catalog, corrections, extraction, failures, heads, predict,
                      publish, quality, targets, training)
from core.cli.args import Handler

COMMAND_GROUPS = (catalog, extraction, analysis, training, heads, publish, quality, targets,
                  predict, corrections, failures)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Handler] = {}
    for group in COMMAND_GROUPS:
        group.register(sub, handlers)
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    from core.base import timeline

    timeline.reset()
    timeline.mark("imports")  # the interpreter and core's modules, from the process's start
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    try:
        result = handlers[args.command](args)
    except TransferLensError as error:
        print(f"error: {error}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": str(error), "type": type(error).__name__}))
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished chunks are kept; run the same command again to resume.",
              file=sys.stderr)
        return 130
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
    return 0
