"""What a bundle's manifest and files must be before anything in them is trusted.

A bundle is data from outside (a clone, a download, a commit by anyone): every entry the
reader uses is checked for presence and type, every file name is a plain relative name that
stays inside the bundle folder (links included), and every sprite sheet's dimensions are read
from its PNG header and compared with the manifest before a pixel is decoded. Each failure
is a BundleError naming the entry, so no KeyError, AttributeError or ValueError (and no
decompression bomb) reaches a caller.
"""

from __future__ import annotations

import math
import struct
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.base.errors import BundleError
from core.publish import layout

MAX_NAME_BYTES = 1024  # a listed file's relative name, in UTF-8
MAX_TILE_PX = 1024  # a thumbnail tile's side: the writer's are the thumbnail size (32 px)
MAX_GRID = 1024  # tiles per sheet side
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VALUE_DTYPES = ("float16", "float32")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _need(entry: dict, key: str, kind: Callable[[Any], bool] | type, what: str, *,
          where: str, manifest_file: Path) -> Any:
    """`entry[key]`, which must exist and be `what` (checked by `kind`)."""
    name = f"{where}.{key}" if where else key
    if not isinstance(entry, dict):
        raise BundleError(f"{manifest_file}: entry \"{where}\" must be an object, not "
                          f"{type(entry).__name__}. Fix: publish the bundle again.")
    if key not in entry:
        raise BundleError(f"{manifest_file}: entry \"{name}\" is missing. Fix: publish the "
                          f"bundle again.")
    value = entry[key]
    ok = kind(value) if callable(kind) and not isinstance(kind, type) else isinstance(value, kind)
    if not ok:
        raise BundleError(f"{manifest_file}: entry \"{name}\" must be {what}, not "
                          f"{value!r:.60}. Fix: publish the bundle again.")
    return value


def safe_name(name: Any, *, entry: str, manifest_file: Path) -> str:
    """`name` if it is a plain relative file name (parts joined by "/", none empty, "." or
    "..", no backslash, no control character, at most MAX_NAME_BYTES), else BundleError."""
    problem = None
    if not isinstance(name, str) or not name:
        problem = "is not a file name"
    elif len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        problem = f"is longer than {MAX_NAME_BYTES} bytes"
    elif name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        problem = "is an absolute path"
    elif any(part in ("", ".", "..") for part in name.split("/")):
        problem = "is not a plain relative name (empty, '.' or '..' parts)"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "holds a control character"
    if problem:
        raise BundleError(f"{manifest_file}: entry \"{entry}\" names {name!r:.80}, which "
                          f"{problem}; a bundle lists only files inside its folder. Fix: "
                          f"publish the bundle again.")
    return name


def inside(root: Path, name: str, *, entry: str) -> Path:
    """root/name, refused if it resolves (through links) outside `root`."""
    path = root / name
    if not path.resolve().is_relative_to(root.resolve()):
        raise BundleError(f"{root / layout.MANIFEST}: entry \"{entry}\" ({name}) leads outside "
                          f"the bundle folder (a link). Fix: replace the link by the file "
                          f"or publish the bundle again.")
    return path


def check_manifest(manifest: Any, *, manifest_file: Path) -> dict[str, Any]:
    """Every entry the reader and the app use is present with its type; file names are safe
    and listed in `files` (so they are checksummed). Returns `manifest`."""
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_file} must hold a JSON object, not "
                          f"{type(manifest).__name__}. Fix: publish the bundle again.")
    need = lambda entry, key, kind, what, where="": _need(  # noqa: E731
        entry, key, kind, what, where=where, manifest_file=manifest_file)
    count = lambda v: _is_int(v) and v >= 0  # noqa: E731
    positive = lambda v: _is_int(v) and v >= 1  # noqa: E731
    for key in ("name", "backbone", "values_key"):
        need(manifest, key, str, "a string")
    need(manifest, "n", count, "a whole number ≥ 0")
    need(manifest, "dim", positive, "a whole number ≥ 1")
    need(manifest, "image_size", positive, "a whole number ≥ 1")
    need(manifest, "value_dtype", lambda v: v in VALUE_DTYPES, f"one of {VALUE_DTYPES}")
    need(manifest, "key_fields", dict, "an object")
    classes = need(manifest, "class_names", list, "a list of class names")
    if not classes or not all(isinstance(c, str) for c in classes):
        raise BundleError(f"{manifest_file}: entry \"class_names\" must be a non-empty list of "
                          f"strings. Fix: publish the bundle again.")
    dataset = need(manifest, "dataset", dict, "an object")
    for key in ("name", "source", "fingerprint"):
        need(dataset, key, str, "a string", "dataset")
    head = need(manifest, "head", dict, "an object")
    need(head, "title", str, "a string", "head")
    need(head, "metrics", dict, "an object", "head")
    knn = need(manifest, "knn", dict, "an object")
    need(knn, "n_neighbors", positive, "a whole number ≥ 1", "knn")
    need(knn, "metric", str, "a string", "knn")

    files = need(manifest, "files", dict, "an object of file name → {bytes, blake2b}")
    for name, entry in files.items():
        where = f"files[{name!r:.80}]"
        safe_name(name, entry=where, manifest_file=manifest_file)
        need(entry, "bytes", count, "a whole number ≥ 0", where)
        need(entry, "blake2b", str, "a checksum string", where)

    def listed(name: Any, where: str) -> str:
        safe_name(name, entry=where, manifest_file=manifest_file)
        if name not in files:
            raise BundleError(f"{manifest_file}: entry \"{where}\" names {name}, which "
                              f"'files' does not list (so it is not checksummed). Fix: "
                              f"publish the bundle again.")
        return name

    projections = need(manifest, "projections", dict, "an object of method → {file}")
    for method, entry in projections.items():
        listed(need(entry, "file", str, "a file name", f"projections[{method!r:.40}]"),
               f"projections[{method!r:.40}].file")
    thumbs = need(manifest, "thumbnails", dict, "an object")
    need(thumbs, "tile", lambda v: isinstance(v, list) and len(v) == 2 and all(
        _is_int(t) and 1 <= t <= MAX_TILE_PX for t in v),
        f"[height, width] with each side 1..{MAX_TILE_PX}", "thumbnails")
    grid = need(thumbs, "grid", lambda v: _is_int(v) and 1 <= v <= MAX_GRID,
                f"a whole number 1..{MAX_GRID}", "thumbnails")
    sheets = need(thumbs, "sheets", list, "a list of file names", "thumbnails")
    expected = math.ceil(manifest["n"] / grid ** 2)
    if len(sheets) != expected:
        raise BundleError(f"{manifest_file}: entry \"thumbnails.sheets\" lists {len(sheets)} "
                          f"sheets; {manifest['n']} thumbnails at {grid}×{grid} per sheet "
                          f"need {expected}. Fix: publish the bundle again.")
    for i, name in enumerate(sheets):
        listed(name, f"thumbnails.sheets[{i}]")
    listed(need(thumbs, "shapes", str, "a file name", "thumbnails"), "thumbnails.shapes")
    return manifest


def sheet_size(*, manifest: dict[str, Any], sheet: int) -> tuple[int, int]:
    """(width, height) in pixels that sprite sheet `sheet` must have (as the writer makes it:
    `grid` tiles wide, as many rows of tiles as its thumbnails need)."""
    meta = manifest["thumbnails"]
    grid, (tile_h, tile_w) = int(meta["grid"]), (int(v) for v in meta["tile"])
    count = min(grid * grid, int(manifest["n"]) - sheet * grid * grid)
    return grid * tile_w, math.ceil(count / grid) * tile_h


def png_size(path: Path, *, entry: str) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR header (24 bytes read, nothing decoded)."""
    with open(path, "rb") as file:
        head = file.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise BundleError(f"{path} ({entry}) is not a PNG image. Fix: publish the bundle "
                          f"again.")
    return struct.unpack(">II", head[16:24])


def read_checked_sheet(path: Path, *, manifest: dict[str, Any], sheet: int) -> np.ndarray:
    """Sprite sheet `sheet` as RGB uint8, its header checked against the size the manifest
    implies and against PIL's decompression-bomb limit before it is decoded."""
    from PIL import Image

    entry = f"thumbnails.sheets[{sheet}]"
    width, height = png_size(path, entry=entry)
    want = sheet_size(manifest=manifest, sheet=sheet)
    if (width, height) != want:
        raise BundleError(f"{path} ({entry}) is {width}×{height} px; the manifest's tiles "
                          f"make it {want[0]}×{want[1]}. Fix: publish the bundle again.")
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise BundleError(f"{path} ({entry}) has {width * height:,} pixels, over the "
                          f"{limit:,} an image may have. Fix: publish with a smaller "
                          f"--sheet-grid.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                if picture.size != (width, height):
                    raise BundleError(f"{path} ({entry}) is not the image its header says.")
                pixels = np.asarray(picture.convert("RGB"))
    except BundleError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as error:
        raise BundleError(f"{path} ({entry}) cannot be decoded ({type(error).__name__}: "
                          f"{error}). Fix: publish the bundle again.") from error
    return pixels


def load_array(path: Path, *, entry: str, shape: tuple[int | None, ...],
               kinds: str) -> np.ndarray:
    """The .npy at `path` memory-mapped, with `shape` (None: any length) and a dtype kind in
    `kinds` (numpy's dtype.kind letters), else BundleError naming `entry`."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise BundleError(f"{path} ({entry}) is not a readable .npy array ({error}). Fix: "
                          f"publish the bundle again.") from error
    fits = len(array.shape) == len(shape) and all(
        want is None or got == want for got, want in zip(array.shape, shape))
    if not fits or array.dtype.kind not in kinds:
        want = "×".join("any" if s is None else str(s) for s in shape)
        raise BundleError(f"{path} ({entry}) holds a {array.dtype} array of shape "
                          f"{tuple(array.shape)}; the manifest needs {want} ({kinds!r} kind). "
                          f"Fix: publish the bundle again.")
    return array
