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

from core.base.errors import TransferLensError
from core.base.hashing import hash_file
from core.base.paths import REPO_ROOT
from core.publish import layout

BUNDLES_ENV = "TRANSFER_LENS_BUNDLES"
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
        return self._array(self.manifest["projections"][method]["file"])

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

        return load_head(self.path / layout.HEAD)

    @cached_property
    def label_issues(self):
        """Suspected label errors, most suspicious first (core.analysis.label_issues)."""
        import pandas as pd

        return pd.read_parquet(self.path / layout.LABEL_ISSUES)

    def thumbnail(self, index: int) -> np.ndarray:
        """Sample `index`'s thumbnail (RGB uint8), cropped from its sprite sheet."""
        from core.publish.sprites import crop_tile, read_sheet, tile_position

        meta = self.manifest["thumbnails"]
        if not 0 <= index < self.n:
            raise IndexError(f"sample index {index} is outside 0..{self.n - 1}")
        sheet, _, _ = tile_position(index, grid=meta["grid"])
        if sheet not in self._sheets:
            self._sheets[sheet] = read_sheet(self.path / meta["sheets"][sheet])
        shape = tuple(int(v) for v in self._array(meta["shapes"])[index])
        return crop_tile(self._sheets[sheet], index=index - sheet * meta["grid"] ** 2,
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
        from core.publish.sprites import read_sheet

        meta = self.manifest["thumbnails"]
        shapes = self._array(meta["shapes"])
        grid, (tile_h, tile_w) = int(meta["grid"]), (int(v) for v in meta["tile"])
        if self.n and (shapes == shapes[0]).all():
            height, width = (int(v) for v in shapes[0])
            parts = []
            for sheet, name in enumerate(meta["sheets"]):
                pixels = self._sheets.get(sheet)
                if pixels is None:
                    pixels = self._sheets[sheet] = read_sheet(self.path / name)
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

    def _array(self, name: str) -> np.ndarray:
        return np.load(self.path / name, mmap_mode="r", allow_pickle=False)


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
    """The bundle in folder `path`; with `verify` every file's size and checksum is checked
    against the manifest first (TransferLensError names the file and the fix)."""
    path = Path(path)
    manifest = read_manifest(path)
    if verify:
        verify_files(path, manifest)
    load = lambda name: np.load(path / name, mmap_mode="r", allow_pickle=False)  # noqa: E731
    return Bundle(path=path, manifest=manifest, values=load(layout.VALUES),
                  labels=load(layout.LABELS), splits=load(layout.SPLITS),
                  sample_ids=load(layout.SAMPLE_IDS), probabilities=load(layout.PROBABILITIES),
                  knn_indices=load(layout.KNN_INDICES), knn_distances=load(layout.KNN_DISTANCES))


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the bundle at `path`, checked for format and version."""
    file = path / layout.MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise TransferLensError(f"{file} is missing, so {path} is not a published bundle. "
                                f"Fix: publish one with `python -m core publish --out {path}`."
                                ) from None
    except (OSError, ValueError) as error:
        raise TransferLensError(f"{file} is unreadable ({error}). Fix: restore the bundle "
                                f"(git checkout -- {path}) or publish it again.") from error
    if manifest.get("format") != layout.FORMAT:
        raise TransferLensError(f"{file} is not a Transfer Lens bundle manifest (format "
                                f"{manifest.get('format')!r}, expected {layout.FORMAT!r}).")
    if manifest.get("format_version") != layout.FORMAT_VERSION:
        raise TransferLensError(
            f"{file} has bundle format version {manifest.get('format_version')}; this Transfer "
            f"Lens reads version {layout.FORMAT_VERSION}. Fix: publish the bundle again with "
            f"this version: {manifest.get('command') or 'python -m core publish'}")
    return manifest


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Every listed file exists with its recorded size and checksum; the required ones are
    listed. Raises TransferLensError naming the first file at fault."""
    fix = (f"Fix: restore the bundle from git (git checkout -- {path}) or publish it again: "
           f"{manifest.get('command') or 'python -m core publish'}")
    files = manifest.get("files", {})
    for name in REQUIRED:
        if name not in files:
            raise TransferLensError(f"{path / layout.MANIFEST} does not list {name}. {fix}")
    for name, entry in files.items():
        file = path / name
        if not file.is_file():
            raise TransferLensError(f"{file} is missing from the bundle. {fix}")
        size = file.stat().st_size
        if size != entry["bytes"]:
            raise TransferLensError(f"{file} is damaged: {size} bytes, the manifest says "
                                    f"{entry['bytes']}. {fix}")
        if hash_file(file) != entry["blake2b"]:
            raise TransferLensError(f"{file} is damaged: its checksum differs from the "
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
            if json.loads(manifest.read_text()).get("format") == layout.FORMAT:
                found.append(folder)
        except (OSError, ValueError):
            continue
    return found
