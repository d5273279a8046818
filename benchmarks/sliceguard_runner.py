"""Runs sliceguard (installed in its own --target folder, on PYTHONPATH) on saved values and
predictions; prints {"issues": [[row, ...], ...]} ranked as sliceguard's report ranks them
(lowest accuracy first). Usage: python -m benchmarks.sliceguard_runner INPUTS.npz"""

from __future__ import annotations

import json
import sys

import numpy as np


def main() -> None:
    import pandas as pd
    from sklearn.metrics import accuracy_score
    from sliceguard import SliceGuard

    with np.load(sys.argv[1], allow_pickle=False) as inputs:
        values = np.asarray(inputs["values"], np.float32)
        labels, predicted = inputs["labels"], inputs["predicted"]
    data = pd.DataFrame({"label": labels.astype(int), "pred": predicted.astype(int)})
    # defaults: the 20 slices with the largest accuracy drop (n_slices=20, criterion="drop")
    issues = SliceGuard().find_issues(data, ["emb"], y="label", y_pred="pred",
                                      metric=accuracy_score, metric_mode="max",
                                      precomputed_embeddings={"emb": values})
    issues = sorted(issues, key=lambda issue: float(issue["metric"]))
    print(json.dumps({"issues": [[int(i) for i in issue["indices"]] for issue in issues],
                      "metrics": [float(issue["metric"]) for issue in issues]}))


if __name__ == "__main__":
    main()
