"""The offline default backbone end to end: extract, then a cache hit that never imports TensorFlow."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run_cli(*args, cache):
    env = {**os.environ, "TRANSFER_LENS_CACHE": str(cache)}
    result = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_digits_lite0_extract_then_hit_without_tensorflow(isolated_cache):
    args = ["extract", "--dataset", "digits", "--backbone", "efficientnet_lite0",
            "--image-size", "64", "--limit", "256", "--json"]
    first = run_cli(*args, cache=isolated_cache)
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["n"] == 256 and summary["dim"] == 1280 and summary["cache"] == "miss"
    assert "extract efficientnet_lite0@64px" in first.stderr  # progress goes to stderr
    assert "I0000" not in first.stderr and "cpu_feature_guard" not in first.stderr

    code = ("import sys, json; from core.cli import main; main(%r); "
            "print(json.dumps({'tf': 'tensorflow' in sys.modules}))" % (args,))
    env = {**os.environ, "TRANSFER_LENS_CACHE": str(isolated_cache)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    hit = json.loads(lines[-2])
    assert hit["cache"] == "hit" and hit["path"] == summary["path"] and hit["seconds"] < 1.0
    assert json.loads(lines[-1]) == {"tf": False}
