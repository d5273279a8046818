"""`python -m core publish` and `open_bundle`: digits through the tiny test backbone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.base.errors import TransferLensError
from core.publish import layout, list_bundles, open_bundle
from core.publish.bundle import REQUIRED
from tests.support.publish import LIMIT, SIZE, publish

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def published_once(tmp_path_factory):
    """One bundle for the module (publishing takes seconds); tests that change it copy it."""
    from core.backbones.registry import REGISTRY
    from tests.support.tiny_backbone import NAME, register_tiny

    register_tiny()
    root = tmp_path_factory.mktemp("publish")
    out, cache = root / "demo" / "digits", root / "cache"
    summary = publish(None, out=out, cache=cache, backbone=NAME)
    yield summary, out, cache, NAME
    REGISTRY.pop(NAME, None)


@pytest.fixture
def published(published_once, tiny_backbone):
    return published_once


def test_publish_writes_every_file_and_verifies(published):
    summary, out, _, _ = published
    manifest = json.loads((out / layout.MANIFEST).read_text())
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                     if p.is_file() and p.name != layout.MANIFEST or p.parent != out and p.is_file())
    assert sorted(manifest["files"]) == on_disk
    assert set(REQUIRED) <= set(manifest["files"])
    assert {"head/manifest.json", "sprites/sheet_000.png"} <= set(manifest["files"])
    assert (manifest["format"], manifest["format_version"]) == (layout.FORMAT, layout.FORMAT_VERSION)
    assert manifest["n"] == LIMIT and manifest["image_size"] == SIZE
    assert manifest["command"].startswith("python -m core publish --dataset digits")
    assert manifest["total_bytes"] == sum(f["bytes"] for f in manifest["files"].values())
    bundle = open_bundle(out)
    assert bundle.values.shape == (LIMIT, bundle.dim) and str(bundle.values.dtype) == summary["value_dtype"]
    for method in ("pca", "tsne", "umap"):
        coords = bundle.projection(method)
        assert coords.shape == (LIMIT, 2) and coords.dtype == np.float32
    assert bundle.knn_indices.shape == bundle.knn_distances.shape == (LIMIT, 15)
    assert bundle.probabilities.shape == (LIMIT, 10) and bundle.probabilities.dtype == np.float16
    assert bundle.head.head == manifest["head"]["name"]
    np.testing.assert_allclose(bundle.probabilities, bundle.head.probabilities, atol=1e-3)
    assert list(bundle.label_issues.columns)[:3] == ["index", "sample_id", "given"]
    assert len(bundle.label_issues) == manifest["label_issues"]["flagged"]
    # no pickle anywhere: every array file reads with pickles refused
    for name in manifest["files"]:
        if name.endswith((".npy", ".npz")):
            np.load(out / name, allow_pickle=False)


def test_json_summary(published):
    summary, out, _, _ = published
    assert summary["path"] == str(out) and summary["status"] == "written"
    assert summary["n"] == LIMIT and summary["bytes"] == sum(summary["files"].values())
    assert summary["value_dtype"] in ("float16", "float32")
    for key in ("float32_test_accuracy", "float16_test_accuracy"):
        assert 0.0 <= summary[key] <= 1.0
    precision = json.loads((out / layout.MANIFEST).read_text())["precision"]
    differs = abs(summary["float16_test_accuracy"] - summary["float32_test_accuracy"]) * 100
    assert precision["chosen"] == ("float16" if differs < precision["tolerance_points"] else "float32")


def test_damage_is_detected_and_named(published, tmp_path):
    _, out, _, _ = published
    copy = tmp_path / "damaged"
    shutil.copytree(out, copy)
    data = bytearray((copy / layout.VALUES).read_bytes())
    data[-3] ^= 0x01  # one flipped bit in the last value
    (copy / layout.VALUES).write_bytes(bytes(data))
    with pytest.raises(TransferLensError, match=r"values\.npy is damaged.*Fix:"):
        open_bundle(copy)
    (copy / layout.projection_file("umap")).unlink()
    shutil.copy(out / layout.VALUES, copy / layout.VALUES)
    with pytest.raises(TransferLensError, match=r"umap\.npy is missing.*Fix:"):
        open_bundle(copy)
    with pytest.raises(TransferLensError, match=r"manifest\.json is missing"):
        open_bundle(tmp_path / "nowhere")


def test_open_bundle_does_not_import_tensorflow(published):
    _, out, _, _ = published
    # how long this takes is the benchmarks' figure (cache section, cache_open_worker)
    script = (
        "import sys\n"
        "from core.publish import open_bundle\n"
        f"bundle = open_bundle({str(out)!r})\n"
        "bundle.head, bundle.label_issues, bundle.thumbnail(0), bundle.transfer_values()\n"
        "bundle.knn_graph(), bundle.projection('umap')\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_thumbnails_round_trip(published):
    from core.datasets import load_dataset
    from core.datasets.thumbnails import thumbnail

    _, out, _, _ = published
    bundle = open_bundle(out)
    data = load_dataset(name="digits").limited(limit=LIMIT)
    for index in (0, 1, 63, 64, 65, LIMIT - 1):
        expected = thumbnail(data.images.get(index), size=bundle.manifest["thumbnails"]["size"])
        np.testing.assert_array_equal(bundle.thumbnail(index), expected)


def test_values_equal_the_cache(published):
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    _, out, cache, backbone = published
    bundle = open_bundle(out)
    tv = compute_transfer_values(dataset=load_dataset(name="digits").limited(limit=LIMIT),
                                 backbone=backbone, image_size=SIZE, cache_dir=cache)
    assert tv.cache == "hit"
    np.testing.assert_array_equal(bundle.values, np.asarray(tv.values).astype(bundle.values.dtype))
    for name in ("labels", "splits", "sample_ids"):
        np.testing.assert_array_equal(getattr(bundle, name), getattr(tv, name))
    shared = bundle.transfer_values()
    assert shared.key == bundle.manifest["values_key"] == bundle.head.tv_key
    assert shared.image_size == SIZE and shared.class_names == tv.class_names
    if bundle.values.dtype == np.float32:
        assert shared.key == tv.key


def test_publish_is_idempotent(published, capsys, tmp_path):
    summary, out, cache, backbone = published
    assert summary["status"] == "written"
    manifest = (out / layout.MANIFEST).read_bytes()
    again = publish(capsys, out=out, cache=cache, backbone=backbone)
    assert again["status"] == "unchanged" and again["files"] == summary["files"]
    assert (out / layout.MANIFEST).read_bytes() == manifest  # nothing rewritten, no git churn
    assert again["seconds"] < summary["seconds"] / 3
    # a new folder from the same cache recomputes nothing: the same files, byte for byte
    other = publish(capsys, out=tmp_path / "other", cache=cache, backbone=backbone)
    assert other["status"] == "written" and other["seconds"] < summary["seconds"]
    first = json.loads(manifest)["files"]
    second = json.loads((tmp_path / "other" / layout.MANIFEST).read_text())["files"]
    for files in (first, second):
        files.pop("head/manifest.json")  # holds the time the head was saved
    assert first == second


def test_list_bundles(published, tmp_path, monkeypatch):
    _, out, _, _ = published
    assert list_bundles(out.parent) == [out]
    monkeypatch.setenv("TRANSFER_LENS_BUNDLES", str(out.parent))
    assert list_bundles() == [out]
    assert list_bundles(tmp_path / "missing") == []


def test_html_share_is_self_contained(published, capsys, tmp_path):
    _, out, cache, backbone = published
    page = tmp_path / "share.html"
    summary = publish(capsys, out=out, cache=cache, backbone=backbone,
                      extra=("--html", str(page)))
    text = page.read_text()
    assert summary["html_bytes"] == page.stat().st_size
    assert "<script src" not in text and "<link" not in text  # nothing fetched from anywhere
    assert text.count("background-image:url(data:image/png;base64,") == len(open_bundle(out).manifest["thumbnails"]["sheets"])
    data = json.loads(text.split('id="data">', 1)[1].split("</script>", 1)[0])
    assert data["n"] == LIMIT and len(data["ids"]) == LIMIT and data["method"] == "umap"
