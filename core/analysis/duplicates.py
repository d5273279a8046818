"""Exact and near-duplicate groups, and duplicates across splits.

Candidates come from neighbour searches: each sample's 20 nearest in the cached kNN
graph of the transfer values (PCA-50, euclidean), and — when the images are given — its
15 nearest by pixel spectrum (pixel_match.spectrum_signatures) and its 15 nearest among
the thumbnails aligned on their centroid (pixel_match.aligned_thumbnails): two searches
that a shift does not defeat. A candidate pair is a duplicate when either confirmation holds:

- **pixels** (needs the images): the RMS difference of the two blurred grey thumbnails
  after the best shift of up to 10 % of the side is at most `pixel_threshold` of the
  0–255 range (default 0.015; pixel_match.py says how it is computed);
- **features**: their transfer-value distance is at most `threshold` × the dataset's median
  nearest-neighbour distance (default 0.1: exact copies and near-identical renders).

Groups are the connected components of those pairs; each row says which confirmation
matched (`match`).

Why both: transfer values of 28 px images do not separate a re-encoded copy from a
look-alike. Measured on Fashion-MNIST 10k (Lite0 @96 px, 100 copies of train images of
each kind placed in test): JPEG (quality 50–79), 1–2 px shifted and resized (×0.6–0.8 or
×1.5–2 and back) copies sit at a median 0.90, 0.83 and 1.01 × the median neighbour
distance from their original, where Fashion's own distinct-but-alike products are, and
only 69, 69 and 46 % have the original as their nearest neighbour. On the pixels, at the
default 0.015 the same copies were found 100, 100 and 99 % of the time (candidates: the
original was among the 20 graph or 10 spectrum neighbours of 100 / 99 / 100 % of them),
with 43 of 205,811 candidate pairs among the original 10k images also under 0.015 —
mostly plain trousers and dark shirts that look identical at 28 px. The benchmark
(section 7) re-measures this on fresh seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from core.analysis import pixel_match
from core.analysis.neighbors import KNNGraph, knn_graph
from core.base.cache import ArrayCache
from core.base.errors import DatasetError
from core.base.hashing import hash_array, hash_key
from core.base.progress import ProgressCallback
from core.base.splits import TEST, TRAIN
from core.datasets.base import ImageDataset
from core.features.transfer_values import TransferValues

DEFAULT_THRESHOLD = 0.1  # features: × median nearest-neighbour distance
DEFAULT_PIXEL_THRESHOLD = 0.015  # pixels: RMS difference after blur and shift, of 0–255
FEATURE_CANDIDATES = 20  # transfer-value graph columns searched for duplicates
SPECTRUM_CANDIDATES = 15  # pixel-spectrum neighbours searched (with images)
ALIGNED_CANDIDATES = 15  # centroid-aligned thumbnail neighbours searched (with images)
CANDIDATE_NEIGHBORS = FEATURE_CANDIDATES  # the graph width find_duplicates needs
KIND = "duplicate_pairs"
PAIRS_VERSION = 2  # 2: aligned-thumbnail candidates
MATCHES = ("pixels", "features", "both")


@dataclass
class CandidatePairs:
    """Every candidate pair (i < j) with both confirmations' measures; thresholds are
    applied afterwards, so another threshold costs nothing."""

    pairs: np.ndarray  # (P, 2) int64
    feature_ratio: np.ndarray  # transfer-value distance / median 1-NN distance (inf: not in the graph's columns)
    pixel_distance: np.ndarray  # pixel_match.shifted_distances (NaN without images)


def _check_aligned(tv: TransferValues, dataset: ImageDataset) -> None:
    if len(dataset) != tv.n or not np.array_equal(np.asarray(dataset.sample_ids).astype(str),
                                                  np.asarray(tv.sample_ids).astype(str)):
        raise DatasetError(
            f"The images of dataset '{dataset.name}' ({len(dataset)} samples) are not the "
            f"samples of these transfer values ({tv.n}, key {tv.key}). Fix: pass the dataset "
            f"(the same subset, in the same order) the values were computed from.")


def _graph_pairs(graph: KNNGraph) -> tuple[np.ndarray, np.ndarray]:
    k = min(FEATURE_CANDIDATES, graph.n_neighbors_)
    distances = np.asarray(graph.distances_[:, :k], dtype=np.float64)
    median = float(np.median(np.asarray(graph.distances_[:, 0], dtype=np.float64)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = distances / median if median > 0 else np.where(distances > 0, np.inf, 0.0)
    rows = np.repeat(np.arange(len(distances)), k)
    return np.stack([rows, np.asarray(graph.indices_[:, :k]).ravel()], axis=1), ratio.ravel()


def _neighbour_pairs(points: np.ndarray, k: int, progress) -> np.ndarray:
    """(row, neighbour) for each row's `k` nearest (exact, euclidean)."""
    k = min(k, len(points) - 1)
    if k < 1:
        return np.zeros((0, 2), dtype=np.int64)
    graph = KNNGraph(n_neighbors=k).fit(points, progress=progress)
    rows = np.repeat(np.arange(len(points)), k)
    return np.stack([rows, graph.indices_.ravel()], axis=1)


def duplicate_candidates(*, tv: TransferValues, graph: KNNGraph,
                         dataset: Optional[ImageDataset] = None,
                         cache_dir: str | Path | None = None,
                         progress: Optional[ProgressCallback] = None) -> CandidatePairs:
    """Candidate pairs and their measures, cached per (values, graph, images, settings)."""
    if dataset is not None:
        _check_aligned(tv, dataset)
    shape = pixel_match.thumbnail_shape(dataset) if dataset is not None else None
    k = min(FEATURE_CANDIDATES, graph.n_neighbors_)
    fields = {"tv": tv.key, "graph": graph.key or hash_array(np.asarray(graph.indices_[:, :k])),
              "graph_columns": k, "dataset": dataset.fingerprint if dataset is not None else None,
              "spectrum_candidates": SPECTRUM_CANDIDATES, "aligned_candidates": ALIGNED_CANDIDATES,
              "pixels": pixel_match.settings(shape) if shape else None, "version": PAIRS_VERSION}

    def compute():
        pairs, ratio = _graph_pairs(graph)
        thumbs = None
        if dataset is not None:
            thumbs = pixel_match.blurred(pixel_match.grey_thumbnails(
                dataset=dataset, shape=shape, progress=progress))
            extra = np.vstack([
                _neighbour_pairs(pixel_match.spectrum_signatures(thumbs), SPECTRUM_CANDIDATES,
                                 progress),
                _neighbour_pairs(pixel_match.aligned_thumbnails(thumbs), ALIGNED_CANDIDATES,
                                 progress)])
            pairs = np.vstack([pairs, extra])
            ratio = np.concatenate([ratio, np.full(len(extra), np.inf)])
        pairs = np.sort(pairs, axis=1)
        keep = pairs[:, 0] != pairs[:, 1]
        unique, inverse = np.unique(pairs[keep], axis=0, return_inverse=True)
        best = np.full(len(unique), np.inf)
        np.minimum.at(best, inverse.ravel(), ratio[keep])
        distance = np.full(len(unique), np.nan, dtype=np.float32)
        if thumbs is not None and len(unique):
            distance = pixel_match.shifted_distances(blurred_thumbs=thumbs, pairs=unique,
                                                     progress=progress)
        return ({"pairs": unique.astype(np.int64), "feature_ratio": best.astype(np.float32),
                 "pixel_distance": distance}, {"key_fields": fields, "pairs": len(unique)})

    entry, _ = ArrayCache(kind=KIND, root=cache_dir).load_or_compute(hash_key(fields), compute)
    return CandidatePairs(pairs=np.asarray(entry["pairs"]),
                          feature_ratio=np.asarray(entry["feature_ratio"]),
                          pixel_distance=np.asarray(entry["pixel_distance"]))


def duplicate_groups(*, n: int, pairs: np.ndarray) -> np.ndarray:
    """Group id per sample (-1: no duplicate), from the connected components of `pairs`."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    groups = np.full(n, -1, dtype=np.int64)
    if len(pairs) == 0:
        return groups
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    members = np.zeros(n, dtype=bool)
    members[pairs.ravel()] = True
    _, groups[members] = np.unique(component[members], return_inverse=True)
    return groups


def find_duplicates(*, tv: TransferValues, dataset: Optional[ImageDataset] = None,
                    knn: Optional[KNNGraph] = None, threshold: float = DEFAULT_THRESHOLD,
                    pixel_threshold: float = DEFAULT_PIXEL_THRESHOLD,
                    cache_dir: str | Path | None = None,
                    progress: Optional[ProgressCallback] = None) -> pd.DataFrame:
    """One row per sample that has a duplicate: index, sample_id, given_class, split, group,
    group_size, cross_split (its group spans more than one split), match (which
    confirmation found its pairs: pixels, features or both), pixel_distance (its closest
    confirmed pair's; NaN without images); largest groups first. Without `dataset` only
    the transfer values are compared."""
    if threshold < 0 or pixel_threshold < 0:
        raise ValueError("duplicate thresholds must be at least 0, got "
                         f"threshold={threshold}, pixel_threshold={pixel_threshold}")
    if knn is None or knn.n_neighbors_ < min(FEATURE_CANDIDATES, tv.n - 1):
        knn = knn_graph(tv=tv, n_neighbors=FEATURE_CANDIDATES, cache_dir=cache_dir)
    candidates = duplicate_candidates(tv=tv, graph=knn, dataset=dataset, cache_dir=cache_dir,
                                      progress=progress)
    by_features = candidates.feature_ratio <= threshold
    with np.errstate(invalid="ignore"):
        by_pixels = candidates.pixel_distance <= pixel_threshold
    kept = by_features | by_pixels
    pairs = candidates.pairs[kept]
    groups = duplicate_groups(n=tv.n, pairs=pairs)
    rows = np.flatnonzero(groups >= 0)
    flags = np.zeros((tv.n, 2), dtype=bool)  # per sample: matched by pixels, by features
    closest = np.full(tv.n, np.inf)
    for side in (pairs[:, 0], pairs[:, 1]):
        np.logical_or.at(flags[:, 0], side, by_pixels[kept])
        np.logical_or.at(flags[:, 1], side, by_features[kept])
        np.minimum.at(closest, side, np.nan_to_num(candidates.pixel_distance[kept], nan=np.inf))
    match = np.where(flags[:, 0] & flags[:, 1], "both", np.where(flags[:, 0], "pixels", "features"))
    group = groups[rows]
    size = np.bincount(group)[group] if len(rows) else group
    frame = pd.DataFrame({
        "index": rows, "sample_id": np.asarray(tv.sample_ids)[rows],
        "given_class": np.asarray(tv.class_names, dtype=object)[np.asarray(tv.labels)[rows]],
        "split": np.asarray(tv.splits)[rows], "group": group, "group_size": size,
        "match": match[rows],
        "pixel_distance": np.where(np.isfinite(closest[rows]), closest[rows], np.nan)})
    frame["cross_split"] = frame.groupby("group")["split"].transform("nunique") > 1
    return frame.sort_values(["group_size", "group", "index"], ascending=[False, True, True],
                             ignore_index=True)


@dataclass
class Leakage:
    """Test samples with a duplicate in train, and what they do to test accuracy."""

    n_test: int
    leaked_test: np.ndarray  # test sample indices with a train duplicate
    test_accuracy: Optional[float] = None
    test_accuracy_without_leaked: Optional[float] = None

    def as_dict(self) -> dict:
        return {"n_test": self.n_test, "leaked_test": int(len(self.leaked_test)),
                "test_accuracy": self.test_accuracy,
                "test_accuracy_without_leaked": self.test_accuracy_without_leaked}


def split_leakage(*, tv: TransferValues, duplicates: pd.DataFrame,
                  probabilities: Optional[np.ndarray] = None) -> Leakage:
    """Which test samples share a duplicate group with a train sample; with `probabilities`
    (a head trained on train) the test accuracy with and without them."""
    train_groups = set(duplicates.loc[duplicates["split"] == TRAIN, "group"])
    in_test = duplicates[(duplicates["split"] == TEST) & duplicates["group"].isin(train_groups)]
    leaked = np.sort(in_test["index"].to_numpy(dtype=np.int64))
    test = np.flatnonzero(np.asarray(tv.splits) == TEST)
    report = Leakage(n_test=len(test), leaked_test=leaked)
    if probabilities is not None and len(test):
        correct = np.asarray(probabilities).argmax(axis=1) == np.asarray(tv.labels)
        clean = np.setdiff1d(test, leaked)
        report.test_accuracy = float(correct[test].mean())
        report.test_accuracy_without_leaked = float(correct[clean].mean()) if len(clean) else None
    return report
