"""Corrections from the app: the overlay of the workspace's dataset (core.corrections), its
changes by dataset row, the review queue, retrain-and-compare and the cleaned zip.

The overlay lives in core's store beside the dataset's cache entries, keyed by the dataset's
content fingerprint, so a reload or a shared link finds it again. A local app uses core's
default namespace (the CLI's too); a public app gives each visitor's session its own, kept in
that session's folder (core.corrections.corrections_path), so two visitors on one dataset
never see each other's corrections, and they go with the session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from dashboard.services.public import is_public
from dashboard.services.report import Report
from dashboard.state import results, session

if TYPE_CHECKING:
    from dashboard.services.workspace import Workspace
    from dashboard.state.results import HeadRecord

# the reason a change records, by the view it came from
REASONS = {"label_issues": "label_issue", "review": "label_issue", "outliers": "outlier",
           "duplicates": "duplicate"}


def namespace() -> str:
    """Whose corrections: core's default locally, this session's token in a public app."""
    from core.corrections import DEFAULT_NAMESPACE

    return session.session_token() if is_public() else DEFAULT_NAMESPACE


def overlay(ws: Workspace):
    """The corrections of the workspace's dataset (core.corrections.Corrections), read from
    the store (a change made by another tab or the CLI shows at the next run)."""
    from core.corrections import open_corrections

    return open_corrections(tv=ws.tv, namespace=namespace())


def _ids(ws: Workspace, rows: Sequence[int]) -> list[str]:
    return [str(ws.tv.sample_ids[int(r)]) for r in rows]


def _reason(source: str) -> str:
    return REASONS.get(source, "manual")


def relabel(ws: Workspace, rows: Sequence[int], labels, *, source: str) -> int:
    """Give rows a class (one class index for all, or one per row); returns records changed."""
    if isinstance(labels, (int, np.integer)):
        labels = [int(labels)] * len(rows)
    return overlay(ws).relabel(sample_ids=_ids(ws, rows), labels=[int(c) for c in labels],
                               reason=_reason(source), source=source)


def exclude(ws: Workspace, rows: Sequence[int], *, source: str) -> int:
    return overlay(ws).exclude(sample_ids=_ids(ws, rows), reason=_reason(source), source=source)


def keep(ws: Workspace, rows: Sequence[int], *, source: str) -> int:
    return overlay(ws).keep(sample_ids=_ids(ws, rows), reason=_reason(source), source=source)


def undo_rows(ws: Workspace, rows: Sequence[int]) -> int:
    """Back to the dataset's own labels for these rows (one undoable step)."""
    return overlay(ws).remove(sample_ids=_ids(ws, rows))


def undo_last(ws: Workspace) -> int:
    return overlay(ws).undo()


def status_of(corrections, ws: Workspace, rows: Sequence[int]) -> dict[int, tuple[str, str]]:
    """row → (action, new class name or "") for the rows that have a record."""
    found = {}
    for row in rows:
        record = corrections.records.get(str(ws.tv.sample_ids[int(row)]))
        if record is not None:
            found[int(row)] = (record.action, record.label or "")
    return found


# --- the review queue: the flagged label errors, most suspicious first ---

def review_queue(issues) -> np.ndarray:
    """Rows of the label-issue table (core's ranking, most likely errors first)."""
    return issues["index"].to_numpy(dtype=np.int64)


def review_counts(corrections, ws: Workspace, queue: np.ndarray) -> dict[str, int]:
    """Of the queue: reviewed (any record), changed (relabelled or excluded), left."""
    actions = corrections.status(_ids(ws, queue))
    reviewed = int(np.sum(actions != ""))
    changed = int(np.sum((actions == "relabel") | (actions == "exclude")))
    return {"reviewed": reviewed, "changed": changed, "left": len(queue) - reviewed,
            "total": len(queue)}


def review_position(corrections, ws: Workspace, queue: np.ndarray) -> int:
    """Where the queue stands: the position this session walked to, else the first image
    not reviewed yet (a reload resumes there), else the last."""
    at = results.review_position(ws.tv.key)
    if at is not None and 0 <= at < len(queue):
        return at
    actions = corrections.status(_ids(ws, queue))
    open_ = np.flatnonzero(actions == "")
    return int(open_[0]) if len(open_) else max(0, len(queue) - 1)


def move_review(ws: Workspace, position: int, queue_length: int) -> None:
    results.set_review_position(ws.tv.key, int(np.clip(position, 0, max(0, queue_length - 1))))


# --- retrain and compare; the cleaned dataset ---

def retrain_and_compare(ws: Workspace, record: HeadRecord | None, *, report: Report):
    """Retrain the active head's kind and parameters (core's default head when there is
    none) on the corrected labels and compare it with the head on the given labels; the
    result is kept per transfer values (state.results) until the corrections change."""
    from core.corrections import retrain_and_compare as compare
    from core.heads import DEFAULT_HEAD

    corrections = overlay(ws)
    before = None if record is None else record.head
    head = DEFAULT_HEAD if before is None else before.head
    with report.progress(f"Retraining {head} on the corrected labels…") as panel:
        done = compare(tv=ws.tv, corrections=corrections, head=head, before=before,
                       progress=panel)
    results.store_comparison(ws.tv.key, done)
    return done


def current_comparison(ws: Workspace, corrections):
    """(the last comparison, whether it is of the corrections as they are now)."""
    done = results.comparison(ws.tv.key)
    return done, done is not None and done.corrections_hash == corrections.content_hash


def cleaned_zip(ws: Workspace) -> bytes:
    """The corrected dataset as a class-folder zip (labels.csv and corrections.jsonl in it)."""
    from core.corrections.export import cleaned_zip_bytes

    return cleaned_zip_bytes(dataset=ws.dataset, corrections=overlay(ws))


def corrections_file(ws: Workspace) -> bytes:
    """The corrections as JSON lines (what `python -m core corrections apply` reads)."""
    return overlay(ws).to_jsonl(with_undo=False)
