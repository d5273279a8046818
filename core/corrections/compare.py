"""Retrain on corrected labels and compare with the head trained on the dataset's labels.

Both heads are cached (the corrected one under the corrected values' key), so asking again
is instant. Like fiftyone-brain's results objects, `CorrectionComparison` holds the figures
and the rows behind them, ready for a front end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.base.splits import TEST
from core.corrections.apply import corrected, kept_rows
from core.corrections.overlay import Corrections
from core.features.transfer_values import TransferValues
from core.heads.evaluation import confusion_matrix
from core.heads.trained import TrainedHead
from core.heads.training import train_head


@dataclass
class CorrectionComparison:
    """Before (labels as given) and after (trained on corrected labels), on the test split.

    Accuracies: `*_original` scores every test sample against the dataset's labels;
    `*_corrected` scores the kept test samples against the corrected labels. Confusion
    matrices are on the corrected labels of the kept test samples (rows true, columns
    predicted); `confusion_difference` = after − before. `label_errors` are test rows whose
    label was corrected, with what each head predicted: a before "error" there was the
    label's fault when the before head predicted the corrected label."""

    head: str
    params: dict[str, Any]
    before_key: str
    after_key: str
    corrections_hash: str
    test_rows: np.ndarray  # rows (of the uncorrected values) in the test split
    kept_test_rows: np.ndarray
    accuracy: dict[str, Optional[float]]  # before/after × original/corrected
    confusion_before: np.ndarray
    confusion_after: np.ndarray
    label_errors: list[dict[str, Any]] = field(default_factory=list)
    class_names: tuple[str, ...] = ()

    @property
    def confusion_difference(self) -> np.ndarray:
        return self.confusion_after - self.confusion_before

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready) for the CLI and a front end."""
        return {"head": self.head, "params": self.params, "before_key": self.before_key,
                "after_key": self.after_key, "corrections_hash": self.corrections_hash,
                "n_test": int(len(self.test_rows)), "n_test_kept": int(len(self.kept_test_rows)),
                "accuracy": self.accuracy, "class_names": list(self.class_names),
                "confusion_before": self.confusion_before.tolist(),
                "confusion_after": self.confusion_after.tolist(),
                "confusion_difference": self.confusion_difference.tolist(),
                "label_errors": self.label_errors}


def _accuracy(predictions: np.ndarray, labels: np.ndarray) -> Optional[float]:
    return float(np.mean(predictions == labels)) if len(labels) else None


def retrain_and_compare(*, tv: TransferValues, corrections: Corrections, head: str,
                        params: dict[str, Any] | None = None, seed: int = 0,
                        cache_dir: str | Path | None = None, progress=None,
                        before: Optional[TrainedHead] = None) -> CorrectionComparison:
    """Train `head` with `params` on tv's labels (or take `before`, a head trained on tv) and
    on the corrected labels, and compare both on the test split."""
    after_tv = corrected(tv, corrections)
    if before is None:
        before = train_head(tv=tv, head=head, params=params, seed=seed, cache_dir=cache_dir,
                            progress=progress)
    elif before.tv_key != tv.key:
        raise ValueError(f"`before` was trained on {before.tv_key}, not {tv.key}")
    after = train_head(tv=after_tv, head=before.head, params=before.params, seed=seed,
                       cache_dir=cache_dir, progress=progress)
    original = np.asarray(tv.labels)
    fixed, kept = corrections.labels_and_kept()
    test = np.flatnonzero(np.asarray(tv.splits) == TEST)
    kept_test = test[kept[test]]
    predicted_before = np.asarray(before.predictions)
    # the after head's predictions for every test row, the excluded ones too
    predicted_after = np.zeros(tv.n, dtype=np.int64)
    position = np.full(tv.n, -1)
    position[kept_rows(after_tv)] = np.arange(after_tv.n)
    inside = position[test] >= 0
    predicted_after[test[inside]] = np.asarray(after.predictions)[position[test[inside]]]
    if (~inside).any():
        rows = test[~inside]
        predicted_after[rows] = after.predict(np.asarray(tv.values[rows], dtype=np.float32))
    accuracy = {
        "before_original": _accuracy(predicted_before[test], original[test]),
        "before_corrected": _accuracy(predicted_before[kept_test], fixed[kept_test]),
        "after_original": _accuracy(predicted_after[test], original[test]),
        "after_corrected": _accuracy(predicted_after[kept_test], fixed[kept_test]),
    }
    num_classes = len(tv.class_names)
    matrices = [confusion_matrix(labels=fixed[kept_test], predictions=p[kept_test],
                                 num_classes=num_classes)
                for p in (predicted_before, predicted_after)]
    names = tv.class_names
    ids = np.asarray(tv.sample_ids).astype(str)
    changed = test[(fixed[test] != original[test]) & kept[test]]
    label_errors = [{"row": int(r), "sample_id": ids[r], "given": names[original[r]],
                     "corrected": names[fixed[r]],
                     "before_predicted": names[predicted_before[r]],
                     "after_predicted": names[predicted_after[r]],
                     "before_error_was_label": bool(predicted_before[r] != original[r]
                                                    and predicted_before[r] == fixed[r])}
                    for r in changed]
    return CorrectionComparison(
        head=before.head, params=dict(before.params), before_key=str(before.key),
        after_key=str(after.key), corrections_hash=corrections.content_hash, test_rows=test,
        kept_test_rows=kept_test, accuracy=accuracy, confusion_before=matrices[0],
        confusion_after=matrices[1], label_errors=label_errors, class_names=tuple(names))
