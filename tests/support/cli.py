"""`python -m core` run in-process, its output read from pytest's capsys."""

from __future__ import annotations

import json


def run_cli(argv, capsys):
    """(exit code, captured stdout and stderr) of `python -m core ARGV`."""
    from core.cli.main import main

    code = main(list(argv))
    return code, capsys.readouterr()


def last_json(capsys) -> dict:
    """The JSON object a --json command printed last (its result, or its error)."""
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def cli_json(capsys, *argv) -> dict:
    """The result of `python -m core ARGV --json`, which must succeed."""
    argv = list(argv) if "--json" in argv else [*argv, "--json"]
    code, captured = run_cli(argv, capsys)
    out = captured.out.strip().splitlines()
    assert code == 0, out
    return json.loads(out[-1])
