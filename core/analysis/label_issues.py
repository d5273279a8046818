"""Suspected label errors: samples whose given label both an out-of-sample model and their
nearest neighbours disagree with.

Two independent witnesses per sample:
- the model: out-of-sample class probabilities (train a head with cross_fit_folds ≥ 2, so
  no model is asked about a label it was trained on);
- the neighbours: how the k nearest samples in feature space are labelled.
score = 1 − q[given], where q = (probabilities + neighbour label fractions) / 2; the
suggested label is the most likely other class under q. A sample is *flagged* by the
confident-learning rule (Northcutt et al. 2021): some other class j has p[j] ≥ t_j, the
mean probability the model gives class j on samples labelled j, and j is the most likely of
those classes — and also fewer than half of its neighbours share its label.

Why not cleanlab: its `find_label_issues` implements the same per-class thresholds, but
ranks by the model alone; adding neighbour agreement would mean Datalab and its dependency
tree. The rule above is a few lines, uses the kNN graph we cache anyway, and is tested
(flipped labels on digits rank at the top).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from core.analysis.neighbors import KNNGraph, knn_graph, neighbor_label_votes
from core.features.transfer_values import TransferValues

DEFAULT_NEIGHBORS = 10
# out-of-fold probabilities need K ≥ 2 models; 5 holds out a fifth of the data each time
DEFAULT_CROSS_FIT_FOLDS = 5


def per_class_thresholds(*, labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """t_j: the mean probability of class j over samples labelled j (confident learning)."""
    num_classes = probabilities.shape[1]
    thresholds = np.ones(num_classes, dtype=np.float64)  # an absent class can never be confident
    for c in range(num_classes):
        members = labels == c
        if members.any():
            thresholds[c] = probabilities[members, c].mean()
    return thresholds


def confident_labels(*, labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per sample, the most probable class among those above their threshold, or -1."""
    thresholds = per_class_thresholds(labels=labels, probabilities=probabilities)
    above = probabilities >= thresholds[None, :]
    masked = np.where(above, probabilities, -1.0)
    best = masked.argmax(axis=1)
    return np.where(above.any(axis=1), best, -1)


def find_label_issues(*, tv: TransferValues, probabilities: np.ndarray,
                      knn: Optional[KNNGraph] = None, top: Optional[int] = None,
                      include_all: bool = False, n_neighbors: int = DEFAULT_NEIGHBORS,
                      cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Samples ranked most suspicious first.

    Columns: index, sample_id, given, suggested, score, knn_agreement, self_confidence,
    given_class, suggested_class, flagged. By default only flagged samples are returned;
    include_all=True ranks every sample. `top` keeps the first rows.

    `knn` may have more than `n_neighbors` neighbours per row (e.g. a front end's display
    graph): only its first `n_neighbors` columns vote, so the ranking is the one
    `knn=None` gives. A graph with fewer columns (tiny datasets) is used as it is.
    """
    labels = np.asarray(tv.labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (tv.n, len(tv.class_names)):
        raise ValueError(f"probabilities must be (N, C) = ({tv.n}, {len(tv.class_names)}), "
                         f"got {probabilities.shape}")
    if knn is None:
        knn = knn_graph(tv=tv, n_neighbors=n_neighbors, cache_dir=cache_dir)
    elif knn.n_neighbors_ > n_neighbors:  # rows are sorted nearest first: slicing is exact
        knn = knn.subgraph(n_neighbors)
    votes = neighbor_label_votes(graph=knn, labels=labels, num_classes=probabilities.shape[1])
    rows = np.arange(tv.n)
    knn_agreement = votes[rows, labels].astype(np.float64)
    self_confidence = probabilities[rows, labels]
    combined = (probabilities + votes) / 2
    score = 1.0 - combined[rows, labels]
    others = combined.copy()
    others[rows, labels] = -1.0
    suggested = others.argmax(axis=1)

    confident = confident_labels(labels=labels, probabilities=probabilities)
    flagged = (confident >= 0) & (confident != labels) & (knn_agreement < 0.5)

    order = np.lexsort((rows, self_confidence, -score))
    if not include_all:
        order = order[flagged[order]]
    if top is not None:
        order = order[:top]
    names = np.asarray(tv.class_names, dtype=object)
    return pd.DataFrame({
        "index": order, "sample_id": np.asarray(tv.sample_ids)[order],
        "given": labels[order], "suggested": suggested[order], "score": score[order],
        "knn_agreement": knn_agreement[order], "self_confidence": self_confidence[order],
        "given_class": names[labels[order]], "suggested_class": names[suggested[order]],
        "flagged": flagged[order],
    })
