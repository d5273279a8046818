"""How well a regression head predicts: R², MAE, RMSE per split, the mean-predicting
baseline, and the error per class (when the dataset has classes)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    if len(actual) == 0:
        return {"r2": None, "mae": None, "rmse": None}
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {"r2": float(r2_score(actual, predicted)) if len(actual) > 1 else None,
            "mae": float(mean_absolute_error(actual, predicted)),
            "rmse": float(np.sqrt(mean_squared_error(actual, predicted)))}


def evaluate_regression(*, targets: np.ndarray, predictions: np.ndarray, train: np.ndarray,
                        val: np.ndarray, test: np.ndarray, labels: np.ndarray | None = None,
                        class_names: Sequence[str] = ()) -> dict[str, Any]:
    """`train_r2`…`test_rmse` per split; `r2`, `mae`, `rmse` on test (val when there is no
    test split); `baseline_mae`/`baseline_rmse`: always predicting the training mean, on the
    same rows; `per_class`: n, MAE, RMSE and mean error (bias) per class on those rows."""
    targets = np.asarray(targets, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    metrics: dict[str, Any] = {}
    for split, rows in (("train", train), ("val", val), ("test", test)):
        for name, value in _scores(targets[rows], predictions[rows]).items():
            metrics[f"{split}_{name}"] = value
    report_split, report = ("test", test) if len(test) else ("val", val)
    mean = float(targets[train].mean()) if len(train) else 0.0
    metrics.update({name: metrics[f"{report_split}_{name}"] for name in ("r2", "mae", "rmse")})
    baseline = _scores(targets[report], np.full(len(report), mean))
    metrics.update(baseline_mae=baseline["mae"], baseline_rmse=baseline["rmse"],
                   baseline_rule=f"the training mean {mean:.6g}, scored on {report_split}",
                   reported_on=report_split, target_mean=mean,
                   target_std=float(targets[train].std()) if len(train) else None,
                   n_train=int(len(train)), n_val=int(len(val)), n_test=int(len(test)))
    metrics["per_class"] = per_class_errors(targets=targets[report],
                                            predictions=predictions[report],
                                            labels=None if labels is None else
                                            np.asarray(labels)[report], class_names=class_names)
    return metrics


def per_class_errors(*, targets: np.ndarray, predictions: np.ndarray,
                     labels: np.ndarray | None, class_names: Sequence[str]) -> list[dict]:
    """One row per class (none without at least two classes): n, mae, rmse, mean_error
    (predicted − actual: positive means the head over-estimates that class)."""
    if labels is None or len(class_names) < 2:
        return []
    rows = []
    for c, name in enumerate(class_names):
        mask = labels == c
        errors = predictions[mask] - targets[mask]
        rows.append({"class": name, "n": int(mask.sum()),
                     "mae": float(np.abs(errors).mean()) if mask.any() else None,
                     "rmse": float(np.sqrt(np.mean(errors ** 2))) if mask.any() else None,
                     "mean_error": float(errors.mean()) if mask.any() else None})
    return rows
