"""Two trained heads side by side on the same samples: accuracies, per-class F1 and how the
test confusion matrix changes from the first to the second. Plain data, for the app and the
CLI alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.heads.evaluation import confusion_matrix
from core.base.errors import TransferLensError
from core.base.splits import split_mask
from core.heads.degenerate import is_degenerate

_SCORES = ("val_accuracy", "test_accuracy", "chance_accuracy", "train_seconds")


def compare_heads(a: Any, b: Any, *, tv) -> dict[str, Any]:
    """Compare heads `a` and `b` (TrainedHeads, or anything with `predictions`, `metrics`,
    `head`, `key`) on the transfer values `tv` their predictions are for.

    Returns {"a", "b": name, key, scores, degenerate; "per_class": [{class, f1_a, f1_b,
    f1_change}]; "class_names"; "confusion_a", "confusion_b", "confusion_change" (b − a, test
    rows; it sums to zero); "test": {n, both_right, only_a_right, only_b_right, both_wrong}}."""
    labels, names = np.asarray(tv.labels), list(tv.class_names)
    if len(a.predictions) != len(labels) or len(b.predictions) != len(labels):
        raise TransferLensError("Both heads must have predictions for these transfer values.")
    test = split_mask(tv.splits, "test")
    matrices = [confusion_matrix(labels=labels, predictions=h.predictions, num_classes=len(names),
                                 mask=test) for h in (a, b)]
    f1 = [{row["class"]: row["f1"] for row in h.metrics.get("per_class", [])} for h in (a, b)]
    right_a = np.asarray(a.predictions)[test] == labels[test]
    right_b = np.asarray(b.predictions)[test] == labels[test]
    return {
        "a": _side(a), "b": _side(b), "class_names": names,
        "per_class": [{"class": c, "f1_a": f1[0].get(c), "f1_b": f1[1].get(c),
                       "f1_change": (None if f1[0].get(c) is None or f1[1].get(c) is None
                                     else f1[1][c] - f1[0][c])} for c in names],
        "confusion_a": matrices[0].tolist(), "confusion_b": matrices[1].tolist(),
        "confusion_change": (matrices[1] - matrices[0]).tolist(),
        "test": {"n": int(test.sum()), "both_right": int(np.sum(right_a & right_b)),
                 "only_a_right": int(np.sum(right_a & ~right_b)),
                 "only_b_right": int(np.sum(~right_a & right_b)),
                 "both_wrong": int(np.sum(~right_a & ~right_b))},
    }


def _side(head: Any) -> dict[str, Any]:
    return {"head": head.head, "key": head.key, "params": head.params,
            **{name: head.metrics.get(name) for name in _SCORES},
            # a cached head's summary judged it with its epoch history already
            "degenerate": head.degenerate if hasattr(head, "degenerate") else is_degenerate(head)}


class _Outputs:
    """What compare_heads reads of a cached head, without loading its model."""

    def __init__(self, summary, probabilities: np.ndarray) -> None:
        self.head, self.key, self.params = summary.head, summary.key, summary.params
        self.metrics, self.degenerate = summary.metrics, summary.degenerate
        self.predictions = probabilities.argmax(axis=1)


def compare_cached_heads(*, key_a: str, key_b: str,
                         cache_dir: str | Path | None = None) -> dict[str, Any]:
    """`compare_heads` for two heads of the heads cache, by key; their transfer values are
    read from the cache (they may differ, e.g. before and after fine-tuning, as long as they
    hold the same samples)."""
    from core.heads.history import summarize_head
    from core.heads.storage import read_probabilities

    summaries = [summarize_head(key=key, cache_dir=cache_dir) for key in (key_a, key_b)]
    regression = [s.key for s in summaries if s.task == "regression"]
    if regression:
        raise TransferLensError(f"Head {regression[0]} is a regression head; comparing "
                                f"compares classifiers' accuracies and confusions (see its "
                                f"R², MAE and RMSE with `python -m core heads`).")
    values = [_cached_values(s.tv_key, cache_dir) for s in summaries]
    if not (np.array_equal(values[0].sample_ids, values[1].sample_ids)
            and np.array_equal(values[0].labels, values[1].labels)):
        raise TransferLensError("The two heads were trained on different samples; only heads "
                                "on the same dataset can be compared.")
    a, b = (_Outputs(s, read_probabilities(s.path)) for s in summaries)
    return compare_heads(a, b, tv=values[0])


def _cached_values(tv_key: str | None, cache_dir):
    from core.features.feature_sets import load_feature_set
    from core.features.transfer_values import load_transfer_values

    tv = None
    if tv_key:
        tv = (load_transfer_values(key=tv_key, cache_dir=cache_dir)
              or load_feature_set(key=tv_key, cache_dir=cache_dir))
    if tv is None:
        raise TransferLensError(f"The transfer values {tv_key} of this head are no longer in "
                                f"the cache; compute them again to compare.")
    return tv
