"""`open_bundle`: a published bundle, verified and memory-mapped, without TensorFlow.

Opening checks the manifest (format, version) and every file's size and checksum, so a
damaged or half-copied bundle fails at once with the file's name and the fix rather than
later with a wrong picture. Arrays are memory-mapped (opening 10k points reads only the
checksummed bytes once); the head, label issues and sprite sheets load on first use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from core.base.errors import BundleError, TransferLensError
from core.base.hashing import hash_file
from core.base.paths import REPO_ROOT
from core.publish import layout
from core.publish.checks import check_manifest, inside, load_array, read_checked_sheet

BUNDLES_ENV = "TRANSFER_LENS_BUNDLES"
MAX_MANIFEST_BYTES = 16_000_000  # the committed bundle's is 5 kB
REQUIRED = (layout.VALUES, layout.LABELS, layout.SPLITS, layout.SAMPLE_IDS,
            layout.PROBABILITIES, layout.KNN_INDICES, layout.KNN_DISTANCES, layout.LABEL_ISSUES,
            layout.THUMB_SHAPES, *map(layout.projection_file, layout.PROJECTION_METHODS))


@dataclass
class Bundle:
    """A bundle's manifest and its arrays (read-only memory maps)."""

    path: Path
    manifest: dict[str, Any]
    values: np.ndarray  # (N, D) float16 or float32
    labels: np.ndarray  # (N,) int64
    splits: np.ndarray  # (N,) uint8 split codes (core.base.splits)
    sample_ids: np.ndarray  # (N,) str
    probabilities: np.ndarray  # (N, C) float16, the default head's
    knn_indices: np.ndarray  # (N, k) int32, nearest first, self excluded
    knn_distances: np.ndarray  # (N, k) float32
    _sheets: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["class_names"])

    @property
    def n(self) -> int:
        return int(self.manifest["n"])

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.manifest["projections"])

    def projection(self, method: str = "umap") -> np.ndarray:
        """(N, 2) float32 coordinates of `method` (pca, tsne or umap)."""
        if method not in self.manifest["projections"]:
            raise ValueError(f"bundle {self.name} has no {method!r} projection; "
                             f"it has {', '.join(self.methods)}")
        return self._array(self.manifest["projections"][method]["file"],
                           entry=f"projections[{method!r}].file", shape=(self.n, 2),
                           kinds="f")

    def knn_graph(self):
        """The kNN graph as core's KNNGraph (what label issues and neighbour views take)."""
        from core.analysis.neighbors import KNNGraph

        graph = KNNGraph(n_neighbors=int(self.manifest["knn"]["n_neighbors"]),
                         metric=self.manifest["knn"]["metric"])
        graph.indices_, graph.distances_ = self.knn_indices, self.knn_distances
        graph.n_neighbors_ = int(self.knn_indices.shape[1])
        graph.key, graph.cache = self.manifest["knn"].get("key"), "hit"
        return graph

    @cached_property
    def head(self):
        """The default head (a TrainedHead; logistic regression loads without TensorFlow)."""
        from core.heads import load_head

        folder = inside(self.path, layout.HEAD, entry="head")
        try:
            return load_head(folder)
        except TransferLensError:
            raise
        except (OSError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise BundleError(f"{folder} (head) is not a readable saved head "
                              f"({type(error).__name__}: {error}). Fix: publish the bundle "
                              f"again.") from error

    @cached_property
    def label_issues(self):
        """Suspected label errors, most suspicious first (core.analysis.label_issues)."""
        import pandas as pd

        file = inside(self.path, layout.LABEL_ISSUES, entry="label_issues")
        try:
            return pd.read_parquet(file)
        except (OSError, ValueError) as error:  # pyarrow's errors are both
            raise BundleError(f"{file} (label_issues) is not a readable Parquet table "
                              f"({error}). Fix: publish the bundle again.") from error

    def thumbnail(self, index: int) -> np.ndarray:
        """Sample `index`'s thumbnail (RGB uint8), cropped from its sprite sheet."""
        from core.publish.sprites import crop_tile, tile_position

        meta = self.manifest["thumbnails"]
        if not 0 <= index < self.n:
            raise IndexError(f"sample index {index} is outside 0..{self.n - 1}")
        sheet, _, _ = tile_position(index, grid=meta["grid"])
        shape = tuple(int(v) for v in self._shapes()[index])
        return crop_tile(self._sheet(sheet), index=index - sheet * meta["grid"] ** 2,
                         grid=meta["grid"], tile=tuple(meta["tile"]), shape=shape)

    def dataset(self):
        """The bundle's samples as an ImageDataset whose images are its thumbnails (same
        labels, splits, sample ids and order as the values), so galleries work unchanged.

        Every sheet is decoded once; tiles of one shape become one ArrayImages (a copy of
        N × tile pixels: 8 MB for 10k RGB 28 × 28), mixed shapes crop lazily per image. The
        fingerprint differs from the source dataset's: these pixels are thumbnails, so no
        cache entry of the full-size images may be mistaken for theirs."""
        from core.base.hashing import hash_key
        from core.datasets.base import ImageDataset

        m = self.manifest
        return ImageDataset(
            name=str(m["dataset"]["name"]), images=self._thumbnail_store(),
            labels=np.asarray(self.labels, dtype=np.int64), class_names=self.class_names,
            splits=np.asarray(self.splits), sample_ids=np.asarray(self.sample_ids),
            fingerprint=hash_key({"bundle_thumbnails": m["dataset"]["fingerprint"],
                                  "inputs_key": m.get("inputs_key")}))

    def _thumbnail_store(self):
        from core.datasets.base import ArrayImages

        meta = self.manifest["thumbnails"]
        shapes = self._shapes()
        grid, (tile_h, tile_w) = int(meta["grid"]), (int(v) for v in meta["tile"])
        if self.n and (shapes == shapes[0]).all():
            height, width = (int(v) for v in shapes[0])
            parts = []
            for sheet in range(len(meta["sheets"])):
                pixels = self._sheet(sheet)
                rows = pixels.shape[0] // tile_h
                tiles = (pixels[:rows * tile_h].reshape(rows, tile_h, grid, tile_w, 3)
                         .transpose(0, 2, 1, 3, 4).reshape(rows * grid, tile_h, tile_w, 3))
                parts.append(tiles[:min(grid * grid, self.n - sheet * grid * grid),
                                   :height, :width])
            return ArrayImages(np.ascontiguousarray(np.concatenate(parts)))
        return _TileImages(self, np.arange(self.n))

    def transfer_values(self):
        """The values as core's TransferValues (key = the bundle's `values_key`), so views
        and analyses that take one run on a bundle, and find its cached results."""
        from core.features.transfer_values import TransferValues

        m = self.manifest
        return TransferValues(
            values=self.values, labels=self.labels, splits=self.splits,
            sample_ids=self.sample_ids, class_names=self.class_names, key=m["values_key"],
            path=self.path / layout.VALUES, cache="hit", seconds=0.0,
            manifest={"key_fields": m["key_fields"], "dataset_name": m["dataset"]["name"],
                      "class_names": m["class_names"], "backbone": m["backbone"],
                      "shape": [self.n, self.dim], "dtype": m["value_dtype"], "n": self.n,
                      "dim": self.dim, "bundle": str(self.path)})

    def _sheet(self, sheet: int) -> np.ndarray:
        """Sprite sheet `sheet`, decoded once (its size checked before decoding)."""
        if sheet not in self._sheets:
            name = self.manifest["thumbnails"]["sheets"][sheet]
            self._sheets[sheet] = read_checked_sheet(
                inside(self.path, name, entry=f"thumbnails.sheets[{sheet}]"),
                manifest=self.manifest, sheet=sheet)
        return self._sheets[sheet]

    def _shapes(self) -> np.ndarray:
        """(N, 2) thumbnail (height, width), each within the manifest's tile."""
        meta = self.manifest["thumbnails"]
        shapes = self._array(meta["shapes"], entry="thumbnails.shapes", shape=(self.n, 2),
                             kinds="iu")
        tile = np.asarray(meta["tile"])
        if len(shapes) and ((np.asarray(shapes) > tile).any() or (np.asarray(shapes) < 1).any()):
            raise BundleError(f"{self.path / meta['shapes']} (thumbnails.shapes) holds a "
                              f"thumbnail larger than the {tile[0]}×{tile[1]} tile or empty. "
                              f"Fix: publish the bundle again.")
        return shapes

    def _array(self, name: str, *, entry: str, shape: tuple[int | None, ...],
               kinds: str) -> np.ndarray:
        return load_array(inside(self.path, name, entry=entry), entry=entry, shape=shape,
                          kinds=kinds)


class _TileImages:
    """Thumbnails of mixed shapes, cropped from the bundle's sheets when asked for."""

    def __init__(self, bundle: Bundle, indices: np.ndarray) -> None:
        self.bundle, self.indices = bundle, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def get(self, index: int) -> np.ndarray:
        return self.bundle.thumbnail(int(self.indices[index]))

    def take(self, indices: np.ndarray) -> "_TileImages":
        return _TileImages(self.bundle, self.indices[np.asarray(indices)])

    @property
    def uniform_shape(self) -> None:
        return None


def open_bundle(path: str | Path, *, verify: bool = True) -> Bundle:
    """The bundle in folder `path`; the manifest's entries and file names are checked first,
    then (with `verify`) every file's size and checksum, then each array's shape and type
    against the manifest. A BundleError (a TransferLensError) names the entry and the fix."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_files(path, manifest, checksums=verify)
    n, dim, classes = manifest["n"], manifest["dim"], len(manifest["class_names"])
    k = manifest["knn"]["n_neighbors"]

    def load(name: str, shape: tuple[int | None, ...], kinds: str) -> np.ndarray:
        return load_array(inside(path, name, entry=f"files[{name!r}]"),
                          entry=f"files[{name!r}]", shape=shape, kinds=kinds)

    bundle = Bundle(path=path, manifest=manifest, values=load(layout.VALUES, (n, dim), "f"),
                    labels=load(layout.LABELS, (n,), "iu"), splits=load(layout.SPLITS, (n,), "iu"),
                    sample_ids=load(layout.SAMPLE_IDS, (n,), "U"),
                    probabilities=load(layout.PROBABILITIES, (n, classes), "f"),
                    knn_indices=load(layout.KNN_INDICES, (n, k), "iu"),
                    knn_distances=load(layout.KNN_DISTANCES, (n, k), "f"))
    # indices read later as positions: out-of-range ones would raise IndexError in a view
    for name, array, bound in ((layout.LABELS, bundle.labels, classes),
                               (layout.KNN_INDICES, bundle.knn_indices, max(n, 1))):
        if array.size and (int(array.min()) < 0 or int(array.max()) >= bound):
            raise BundleError(f"{path / name} (files[{name!r}]) holds values outside "
                              f"0..{bound - 1}. Fix: publish the bundle again.")
    return bundle


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the bundle at `path`, checked for format, version and every entry the
    reader uses (core.publish.checks)."""
    path = Path(path)
    file = path / layout.MANIFEST
    try:
        size = file.stat().st_size
        if size > MAX_MANIFEST_BYTES:  # read whole below: bounded first
            raise BundleError(f"{file} is {size:,} bytes, over the {MAX_MANIFEST_BYTES:,} a "
                              f"bundle manifest may have. Fix: publish the bundle again.")
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise BundleError(f"{file} is missing, so {path} is not a published bundle. "
                          f"Fix: publish one with `python -m core publish --out {path}`."
                          ) from None
    except (OSError, ValueError) as error:
        raise BundleError(f"{file} is unreadable ({error}). Fix: restore the bundle "
                          f"(git checkout -- {path}) or publish it again.") from error
    if not isinstance(manifest, dict) or manifest.get("format") != layout.FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise BundleError(f"{file} is not a Transfer Lens bundle manifest (format "
                          f"{found!r}, expected {layout.FORMAT!r}).")
    if manifest.get("format_version") != layout.FORMAT_VERSION:
        command = manifest.get("command")
        raise BundleError(
            f"{file} has bundle format version {manifest.get('format_version')!r:.40}; this "
            f"Transfer Lens reads version {layout.FORMAT_VERSION}. Fix: publish the bundle "
            f"again with this version: "
            f"{command if isinstance(command, str) else 'python -m core publish'}")
    return check_manifest(manifest, manifest_file=file)


def verify_files(path: Path, manifest: dict[str, Any], *, checksums: bool = True) -> None:
    """Every listed file is a file inside the bundle (no link out of it) with its recorded
    size and (with `checksums`) checksum; the required ones are listed. Raises BundleError
    naming the first file at fault. `manifest` is one read_manifest checked."""
    command = manifest.get("command")
    fix = (f"Fix: restore the bundle from git (git checkout -- {path}) or publish it again: "
           f"{command if isinstance(command, str) else 'python -m core publish'}")
    files = manifest["files"]
    for name in REQUIRED:
        if name not in files:
            raise BundleError(f"{path / layout.MANIFEST} does not list {name}. {fix}")
    for name, entry in files.items():
        file = inside(path, name, entry=f"files[{name!r}]")
        if not file.is_file():
            raise BundleError(f"{file} is missing from the bundle. {fix}")
        size = file.stat().st_size
        if size != entry["bytes"]:
            raise BundleError(f"{file} is damaged: {size} bytes, the manifest says "
                              f"{entry['bytes']}. {fix}")
        if checksums and hash_file(file) != entry["blake2b"]:
            raise BundleError(f"{file} is damaged: its checksum differs from the "
                              f"manifest's. {fix}")


def bundles_root() -> Path:
    """$TRANSFER_LENS_BUNDLES, else demo/ at the repository root."""
    return Path(os.environ.get(BUNDLES_ENV) or REPO_ROOT / "demo").expanduser()


def list_bundles(root: str | Path | None = None) -> list[Path]:
    """Bundle folders under `root` (default `bundles_root()`), by path; not verified."""
    root = Path(root) if root is not None else bundles_root()
    if not root.is_dir():
        return []
    found = []
    for manifest in sorted(root.rglob(layout.MANIFEST)):
        folder = manifest.parent
        if any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue  # a bundle being written (atomic_folder's temp folder) or moved aside
        try:
            if manifest.stat().st_size > MAX_MANIFEST_BYTES:
                continue  # not one publish wrote; opening it would say so
            listed = json.loads(manifest.read_text())
            if isinstance(listed, dict) and listed.get("format") == layout.FORMAT:
                found.append(folder)
        except (OSError, ValueError):
            continue
    return found
