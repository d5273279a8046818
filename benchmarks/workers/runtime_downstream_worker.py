"""A reduced precision against f32 on what users do with transfer values, in its own process:
the logistic-regression head's test accuracy, each image's 15 nearest neighbours, and the
300 most suspicious label issues. f32 runs on the runtime that runs the reduced precision
(its f32 values equal TensorFlow's)."""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--n", type=int, default=70_000)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--top", type=int, default=300)
    args = parser.parse_args()

    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS, find_label_issues
    from core.analysis.neighbors import knn_graph
    from core.backbones.runtime import PRECISION_RUNTIME
    from core.datasets import default_dataset_name, load_dataset
    from core.features.transfer_values import compute_transfer_values
    from core.heads import train_head

    name = default_dataset_name()
    data = load_dataset(name=name).limited(limit=args.n, seed=1)
    measured = {}
    # the run's cache (full runs: the real one), so a re-run reuses the values and heads
    for precision in ("f32", args.precision):
        tv = compute_transfer_values(dataset=data, backbone=args.backbone, image_size=args.size,
                                     runtime=PRECISION_RUNTIME[args.precision],
                                     precision=precision)
        if tv.manifest.get("precision", "f32") != precision:  # the manifest says what made them
            raise SystemExit(f"{precision} did not run: {tv.runtime or tv.manifest}")
        head = train_head(tv=tv, head="logreg")
        folds = train_head(tv=tv, head="logreg", cross_fit_folds=DEFAULT_CROSS_FIT_FOLDS)
        issues = find_label_issues(tv=tv, probabilities=folds.probabilities, include_all=True,
                                   top=args.top)
        measured[precision] = {
            "values": np.asarray(tv.values, np.float64),
            "accuracy": float(head.metrics["test_accuracy"]),
            "neighbours": np.asarray(knn_graph(tv=tv, n_neighbors=15).indices_),
            "issues": set(issues["index"].tolist())}
    f32, low = measured["f32"], measured[args.precision]
    emit({"dataset": name, "n": len(data), "size": args.size, "precision": args.precision,
          "f32_test_accuracy": f32["accuracy"], "test_accuracy": low["accuracy"],
          "knn15_overlap": neighbour_overlap(f32["neighbours"], low["neighbours"]),
          "label_issues_top300_overlap": len(f32["issues"] & low["issues"]) / max(
              1, len(f32["issues"])),
          "min_cosine": float(cosines(f32["values"], low["values"]).min())})


def neighbour_overlap(reference: np.ndarray, other: np.ndarray) -> float:
    """The mean share of each row's neighbours (index rows) that `other` keeps."""
    return float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(reference, other)]))


def cosines(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Each row's cosine similarity between two value matrices."""
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    return (reference * other).sum(1) / np.maximum(
        np.linalg.norm(reference, axis=1) * np.linalg.norm(other, axis=1), 1e-12)


if __name__ == "__main__":
    main()
