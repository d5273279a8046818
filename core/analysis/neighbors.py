"""The k-nearest-neighbour graph of a transfer-values matrix, computed once and shared.

One cached graph serves UMAP (`precomputed_knn`), openTSNE (perplexity affinities from
`PrecomputedNeighbors`), nearest-neighbour look-ups and label-issue detection. Neighbours
are exact (brute force through scikit-learn's chunked ArgKmin), so the graph is
deterministic; it is computed on the shared PCA-50 reduction by default.

The graph is stored with at least `STORED_NEIGHBORS` (90 = 3 × t-SNE's default perplexity
of 30) columns; smaller requests are column slices of it, which is exact because each row
is sorted by distance.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from core.base.cache import ArrayCache
from core.base.hashing import hash_key
from core.base.progress import ProgressCallback, ProgressTracker
from core.analysis.reduction import effective_pca_dims, reduced_values
from core.features.transfer_values import TransferValues

KIND = "knn"
KNN_VERSION = 1
STORED_NEIGHBORS = 90
# Above this many samples the exact graph is not built just to look up one sample's
# neighbours: it grows as N² (15 s at 70,000 points on 2 cores, about an hour at a million);
# one row's exact neighbours are a single pass over the reduced values instead.
GRAPH_FOR_LOOKUPS_UP_TO = 150_000
METRICS = ("euclidean", "cosine")
_ROWS_PER_STEP = 4096  # rows queried between progress reports (where the caller can stop)


class KNNGraph:
    """`NearestNeighbors`-style estimator: fit(X) learns every row's k nearest other rows.

    Learned: `indices_` (N, k) int32 and `distances_` (N, k) float32, sorted nearest first,
    self excluded. Cosine distance is 1 − cos, computed as |a − b|² / 2 on unit vectors.
    """

    def __init__(self, n_neighbors: int = 15, metric: str = "euclidean") -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
        self.n_neighbors = int(n_neighbors)
        self.metric = metric
        # set by knn_graph: the cache entry behind this graph
        self.key: str | None = None
        self.cache: str | None = None
        self.seconds = 0.0

    def fit(self, X: np.ndarray, *, progress: Optional[ProgressCallback] = None) -> "KNNGraph":
        from sklearn.neighbors import NearestNeighbors

        X = self._prepare(X)
        n = len(X)
        k = min(self.n_neighbors, n - 1)
        if k < 1:
            raise ValueError("a kNN graph needs at least two samples")
        index = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(X)
        indices = np.empty((n, k), dtype=np.int32)
        distances = np.empty((n, k), dtype=np.float32)
        tracker = ProgressTracker(stage=f"{k}-NN graph", total=n, callback=progress)
        for start in range(0, n, _ROWS_PER_STEP):
            stop = min(n, start + _ROWS_PER_STEP)
            dist, idx = index.kneighbors(X[start:stop])
            indices[start:stop], distances[start:stop] = _drop_self(idx, dist, start)
            tracker.update(stop)
        if self.metric == "cosine":
            distances = distances ** 2 / 2
        self.indices_, self.distances_ = indices, distances
        self.n_neighbors_ = k
        return self

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if self.metric == "cosine":
            norms = np.linalg.norm(X, axis=1, keepdims=True)
            X = X / np.maximum(norms, 1e-12)
        return X

    def subgraph(self, n_neighbors: int) -> "KNNGraph":
        """The first `n_neighbors` columns (exact, since rows are sorted)."""
        if n_neighbors > self.n_neighbors_:
            raise ValueError(f"this graph has only {self.n_neighbors_} neighbours per row")
        graph = KNNGraph(n_neighbors=n_neighbors, metric=self.metric)
        graph.indices_ = self.indices_[:, :n_neighbors]
        graph.distances_ = self.distances_[:, :n_neighbors]
        graph.n_neighbors_ = n_neighbors
        return graph

    def with_self(self) -> tuple[np.ndarray, np.ndarray]:
        """(indices, distances) with each row's own index first at distance 0 — the layout
        UMAP's `precomputed_knn` expects (its n_neighbors counts the point itself)."""
        n = len(self.indices_)
        own = np.arange(n, dtype=np.int32)[:, None]
        return (np.hstack([own, self.indices_]).astype(np.int32),
                np.hstack([np.zeros((n, 1), np.float32), self.distances_]).astype(np.float32))


def _drop_self(idx: np.ndarray, dist: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index (wherever exact duplicates put it), else the farthest."""
    rows = np.arange(start, start + len(idx))[:, None]
    keep = idx != rows
    no_self = keep.all(axis=1)
    keep[no_self, -1] = False
    k = idx.shape[1] - 1
    return idx[keep].reshape(-1, k), dist[keep].reshape(-1, k)


def knn_graph(*, tv: TransferValues, n_neighbors: int = 15, metric: str = "euclidean",
              pca_dims: int | None = 50, cache_dir: str | Path | None = None,
              progress: Optional[ProgressCallback] = None) -> KNNGraph:
    """The kNN graph of tv (on its PCA-`pca_dims` reduction), cached per
    (tv.key, stored k, metric, pca_dims); `n_neighbors` ≤ 90 slices the shared 90-NN graph."""
    if n_neighbors < 1:
        raise ValueError("n_neighbors must be at least 1")
    stored = min(max(int(n_neighbors), STORED_NEIGHBORS), tv.n - 1)
    dims = effective_pca_dims(tv, pca_dims)
    fields = {"tv": tv.key, "k": stored, "metric": metric, "pca_dims": dims,
              "version": KNN_VERSION}
    key = hash_key(fields)
    cache = ArrayCache(kind=KIND, root=cache_dir)
    started = time.perf_counter()
    entry = cache.load(key)
    status = "hit"
    if entry is None:
        with cache.lock(key):
            entry = cache.load(key)
            if entry is None:
                status = "miss"
                X = reduced_values(tv=tv, pca_dims=dims, cache_dir=cache_dir, progress=progress)
                fitted = KNNGraph(n_neighbors=stored, metric=metric).fit(X, progress=progress)
                entry = cache.save(key, arrays={"indices": fitted.indices_,
                                                "distances": fitted.distances_},
                                   manifest={"key_fields": fields})
    graph = KNNGraph(n_neighbors=stored, metric=metric)
    graph.indices_, graph.distances_ = entry["indices"], entry["distances"]
    graph.n_neighbors_ = int(graph.indices_.shape[1])
    graph.key, graph.cache = key, status
    graph.seconds = time.perf_counter() - started
    if n_neighbors >= graph.n_neighbors_:
        return graph
    sliced = graph.subgraph(int(n_neighbors))
    sliced.key, sliced.cache, sliced.seconds = key, status, graph.seconds
    return sliced


def nearest_neighbors(*, tv: TransferValues, index: int, k: int = 8, metric: str = "euclidean",
                      pca_dims: int | None = 50,
                      cache_dir: str | Path | None = None) -> list[tuple[int, float]]:
    """The k nearest other samples of sample `index`: (sample index, distance), nearest first."""
    if not 0 <= index < tv.n:
        raise IndexError(f"sample index {index} is outside 0..{tv.n - 1}")
    if tv.n > GRAPH_FOR_LOOKUPS_UP_TO:
        return _one_row_neighbors(tv=tv, index=index, k=k, metric=metric, pca_dims=pca_dims,
                                  cache_dir=cache_dir)
    graph = knn_graph(tv=tv, n_neighbors=k, metric=metric, pca_dims=pca_dims, cache_dir=cache_dir)
    return [(int(i), float(d)) for i, d in zip(graph.indices_[index, :k], graph.distances_[index, :k])]


def _one_row_neighbors(*, tv, index, k, metric, pca_dims, cache_dir) -> list[tuple[int, float]]:
    """Sample `index`'s k nearest others by one pass over the reduced values: a matrix-vector
    product ranks every row (|a|² − 2a·b + |b|², float32), then a shortlist 4k + 256 deep is
    measured as the graph measures it, so the ranking's rounding does not decide the answer."""
    X = reduced_values(tv=tv, pca_dims=effective_pca_dims(tv, pca_dims), cache_dir=cache_dir)
    grapher = KNNGraph(n_neighbors=k, metric=metric)
    query = grapher._prepare(np.asarray(X[index:index + 1]))[0]
    norms = _row_norms(X)
    if metric == "cosine":  # unit vectors: |a − b|² = 2 − 2 cos
        rough = 2 - 2 * (np.asarray(X, np.float32) @ query) / np.maximum(norms, 1e-12)
    else:
        rough = norms ** 2 - 2 * (np.asarray(X, np.float32) @ query) + query @ query
    rough[index] = np.inf
    k = min(k, tv.n - 1)
    shortlist = np.argpartition(rough, min(len(rough) - 1, 4 * k + 256))[:4 * k + 256]
    shortlist = np.sort(shortlist[shortlist != index])
    exact = np.linalg.norm(grapher._prepare(np.asarray(X[shortlist])) - query, axis=1)
    order = np.lexsort((shortlist, exact))[:k]  # nearest first, ties by index
    nearest, distances = shortlist[order], exact[order]
    if metric == "cosine":
        distances = distances ** 2 / 2
    return [(int(i), float(d)) for i, d in zip(nearest, distances)]


_norms: dict[int, np.ndarray] = {}


def _row_norms(X: np.ndarray) -> np.ndarray:
    """Each row's length; remembered for the last cached file asked about (every look-up on
    one map reads the same reduced values, and cache entries never change)."""
    if not isinstance(X, np.memmap) or X.filename is None:
        return np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float32))
    key = hash((X.filename, X.offset, X.shape))
    norms = _norms.get(key)
    if norms is None:  # sessions share the module: never read back what another cleared
        norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float32))
        _norms.clear()
        _norms[key] = norms
    return norms


def neighbor_label_votes(*, graph: KNNGraph, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, C): the fraction of each sample's neighbours given each label."""
    neighbor_labels = np.asarray(labels)[np.asarray(graph.indices_)]
    votes = np.zeros((len(neighbor_labels), num_classes), dtype=np.float32)
    rows = np.repeat(np.arange(len(neighbor_labels)), neighbor_labels.shape[1])
    np.add.at(votes, (rows, neighbor_labels.ravel()), 1.0)
    return votes / neighbor_labels.shape[1]
