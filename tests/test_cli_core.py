"""`python -m core` basics: datasets, backbones, extract (--json contract), cache, errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from core.cli import main
from tests.support.cli import last_json

ROOT = Path(__file__).resolve().parent.parent


def test_datasets_and_backbones_listing(capsys):
    assert main(["datasets", "--json"]) == 0
    listing = last_json(capsys)
    assert {d["name"] for d in listing["datasets"]} >= {"digits", "fashion_mnist", "cifar10", "mnist"}
    assert main(["backbones", "--json"]) == 0
    rows = {b["name"]: b for b in last_json(capsys)["backbones"]}
    assert rows["efficientnet_lite0"]["offline"] and rows["efficientnet_lite0"]["available"]
    assert not rows["inception_v3"]["offline"]
    assert rows["inception_v3"]["dim"] == 2048 and rows["inception_v3"]["native_size"] == 299


def test_extract_json_then_hit(tiny_backbone, capsys):
    args = ["extract", "--dataset", "digits", "--backbone", tiny_backbone, "--limit", "200", "--json"]
    assert main(args) == 0
    first = last_json(capsys)
    assert first["n"] == 200 and first["dim"] == 16 and first["cache"] == "miss"
    assert Path(first["path"]).is_file()
    # where the time went, phase by phase (the first from the process's start)
    assert list(first["phases"]) == ["imports", "dataset", "model", "extraction", "cache_entry"]
    assert all(seconds >= 0 for seconds in first["phases"].values())
    assert main(args) == 0
    second = last_json(capsys)
    assert second["cache"] == "hit" and second["path"] == first["path"]
    assert list(second["phases"]) == ["imports", "dataset", "cache_entry"]  # nothing computed
    assert second["seconds"] < first["seconds"]
    np.load(second["path"], allow_pickle=False)


def test_extract_split_only(tiny_backbone, capsys):
    assert main(["extract", "--dataset", "digits", "--backbone", tiny_backbone, "--split", "test",
                 "--json"]) == 0
    assert last_json(capsys)["n"] == 179


def test_errors_are_messages_not_tracebacks(capsys, tmp_path):
    assert main(["extract", "--dataset", str(tmp_path / "missing"), "--json"]) == 2
    captured = capsys.readouterr()
    assert "error:" in captured.err and "Traceback" not in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["type"] == "DatasetError"
    assert main(["extract", "--dataset", "digits", "--backbone", "nope"]) == 2
    assert "Unknown backbone 'nope'" in capsys.readouterr().err


def test_cache_info_and_clear(tiny_backbone, capsys, isolated_cache):
    main(["extract", "--dataset", "digits", "--backbone", tiny_backbone, "--limit", "50"])
    capsys.readouterr()
    assert main(["cache", "info", "--json"]) == 0
    info = last_json(capsys)
    assert info["path"] == str(isolated_cache) and info["kinds"]["transfer_values"]["entries"] == 1
    assert main(["cache", "clear", "--json"]) == 0
    assert last_json(capsys)["freed_bytes"] > 0
    assert not any(isolated_cache.iterdir())


def test_listing_does_not_import_tensorflow():
    """Opening the CLI and listing is instant: no TensorFlow import on those paths."""
    code = ("import sys; from core.cli import main; main(['datasets']); main(['backbones']); "
            "print('TF' if 'tensorflow' in sys.modules else 'noTF')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip().endswith("noTF"), result.stderr
