"""Suspected wrong targets: the regression analogue of label issues.

Two witnesses per sample, each blind to the sample's own given value:
- the model: an out-of-sample prediction ŷ (a regression head cross-fitted on train, so no
  model is asked about a value it was trained on; val and test are out of sample anyway);
- the neighbours: m, the median given value of the k nearest samples in feature space
  (the median, so one wrong neighbour does not move it).
Each witness's disagreement is measured in its own robust units, z = |y − witness| / (1.4826
× the median absolute disagreement), and the score is the smaller of the two: a sample
ranks high only when *both* contradict its value (one witness alone is often just a hard
sample or a sparse region). `suggested` is their average. Flagged: score ≥ FLAG_Z.

Measured on fashion_mnist_scale (Lite0 @96 px, 2 % of the targets replaced by 1.35 − v):
see tests/test_target_outliers.py and benchmarks/RESULTS.md, "Regression heads".
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS
from core.analysis.neighbors import KNNGraph, knn_graph
from core.features.transfer_values import TransferValues

DEFAULT_NEIGHBORS = 20
FLAG_Z = 3.0  # robust standard deviations both witnesses must disagree by
_MAD_TO_SD = 1.4826  # a normal distribution's sd per median absolute deviation


def robust_z(residuals: np.ndarray) -> np.ndarray:
    """|residual| in units of the residuals' robust spread (1.4826 × median |residual|)."""
    residuals = np.abs(np.asarray(residuals, dtype=np.float64))
    spread = _MAD_TO_SD * float(np.median(residuals))
    return residuals / (spread if spread > 0 else 1.0)


def neighbour_medians(*, graph: KNNGraph, values: np.ndarray) -> np.ndarray:
    """(N,) the median given value of each sample's neighbours (itself excluded)."""
    return np.median(np.asarray(values, dtype=np.float64)[np.asarray(graph.indices_)], axis=1)


def find_target_outliers(*, tv: TransferValues, target, predictions: np.ndarray,
                         knn: Optional[KNNGraph] = None, n_neighbors: int = DEFAULT_NEIGHBORS,
                         top: Optional[int] = None, include_all: bool = False,
                         cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Samples ranked most suspicious first.

    `target` is a `core.datasets.targets.Target` of tv's samples, `predictions` (N,)
    out-of-sample numbers (a head trained with `cross_fit_folds` ≥ 2). Columns: index,
    sample_id, given, predicted, neighbours, suggested, z_model, z_neighbours, score,
    flagged (and class when the dataset has classes). Only flagged rows unless
    `include_all`; `top` keeps the first rows.
    """
    target.check_aligned(tv.sample_ids)
    given = np.asarray(target.values, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.shape != (tv.n,):
        raise ValueError(f"predictions must be ({tv.n},), got {predictions.shape}")
    wanted = min(n_neighbors, tv.n - 1)
    if knn is None or knn.n_neighbors_ < wanted:
        knn = knn_graph(tv=tv, n_neighbors=n_neighbors, cache_dir=cache_dir)
    elif knn.n_neighbors_ > wanted:
        knn = knn.subgraph(wanted)
    neighbours = neighbour_medians(graph=knn, values=given)
    z_model = robust_z(given - predictions)
    z_neighbours = robust_z(given - neighbours)
    score = np.minimum(z_model, z_neighbours)
    flagged = score >= FLAG_Z
    rows = np.arange(tv.n)
    order = np.lexsort((rows, -np.maximum(z_model, z_neighbours), -score))
    if not include_all:
        order = order[flagged[order]]
    if top is not None:
        order = order[:top]
    frame = pd.DataFrame({
        "index": order, "sample_id": np.asarray(tv.sample_ids)[order], "given": given[order],
        "predicted": predictions[order], "neighbours": neighbours[order],
        "suggested": (predictions[order] + neighbours[order]) / 2,
        "z_model": z_model[order], "z_neighbours": z_neighbours[order], "score": score[order],
        "flagged": flagged[order]})
    if len(tv.class_names) >= 2:
        frame["class"] = np.asarray(tv.class_names, dtype=object)[np.asarray(tv.labels)[order]]
    return frame


def target_outliers(*, tv: TransferValues, target, head: str = "ridge",
                    folds: int = DEFAULT_CROSS_FIT_FOLDS, seed: int = 0,
                    cache_dir: str | Path | None = None, progress=None,
                    **options) -> pd.DataFrame:
    """`find_target_outliers` with the out-of-sample predictions of a `folds`-fold
    cross-fitted regression `head` (trained, or found in the heads cache)."""
    from core.heads import train_head

    trained = train_head(tv=tv, head=head, target=target, cross_fit_folds=folds, seed=seed,
                         cache_dir=cache_dir, progress=progress)
    return find_target_outliers(tv=tv, target=target, predictions=trained.predictions,
                                cache_dir=cache_dir, **options)
