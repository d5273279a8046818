"""How well a backbone's feature space separates the classes, before any head is trained:
leave-one-out kNN accuracy and the silhouette score, on a stratified subsample."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from core.base.cache import ArrayCache
from core.base.hashing import hash_key
from core.features.transfer_values import TransferValues

KIND = "separability"
SEPARABILITY_VERSION = 1
DEFAULT_NEIGHBORS = 10
DEFAULT_MAX_SAMPLES = 5000  # the silhouette is O(n²): a stratified subsample keeps it quick


def _subsample(labels: np.ndarray, max_samples: int, seed: int) -> np.ndarray:
    """At most max_samples indices keeping each class's share (seeded)."""
    n = len(labels)
    if n <= max_samples:
        return np.arange(n)
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    chosen, _ = train_test_split(np.arange(n), train_size=max_samples, random_state=seed,
                                 stratify=stratify)
    return np.sort(chosen)


def separability(*, tv: TransferValues, n_neighbors: int = DEFAULT_NEIGHBORS,
                 max_samples: int = DEFAULT_MAX_SAMPLES,
                 seed: int = 0, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """{"knn_accuracy", "silhouette", "n", "n_neighbors", "seconds", "cache"}, cached.

    knn_accuracy: each sampled point's majority label among its n_neighbors nearest other
    sampled points (euclidean, raw features) — how well "close in feature space" means
    "same class". silhouette: mean silhouette of the labels as clusters (−1..1).
    """
    started = time.perf_counter()
    fields = {"tv": tv.key, "n_neighbors": int(n_neighbors), "max_samples": int(max_samples),
              "seed": int(seed), "version": SEPARABILITY_VERSION}
    key = hash_key(fields)
    cache = ArrayCache(kind=KIND, root=cache_dir)
    entry = cache.load(key)
    if entry is not None:
        return {**entry.manifest["result"], "cache": "hit",
                "seconds": time.perf_counter() - started}
    from sklearn.metrics import silhouette_score

    from core.analysis.neighbors import KNNGraph, neighbor_label_votes

    labels = np.asarray(tv.labels, dtype=np.int64)
    chosen = _subsample(labels, max_samples, seed)
    X = np.asarray(tv.values[chosen], dtype=np.float32)
    y = labels[chosen]
    graph = KNNGraph(n_neighbors=n_neighbors).fit(X)
    votes = neighbor_label_votes(graph=graph, labels=y, num_classes=len(tv.class_names))
    # ties go to the lower class index (argmax), deterministic
    knn_accuracy = float(np.mean(votes.argmax(axis=1) == y))
    silhouette = (float(silhouette_score(X, y, metric="euclidean"))
                  if 1 < len(np.unique(y)) < len(y) else None)
    result = {"knn_accuracy": knn_accuracy, "silhouette": silhouette, "n": int(len(chosen)),
              "n_neighbors": int(graph.n_neighbors_)}
    cache.save(key, arrays={}, manifest={"key_fields": fields, "result": result})
    return {**result, "cache": "miss", "seconds": time.perf_counter() - started}
