"""Class balance: samples per class and split, and each class's share of flagged samples."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from core.base.splits import SPLIT_NAMES
from core.features.transfer_values import TransferValues


def class_balance(*, tv: TransferValues, flagged: Iterable[int] = ()) -> pd.DataFrame:
    """One row per class: class, one count column per split, total, share (of all samples),
    flagged (how many of `flagged` indices have that label) and flagged_share."""
    labels = np.asarray(tv.labels, dtype=np.int64)
    splits = np.asarray(tv.splits, dtype=np.int64)
    num_classes = len(tv.class_names)
    frame = pd.DataFrame({"class": list(tv.class_names)})
    for code, name in enumerate(SPLIT_NAMES):
        frame[str(name)] = np.bincount(labels[splits == code], minlength=num_classes)
    frame["total"] = np.bincount(labels, minlength=num_classes)
    frame["share"] = frame["total"] / max(1, len(labels))
    flagged = np.fromiter(flagged, dtype=np.int64)
    frame["flagged"] = np.bincount(labels[flagged], minlength=num_classes)
    frame["flagged_share"] = frame["flagged"] / frame["total"].clip(lower=1)
    return frame
