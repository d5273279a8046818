"""The bundle format: one folder of open files (npy, parquet, png, json) plus a manifest.

Shared by the writer and the reader so both name every file the same way. Bump
FORMAT_VERSION when a file changes meaning; the reader refuses other versions.
"""

from __future__ import annotations

FORMAT = "transfer-lens-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

VALUES = "values.npy"
LABELS = "labels.npy"
SPLITS = "splits.npy"
SAMPLE_IDS = "sample_ids.npy"
PROBABILITIES = "probabilities.npy"
KNN_INDICES = "knn_indices.npy"
KNN_DISTANCES = "knn_distances.npy"
LABEL_ISSUES = "label_issues.parquet"
HEAD = "head"
PROJECTIONS = "projections"
SPRITES = "sprites"
THUMB_SHAPES = f"{SPRITES}/shapes.npy"  # (N, 2) height, width of each thumbnail in its tile

PROJECTION_METHODS = ("pca", "tsne", "umap")


def projection_file(method: str) -> str:
    return f"{PROJECTIONS}/{method}.npy"


def sprite_file(sheet: int) -> str:
    return f"{SPRITES}/sheet_{sheet:03d}.png"
