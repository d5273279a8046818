"""`python -m core publish` run in-process on digits, for the bundle tests."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from core.cli import main

LIMIT = 600
SIZE = 32


def publish(capsys, *, out: Path, cache: Path, backbone: str, extra=()) -> dict:
    """Run the CLI in-process; the summary is its last stdout line (capsys=None: outside a
    test, e.g. in a module fixture, where stdout is captured here)."""
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture) if capsys is None else contextlib.nullcontext():
        code = main(["publish", "--dataset", "digits", "--backbone", backbone, "--image-size",
                     str(SIZE), "--limit", str(LIMIT), "--cache-dir", str(cache), "--out",
                     str(out), "--json", *extra])
    lines = capture.getvalue() if capsys is None else capsys.readouterr().out
    lines = lines.strip().splitlines()
    assert code == 0, lines
    return json.loads(lines[-1])
