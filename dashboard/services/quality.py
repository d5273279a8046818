"""Data quality (core.analysis.quality) and a numeric target's outliers, memoised per head."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboard.services.memo import remembered
from dashboard.services.report import Report
from dashboard.state.results import HeadRecord

if TYPE_CHECKING:
    from dashboard.services.workspace import Workspace


def quality_report(ws: Workspace, record: HeadRecord, *, report: Report,
                   duplicate_threshold: float | None = None):
    """The data-quality report on these values from `record`'s out-of-sample probabilities
    (core.analysis.quality.data_quality). Sections compute when first read (see
    quality_section); the kNN graph is built (or loaded) here, with a progress bar. Another
    duplicate threshold is a sibling report sharing the graph and the label errors."""
    from core.analysis.quality import QualityReport, data_quality

    bundle = ws.bundle if ws.bundle is not None and record.head is ws.bundle.head else None

    def build():
        if bundle is not None:  # the bundle's graph and ranking: nothing recomputed
            result = QualityReport(tv=ws.tv, probabilities=record.head.probabilities,
                                   graph=bundle.knn_graph(), head_key=record.key)
            result.label_issues = bundle.label_issues
            return result
        with report.progress(f"Finding the nearest neighbours of {ws.tv.n:,} points…") as panel:
            return data_quality(tv=ws.tv, probabilities=record.head.probabilities,
                                dataset=ws.dataset, progress=panel)

    base = remembered(("quality", ws.tv.key, record.token), build, kept=report.kept)
    if duplicate_threshold is None or duplicate_threshold == base.duplicate_threshold:
        return base

    def sibling():
        import dataclasses

        result = dataclasses.replace(base, duplicate_threshold=float(duplicate_threshold))
        result.label_issues = quality_section(base, "label_issues", report=report)
        return result

    return remembered(("quality", ws.tv.key, record.token, float(duplicate_threshold)),
                      sibling, kept=report.kept)


_SECTION_SAYS = {"label_issues": "Ranking suspicious labels…",
                 "outliers": "Scoring how unusual each image is…",
                 "ranked_outliers": "Scoring how unusual each image is…",
                 "duplicates": "Grouping near-duplicates…",
                 "leakage": "Checking test images against train…",
                 "balance": "Counting classes and flagged samples…"}


def quality_section(quality, name: str, *, report: Report):
    """One section of a quality report (label_issues, ranked_outliers, outliers,
    duplicates, leakage, balance), computed on first access; the report keeps it."""
    if name not in quality.__dict__:
        with report.busy(_SECTION_SAYS.get(name, "Computing…")):
            getattr(quality, name)
    return getattr(quality, name)


def quality_flagged(quality, *, report: Report):
    """Every flagged item of the report (index, sample_id, issue, score, given_class,
    suggested_class): label errors, outliers, duplicates, then test images leaked."""
    for name in ("label_issues", "outliers", "duplicates", "leakage"):
        quality_section(quality, name, report=report)
    return quality.flagged_rows()


def leakage_accuracy(ws: Workspace, quality, record: HeadRecord, *, report: Report) -> dict:
    """Split leakage (core.analysis.duplicates.split_leakage) with the head `record`'s test
    accuracy with and without the test images that have a near-duplicate in train."""
    from core.analysis.duplicates import split_leakage

    duplicates = quality_section(quality, "duplicates", report=report)
    return remembered(
        ("leakage", ws.tv.key, record.token, quality.duplicate_threshold),
        lambda: split_leakage(tv=ws.tv, duplicates=duplicates,
                              probabilities=record.head.probabilities).as_dict(),
        kept=report.kept)


def quality_defaults() -> dict:
    """core's defaults: duplicate threshold (× the median nearest-neighbour distance),
    outlier score (× the median sample's), neighbours of the outlier score, pixel
    threshold of near-duplicates (RMS difference, fraction of 0–255)."""
    from core.analysis.duplicates import DEFAULT_PIXEL_THRESHOLD, DEFAULT_THRESHOLD
    from core.analysis.outliers import DEFAULT_OUTLIER_NEIGHBORS
    from core.analysis.quality import DEFAULT_OUTLIER_SCORE

    return {"duplicate_threshold": DEFAULT_THRESHOLD, "outlier_score": DEFAULT_OUTLIER_SCORE,
            "outlier_neighbors": DEFAULT_OUTLIER_NEIGHBORS,
            "pixel_threshold": DEFAULT_PIXEL_THRESHOLD}


def target_outliers(ws: Workspace, *, folds: int, report: Report):
    """core.analysis.target_outliers on the chosen target, every sample ranked (a
    `folds`-fold cross-fitted ridge gives the out-of-sample predictions; cached)."""
    from core.analysis.target_outliers import find_target_outliers
    from core.base.progress import Progress
    from core.heads import train_head

    target = ws.target

    def compute():
        with report.progress(f"Cross-fitting ridge ({folds} folds) for the target outliers…",
                             replace_view=True) as panel:
            trained = train_head(tv=ws.tv, head="ridge", target=target, cross_fit_folds=folds,
                                 progress=panel)
            panel(Progress("finding each sample's neighbours", 0, 1))
            return find_target_outliers(tv=ws.tv, target=target,
                                        predictions=trained.predictions, include_all=True)

    return remembered(("target_outliers", ws.tv.key, target.key, folds), compute,
                      kept=report.kept)
