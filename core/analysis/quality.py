"""Data quality in one call: label issues, outliers, duplicates and split leakage, class
balance. Each section is computed when first read; the heavy inputs (the kNN graph, the
cross-fitted head) come from the cache, so a second report on the same values is instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from core.analysis.class_balance import class_balance
from core.analysis.duplicates import (DEFAULT_PIXEL_THRESHOLD, DEFAULT_THRESHOLD, Leakage,
                                      find_duplicates, split_leakage)
from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS, DEFAULT_NEIGHBORS, find_label_issues
from core.analysis.neighbors import STORED_NEIGHBORS, KNNGraph, knn_graph
from core.analysis.outliers import DEFAULT_OUTLIER_NEIGHBORS, find_outliers
from core.base.progress import ProgressCallback
from core.datasets.base import ImageDataset
from core.features.transfer_values import TransferValues

ISSUE_TYPES = ("label", "outlier", "duplicate", "leakage")
# flagged as an outlier: a score at least this many times the median sample's
DEFAULT_OUTLIER_SCORE = 4.0


@dataclass
class QualityReport:
    """Sections as properties, each computed on first access."""

    tv: TransferValues
    probabilities: np.ndarray  # out-of-sample (cross-fitted) class probabilities
    graph: KNNGraph
    duplicate_threshold: float = DEFAULT_THRESHOLD
    # the images of tv's samples: near-duplicates are then confirmed on the pixels too
    dataset: Optional[ImageDataset] = None
    pixel_threshold: float = DEFAULT_PIXEL_THRESHOLD
    outlier_score: float = DEFAULT_OUTLIER_SCORE
    cache_dir: Optional[str | Path] = None
    head_key: Optional[str] = None
    settings: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def label_issues(self) -> pd.DataFrame:
        return find_label_issues(tv=self.tv, probabilities=self.probabilities, knn=self.graph,
                                 cache_dir=self.cache_dir)

    @cached_property
    def ranked_outliers(self) -> pd.DataFrame:
        """Every sample, most unusual first (find_outliers); `outliers` keeps the flagged."""
        return find_outliers(tv=self.tv, knn=self.graph, probabilities=self.probabilities,
                             cache_dir=self.cache_dir)

    @property
    def outlier_limit(self) -> float:
        """The score from which a sample is flagged: outlier_score × the median score."""
        return self.outlier_score * float(self.ranked_outliers["score"].median())

    @cached_property
    def outliers(self) -> pd.DataFrame:
        ranked = self.ranked_outliers
        return ranked[ranked["score"] >= self.outlier_limit].reset_index(drop=True)

    @cached_property
    def duplicates(self) -> pd.DataFrame:
        return find_duplicates(tv=self.tv, dataset=self.dataset, knn=self.graph,
                               threshold=self.duplicate_threshold,
                               pixel_threshold=self.pixel_threshold, cache_dir=self.cache_dir)

    @cached_property
    def leakage(self) -> Leakage:
        return split_leakage(tv=self.tv, duplicates=self.duplicates,
                             probabilities=self.probabilities)

    @cached_property
    def balance(self) -> pd.DataFrame:
        flagged = np.concatenate([self.label_issues["index"], self.outliers["index"],
                                  self.duplicates["index"]]).astype(np.int64)
        return class_balance(tv=self.tv, flagged=np.unique(flagged))

    def counts(self) -> dict[str, int]:
        return {"label": len(self.label_issues), "outlier": len(self.outliers),
                "duplicate": len(self.duplicates),
                "duplicate_groups": int(self.duplicates["group"].nunique()),
                "leakage": len(self.leakage.leaked_test)}

    def flagged_rows(self) -> pd.DataFrame:
        """Every flagged item: index, sample_id, issue, score, given_class, suggested_class."""
        labels = self.label_issues.assign(issue="label")
        outliers = self.outliers.assign(issue="outlier", suggested_class="")
        dups = self.duplicates.assign(issue="duplicate", suggested_class="",
                                      score=self.duplicates["group"].astype(float))
        leaked = dups[dups["index"].isin(self.leakage.leaked_test)].assign(issue="leakage")
        columns = ["index", "sample_id", "issue", "score", "given_class", "suggested_class"]
        return pd.concat([frame[columns] for frame in (labels, outliers, dups, leaked)],
                         ignore_index=True)


def data_quality(*, tv: TransferValues, probabilities: Optional[np.ndarray] = None,
                 head: str = "logreg", cross_fit_folds: int = DEFAULT_CROSS_FIT_FOLDS,
                 duplicate_threshold: float = DEFAULT_THRESHOLD,
                 dataset: Optional[ImageDataset] = None,
                 pixel_threshold: float = DEFAULT_PIXEL_THRESHOLD,
                 outlier_score: float = DEFAULT_OUTLIER_SCORE, seed: int = 0,
                 cache_dir: str | Path | None = None,
                 progress: Optional[ProgressCallback] = None) -> QualityReport:
    """A `QualityReport` on `tv`. Without `probabilities`, a cross-fitted `head` gives them
    (trained once, then cached); the kNN graph is the cached shared one. With `dataset`
    (the images tv was computed from) near-duplicates are confirmed on the pixels too."""
    head_key = None
    if probabilities is None:
        from core.heads import train_head

        trained = train_head(tv=tv, head=head, seed=seed, cross_fit_folds=cross_fit_folds,
                             cache_dir=cache_dir, progress=progress)
        probabilities, head_key = trained.probabilities, trained.key
    needed = max(DEFAULT_NEIGHBORS, DEFAULT_OUTLIER_NEIGHBORS, STORED_NEIGHBORS)
    graph = knn_graph(tv=tv, n_neighbors=needed, cache_dir=cache_dir, progress=progress)
    return QualityReport(tv=tv, probabilities=np.asarray(probabilities), graph=graph,
                         duplicate_threshold=duplicate_threshold, dataset=dataset,
                         pixel_threshold=pixel_threshold, outlier_score=outlier_score,
                         cache_dir=cache_dir, head_key=head_key,
                         settings={"head": head, "cross_fit_folds": cross_fit_folds,
                                   "duplicate_threshold": duplicate_threshold,
                                   "pixel_threshold": pixel_threshold if dataset is not None
                                   else None,
                                   "outlier_score": outlier_score, "seed": seed})
