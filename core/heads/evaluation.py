"""Confusion matrices, the samples behind a cell, and failures ranked worst first."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd


def _masked(mask: Optional[np.ndarray], n: int) -> np.ndarray:
    return np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)


def confusion_matrix(*, labels: np.ndarray, predictions: np.ndarray, num_classes: int,
                     normalize: bool = False, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """(C, C) with rows = true class, columns = predicted. normalize=True divides each row by
    its count (recall on the diagonal); empty rows stay zero."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    keep = _masked(mask, len(labels))
    flat = labels[keep].astype(np.int64) * num_classes + predictions[keep].astype(np.int64)
    counts = np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    if not normalize:
        return counts
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64),
                     where=totals > 0)


def cell_indices(*, labels: np.ndarray, predictions: np.ndarray, true_class: int,
                 predicted_class: int, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Sample indices in one confusion-matrix cell (within `mask`, e.g. the test split)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    keep = _masked(mask, len(labels))
    return np.flatnonzero(keep & (labels == true_class) & (predictions == predicted_class))


def top_confusions(*, matrix: np.ndarray, class_names: Sequence[str], top: int = 5) -> list[dict]:
    """The largest off-diagonal cells: which classes get mistaken for which, most first."""
    off = np.array(matrix, dtype=np.float64)
    np.fill_diagonal(off, -1)
    order = np.argsort(-off, axis=None, kind="stable")[:top]
    rows = []
    for flat in order:
        t, p = divmod(int(flat), off.shape[1])
        if off[t, p] <= 0:
            break
        rows.append({"true": class_names[t], "predicted": class_names[p],
                     "count": matrix[t, p].item()})
    return rows


def failure_ranking(*, labels: np.ndarray, probabilities: np.ndarray,
                    mask: Optional[np.ndarray] = None) -> pd.DataFrame:
    """Misclassified samples, the most confidently wrong first.

    Columns: index, true, predicted, confidence (probability of the predicted class),
    true_prob (probability given to the true class).
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    predictions = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(_masked(mask, len(labels)) & (predictions != labels))
    confidence = probabilities[wrong, predictions[wrong]]
    true_prob = probabilities[wrong, labels[wrong]]
    # worst first: highest wrong confidence; ties → lowest true-class probability → index
    order = np.lexsort((wrong, true_prob, -confidence))
    wrong = wrong[order]
    return pd.DataFrame({"index": wrong, "true": labels[wrong], "predicted": predictions[wrong],
                         "confidence": confidence[order].astype(np.float64),
                         "true_prob": true_prob[order].astype(np.float64)})
