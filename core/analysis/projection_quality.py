"""How well a 2-D/3-D map keeps each point's neighbours: kNN recall of the map against its input.

recall@k = the average share of a point's k nearest neighbours in the input (e.g. the PCA-50
values t-SNE and UMAP run on) that are also among its k nearest neighbours on the map. It is
measured on a seeded subsample, neighbours searched within the subsample, so the figure is
cheap at any N and comparable between methods given the same sample.
"""

from __future__ import annotations

import numpy as np

SAMPLE = 5000


def knn_recall(*, high: np.ndarray, low: np.ndarray, k: int = 10, sample: int = SAMPLE,
               seed: int = 0) -> float:
    """Mean |kNN_high(i) ∩ kNN_low(i)| / k over a seeded subsample of `sample` rows."""
    from sklearn.neighbors import NearestNeighbors

    high, low = np.asarray(high), np.asarray(low)
    if len(high) != len(low):
        raise ValueError(f"the input has {len(high):,} rows but the map {len(low):,}")
    n = len(high)
    if n <= k + 1:
        raise ValueError(f"recall@{k} needs more than {k + 1} points, got {n}")
    rows = (np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
            if n > sample else np.arange(n))

    def neighbours(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X[rows], dtype=np.float32)
        _, idx = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(X).kneighbors(X)
        return idx[:, 1:]  # drop the point itself

    a, b = neighbours(high), neighbours(low)
    shared = [len(np.intersect1d(x, y, assume_unique=True)) for x, y in zip(a, b)]
    return float(np.mean(shared) / k)
