"""Error slices (core.analysis.slices) of a head this session has on the values: which heads
to offer, the slices of one (cached by core, memoised here), a selection scored as a slice."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dashboard.services.heads import heads_on, load_head
from dashboard.services.memo import remembered
from dashboard.services.report import Report
from dashboard.state import results

if TYPE_CHECKING:
    from dashboard.services.workspace import Workspace

ACTIVE, CROSSFIT = "active", "crossfit"  # option ids of the session's two head records


def head_options(ws: Workspace) -> dict[str, str]:
    """id → label of the classification heads on these values: the active head, the
    cross-fitted one of Data quality, then the other cached ones (in a public app only the
    visitor's own), newest first; degenerate heads are left out."""
    from core.heads import head_title

    options: dict[str, str] = {}
    seen: set[str] = set()
    for option, record in _session_records(ws):
        if record is None or (record.key or option) in seen:
            continue
        seen.add(record.key or option)
        role = "active" if option == ACTIVE else "data quality's"
        options[record.key or option] = _label(head_title(record.head.head),
                                                record.head.cross_fit_folds,
                                                record.head.metrics.get("test_accuracy"), role)
    for summary in heads_on(ws.tv.key):
        if summary.key in seen or summary.degenerate:
            continue
        seen.add(summary.key)
        options[summary.key] = _label(summary.title, summary.cross_fit_folds,
                                      summary.test_accuracy, summary.created[:16].replace("T", " "))
    return options


def _label(title: str, folds: int, accuracy: float | None, note: str) -> str:
    fitted = f"{folds}-fold cross-fitted" if folds >= 2 else "not cross-fitted"
    scored = "" if accuracy is None else f" · test {accuracy:.1%}"
    return f"{title} · {fitted}{scored} · {note}"


def _session_records(ws: Workspace) -> list[tuple[str, object]]:
    return [(ACTIVE, results.head_record(ws.tv.key)), (CROSSFIT, results.crossfit_head(ws.tv.key))]


def chosen_head(ws: Workspace, option: str):
    """The head (core.heads.TrainedHead) behind an option of `head_options`."""
    for name, record in _session_records(ws):
        if record is not None and (record.key or name) == option:
            return record.head
    return load_head(option)


def image_stats(ws: Workspace, *, report: Report) -> dict[str, np.ndarray]:
    """Brightness and contrast of every image (core.analysis.slices.image_statistics), read
    once per process: the descriptions name them when they set a slice apart."""
    from core.analysis.slices import image_statistics

    def compute():
        with report.busy(f"Measuring brightness and contrast of {ws.tv.n:,} images…"):
            return image_statistics([ws.dataset.images.get(i) for i in range(ws.tv.n)])

    return remembered(("image_stats", ws.tv.key), compute, kept=report.kept)


def evaluated_rows(ws: Workspace, head) -> np.ndarray:
    """The rows whose predictions by `head` are out-of-sample (all when cross-fitted)."""
    from core.analysis.slices import out_of_sample_rows

    return out_of_sample_rows(splits=ws.tv.splits, cross_fit_folds=head.cross_fit_folds)


def error_slices(ws: Workspace, head, *, report: Report):
    """The ranked error slices of `head` (core.analysis.slices.ErrorSlices, core's default
    settings, as `python -m core slices`); core caches them on disk. A search is heavy work:
    it waits in line for the job slot (the bar says so) and counts against the session's
    share in a public app (core.base.jobs.heavy_job), within core's public bound."""
    from core.analysis.slices import find_error_slices

    stats = image_stats(ws, report=report)

    def compute():
        with report.progress("Searching for groups of images the head gets wrong…") as panel:
            return find_error_slices(tv=ws.tv, probabilities=head.probabilities,
                                     evaluated=evaluated_rows(ws, head), image_stats=stats,
                                     progress=panel)

    key = head.key or id(head)
    return remembered(("error_slices", ws.tv.key, key), compute, kept=report.kept)


def score_selection(ws: Workspace, head, indices: np.ndarray, *, report: Report):
    """Selected images scored as a slice (core.analysis.slices.score_selection), or None when
    none (or all) of them has an out-of-sample prediction."""
    from core.analysis.slices import score_selection as score

    rows = evaluated_rows(ws, head)
    inside = int(np.isin(indices, rows).sum())
    if inside == 0 or inside == len(rows):
        return None
    return score(tv=ws.tv, probabilities=head.probabilities, members=indices, evaluated=rows,
                 image_stats=image_stats(ws, report=report))


def gallery_order(item, head, labels: np.ndarray) -> np.ndarray:
    """A slice's members to show: its representative gallery first, then its other wrongly
    predicted members, then the rest (each group in row order)."""
    members = np.asarray(item.members, dtype=np.int64)
    first = np.asarray(item.gallery, dtype=np.int64)
    others = members[~np.isin(members, first)]
    wrong = head.predictions[others] != labels[others]
    return np.concatenate([first, others[wrong], others[~wrong]])
