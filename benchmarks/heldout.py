"""The corrections benchmark's yardstick: clean images of the dataset's own distribution
that no cleaner ever sees — the full dataset's test split minus the limited subset's rows
(Fashion-MNIST: its official 10,000 test images less the 1,459 drawn into the 10k subset),
extracted once with the same backbone and size, and cached like any transfer values."""

from __future__ import annotations

import numpy as np


def heldout_test(*, dataset: str, backbone: str, size: int, limit: int):
    """(values float32, labels) of the full dataset's test rows outside `limited(limit)`;
    None when the subset already holds the whole test split."""
    from core.base.splits import TEST
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    full = load_dataset(name=dataset)
    subset_ids = set(np.asarray(full.limited(limit=limit or None).sample_ids).astype(str))
    rows = np.flatnonzero((np.asarray(full.splits) == TEST)
                          & ~np.isin(np.asarray(full.sample_ids).astype(str), list(subset_ids)))
    if not len(rows):
        return None
    tv = compute_transfer_values(dataset=full.subset(rows, tag=f"[heldout:{len(rows)}]"),
                                 backbone=backbone, image_size=size or None)
    return np.asarray(tv.values, dtype=np.float32), np.asarray(tv.labels, dtype=np.int64)


if __name__ == "__main__":  # extract once ahead of the workers
    import sys

    values, labels = heldout_test(dataset=sys.argv[1], backbone=sys.argv[2], size=int(sys.argv[3]),
                                  limit=int(sys.argv[4]))
    print(values.shape, np.bincount(labels))
