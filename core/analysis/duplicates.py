"""Exact and near-duplicate groups from the kNN graph, and duplicates across splits.

Two samples are duplicates when their distance in the cached kNN graph (PCA-50,
euclidean) is at most `threshold` × the dataset's median nearest-neighbour distance;
groups are the connected components of those pairs. The default 0.1 keeps exact copies
(distance 0) and near-identical renders.

Measured (Fashion-MNIST 10k, Lite0 @96 px, 100 copies of each kind placed in test): exact
copies are found at any threshold; JPEG (quality 70), 1–2 px shifted and 28→20→28 px
resized copies sit at a median 0.85, 0.90 and 1.35 × the median neighbour distance, where
Fashion's own distinct-but-alike products are (5 % of them lie below 0.55×): transfer
values of 28 px images do not separate a re-encoded copy from a look-alike, so raising
the threshold finds them only together with many look-alikes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from core.analysis.neighbors import KNNGraph, knn_graph
from core.base.splits import TEST, TRAIN
from core.features.transfer_values import TransferValues

DEFAULT_THRESHOLD = 0.1  # × median nearest-neighbour distance
CANDIDATE_NEIGHBORS = 10  # graph columns searched for duplicates


def duplicate_pairs(*, graph: KNNGraph, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """(P, 2) index pairs i < j closer than threshold × the median 1-NN distance."""
    distances = np.asarray(graph.distances_[:, :CANDIDATE_NEIGHBORS], dtype=np.float64)
    indices = np.asarray(graph.indices_[:, :CANDIDATE_NEIGHBORS], dtype=np.int64)
    limit = threshold * float(np.median(distances[:, 0]))
    rows, cols = np.nonzero(distances <= limit)
    pairs = np.stack([rows, indices[rows, cols]], axis=1)
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


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


def find_duplicates(*, tv: TransferValues, knn: Optional[KNNGraph] = None,
                    threshold: float = DEFAULT_THRESHOLD,
                    cache_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per sample that has a duplicate: index, sample_id, given_class, split, group,
    group_size, cross_split (its group spans more than one split); largest groups first."""
    if knn is None or knn.n_neighbors_ < min(CANDIDATE_NEIGHBORS, tv.n - 1):
        knn = knn_graph(tv=tv, n_neighbors=CANDIDATE_NEIGHBORS, cache_dir=cache_dir)
    groups = duplicate_groups(n=tv.n, pairs=duplicate_pairs(graph=knn, threshold=threshold))
    rows = np.flatnonzero(groups >= 0)
    group = groups[rows]
    splits = np.asarray(tv.splits)[rows]
    size = np.bincount(group)[group] if len(rows) else group
    frame = pd.DataFrame({
        "index": rows, "sample_id": np.asarray(tv.sample_ids)[rows],
        "given_class": np.asarray(tv.class_names, dtype=object)[np.asarray(tv.labels)[rows]],
        "split": splits, "group": group, "group_size": size})
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
