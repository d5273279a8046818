"""`open_bundle` on a hostile or malformed bundle (issue 27): only plain relative names inside
the folder, every malformed entry or file a BundleError naming it, sprite sheets size-checked
before decoding. Each test copies the committed demo bundle and damages one thing."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from core.base.errors import BundleError, TransferLensError
from core.base.hashing import hash_file
from core.publish import layout, open_bundle
from core.publish.bundle import read_manifest

DEMO = Path(__file__).resolve().parent.parent / "demo" / "fashion_mnist_10k"


@pytest.fixture
def bundle_dir(tmp_path) -> Path:
    if not (DEMO / layout.MANIFEST).is_file():
        pytest.skip("the committed demo bundle is not present")
    out = tmp_path / "demo" / "b"
    shutil.copytree(DEMO, out)
    return out


def edit(folder: Path, change) -> None:
    manifest = json.loads((folder / layout.MANIFEST).read_text())
    change(manifest)
    (folder / layout.MANIFEST).write_text(json.dumps(manifest))


def entry_of(file: Path) -> dict:
    return {"bytes": file.stat().st_size, "blake2b": hash_file(file)}


def test_bundle_error_is_a_transfer_lens_error():
    assert issubclass(BundleError, TransferLensError)


@pytest.mark.parametrize("name", ["../../outside.txt", "/etc/hostname", "sprites/../../x.npy",
                                  "./values.npy", "a//b", "C:\\x", "sprites\\..\\x", "",
                                  "x" * 1100, "bad\x00name"])
def test_file_names_outside_or_not_plain_are_refused(bundle_dir, tmp_path, name):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    # with the right size and checksum, as a forger would write them
    edit(bundle_dir, lambda m: m["files"].__setitem__(name, entry_of(outside)))
    with pytest.raises(BundleError, match=r"files\["):
        open_bundle(bundle_dir)


def test_projection_and_sprite_entries_must_be_listed_plain_names(bundle_dir):
    edit(bundle_dir, lambda m: m["projections"]["umap"].__setitem__("file", "../umap.npy"))
    with pytest.raises(BundleError, match=r"projections\['umap'\]\.file"):
        open_bundle(bundle_dir)
    edit(bundle_dir, lambda m: m["projections"]["umap"].__setitem__("file", "manifest.json"))
    with pytest.raises(BundleError, match=r"'files' does not list"):
        open_bundle(bundle_dir)
    edit(bundle_dir, lambda m: (m["projections"]["umap"].__setitem__("file", "projections/umap.npy"),
                                m["thumbnails"]["sheets"].__setitem__(0, "/etc/passwd")))
    with pytest.raises(BundleError, match=r"thumbnails\.sheets\[0\]"):
        open_bundle(bundle_dir)


def test_a_link_out_of_the_folder_is_refused(bundle_dir, tmp_path):
    outside = tmp_path / "elsewhere.npy"
    shutil.copy(bundle_dir / layout.VALUES, outside)  # same bytes: the checksum would pass
    (bundle_dir / layout.VALUES).unlink()
    (bundle_dir / layout.VALUES).symlink_to(outside)
    with pytest.raises(BundleError, match=r"leads outside the bundle folder"):
        open_bundle(bundle_dir)


def test_a_link_inside_the_folder_is_fine(bundle_dir):
    (bundle_dir / "spare.npy").write_bytes((bundle_dir / layout.VALUES).read_bytes())
    (bundle_dir / layout.VALUES).unlink()
    (bundle_dir / layout.VALUES).symlink_to(bundle_dir / "spare.npy")
    assert open_bundle(bundle_dir, verify=False).values.shape == (10000, 1280)


@pytest.mark.parametrize("change, entry", [
    (lambda m: m["files"]["values.npy"].pop("bytes"), r"files\['values\.npy'\]\.bytes\" is missing"),
    (lambda m: m.__setitem__("files", list(m["files"])), r'"files" must be an object'),
    (lambda m: m.__setitem__("n", "lots"), r'"n" must be a whole number'),
    (lambda m: m.__setitem__("n", True), r'"n" must be a whole number'),
    (lambda m: m.__setitem__("dim", -3), r'"dim" must be a whole number'),
    (lambda m: m.pop("class_names"), r'"class_names" is missing'),
    (lambda m: m.__setitem__("class_names", [1, 2]), r'"class_names" must be a non-empty list'),
    (lambda m: m.__setitem__("dataset", "fashion"), r'"dataset" must be an object'),
    (lambda m: m["dataset"].pop("name"), r'"dataset\.name" is missing'),
    (lambda m: m.__setitem__("knn", {"n_neighbors": "15", "metric": "euclidean"}),
     r'"knn\.n_neighbors" must be'),
    (lambda m: m["projections"].__setitem__("umap", "projections/umap.npy"),
     r"\"projections\['umap'\]\" must be an object"),
    (lambda m: m["thumbnails"].__setitem__("grid", 0), r'"thumbnails\.grid" must be'),
    (lambda m: m["thumbnails"].__setitem__("tile", [28]), r'"thumbnails\.tile" must be'),
    (lambda m: m["thumbnails"].__setitem__("sheets", ["sprites/sheet_000.png"]),
     r'"thumbnails\.sheets" lists 1 sheets'),
    (lambda m: m["files"]["labels.npy"].__setitem__("blake2b", None),
     r"files\['labels\.npy'\]\.blake2b\" must be"),
    (lambda m: m.__setitem__("format_version", 99), r"format version 99"),
    (lambda m: m.__setitem__("format_version", "1"), r"format version '1'"),
    (lambda m: m.pop("format"), r"not a Transfer Lens bundle manifest"),
    (lambda m: m["files"].pop("knn_indices.npy"), r"does not list knn_indices\.npy"),
])
def test_malformed_manifests_are_bundle_errors_naming_the_entry(bundle_dir, change, entry):
    edit(bundle_dir, change)
    with pytest.raises(BundleError, match=entry):
        open_bundle(bundle_dir)


def test_a_manifest_that_is_not_an_object(bundle_dir):
    (bundle_dir / layout.MANIFEST).write_text("[1, 2, 3]")
    with pytest.raises(BundleError, match=r"not a Transfer Lens bundle manifest"):
        read_manifest(bundle_dir)


def replace_file(folder: Path, name: str, data: bytes) -> None:
    """Write `data` as `name` and list it with its right size and checksum."""
    (folder / name).write_bytes(data)
    edit(folder, lambda m: m["files"].__setitem__(name, entry_of(folder / name)))


def npy_bytes(array: np.ndarray, tmp_path: Path) -> bytes:
    file = tmp_path / "a.npy"
    np.save(file, array, allow_pickle=False)
    return file.read_bytes()


def test_malformed_files_are_bundle_errors(bundle_dir, tmp_path):
    replace_file(bundle_dir, layout.VALUES, b"not an array at all")
    with pytest.raises(BundleError, match=r"values\.npy.*not a readable \.npy"):
        open_bundle(bundle_dir)
    replace_file(bundle_dir, layout.VALUES, npy_bytes(np.zeros((10, 1280), np.float32), tmp_path))
    with pytest.raises(BundleError, match=r"values\.npy.*shape \(10, 1280\).*10000×1280"):
        open_bundle(bundle_dir)
    shutil.copy(DEMO / layout.VALUES, bundle_dir / layout.VALUES)
    edit(bundle_dir, lambda m: m["files"].__setitem__(layout.VALUES, entry_of(DEMO / layout.VALUES)))
    replace_file(bundle_dir, layout.LABELS, npy_bytes(np.full(10000, 12, np.int64), tmp_path))
    with pytest.raises(BundleError, match=r"labels\.npy.*outside 0\.\.9"):
        open_bundle(bundle_dir)


def test_a_malformed_projection_or_shape_file(bundle_dir, tmp_path):
    replace_file(bundle_dir, "projections/umap.npy",
                 npy_bytes(np.zeros((10000, 3), np.float32), tmp_path))
    bundle = open_bundle(bundle_dir)
    with pytest.raises(BundleError, match=r"projections\['umap'\]\.file"):
        bundle.projection("umap")
    replace_file(bundle_dir, layout.THUMB_SHAPES,
                 npy_bytes(np.full((10000, 2), 500, np.uint16), tmp_path))
    with pytest.raises(BundleError, match=r"thumbnails\.shapes.*larger than the 28×28 tile"):
        open_bundle(bundle_dir).thumbnail(0)


def png_with_header(width: int, height: int) -> bytes:
    """A tiny real PNG whose IHDR claims `width` × `height` (the body is a 1×1 image)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data  # noqa: E731
                                + struct.pack(">I", zlib.crc32(kind + data)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def test_a_sheet_larger_than_its_tiles_is_refused_before_decoding(bundle_dir):
    replace_file(bundle_dir, "sprites/sheet_000.png", png_with_header(60000, 60000))
    bundle = open_bundle(bundle_dir)
    with pytest.raises(BundleError, match=r"sheet_000\.png \(thumbnails\.sheets\[0\]\) is "
                                          r"60000×60000 px; the manifest's tiles make it 1792×1792"):
        bundle.thumbnail(0)


def test_a_decompression_bomb_the_manifest_agrees_with_is_refused(bundle_dir):
    # the manifest claims 1024 px tiles on a 1024-tile grid: one sheet of 1,048,576 × 10,240 px
    def huge(m):
        m["thumbnails"].update(tile=[1024, 1024], grid=1024, sheets=["sprites/sheet_000.png"])
    replace_file(bundle_dir, "sprites/sheet_000.png", png_with_header(1024 * 1024, 10 * 1024))
    edit(bundle_dir, huge)
    bundle = open_bundle(bundle_dir)
    with pytest.raises(BundleError, match=r"10,737,418,240 pixels, over the"):
        bundle.thumbnail(0)
    with pytest.raises(BundleError, match=r"pixels, over the"):
        bundle.dataset()


def test_pil_bomb_limit_and_undecodable_sheets_are_bundle_errors(bundle_dir, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(BundleError, match=r"3,211,264 pixels, over the 1,000"):
        open_bundle(bundle_dir).thumbnail(0)
    monkeypatch.undo()
    replace_file(bundle_dir, "sprites/sheet_001.png", png_with_header(1792, 1792))
    with pytest.raises(BundleError, match=r"sheet_001\.png \(thumbnails\.sheets\[1\]\) cannot "
                                          r"be decoded"):
        open_bundle(bundle_dir).thumbnail(4096)
    replace_file(bundle_dir, "sprites/sheet_002.png", b"GIF89a not a png")
    with pytest.raises(BundleError, match=r"sheet_002\.png.*is not a PNG"):
        open_bundle(bundle_dir).thumbnail(9000)


def test_an_unreadable_label_issues_table(bundle_dir):
    replace_file(bundle_dir, layout.LABEL_ISSUES, b"PAR1 this is not parquet")
    with pytest.raises(BundleError, match=r"label_issues\.parquet \(label_issues\)"):
        open_bundle(bundle_dir).label_issues


def test_the_committed_bundle_still_opens_whole(bundle_dir):
    bundle = open_bundle(bundle_dir)
    assert bundle.thumbnail(9999).shape == (28, 28, 3)
    assert len(bundle.dataset()) == bundle.n == 10000
    assert bundle.projection("umap").shape == (10000, 2)


def test_an_oversized_manifest_is_refused_before_reading(bundle_dir, monkeypatch):
    from core.publish import bundle as bundle_module

    monkeypatch.setattr(bundle_module, "MAX_MANIFEST_BYTES", 1_000)
    with pytest.raises(BundleError, match=r"manifest\.json is [\d,]+ bytes, over the 1,000"):
        open_bundle(bundle_dir)
