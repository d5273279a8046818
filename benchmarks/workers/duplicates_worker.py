"""Planted near-duplicates across train/test: recall per kind, precision, leakage count and
test accuracy without the leaked images; pixels + features (core's default) side by side
with the transfer values alone, on the same values.

Copies of `per_kind` train images of each kind (benchmarks.planted_copies) are added to
test; their transfer values are computed like the dataset's own."""

from __future__ import annotations

import numpy as np

from benchmarks.common import emit, input_parser, peak_rss_mb, timer


def main() -> None:
    parser = input_parser()
    parser.add_argument("--per-kind", type=int, default=100)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()

    from benchmarks.planted_copies import KINDS, plant_copies
    from core.analysis.duplicates import (DEFAULT_PIXEL_THRESHOLD, DEFAULT_THRESHOLD,
                                          duplicate_candidates, find_duplicates, split_leakage)
    from core.analysis.neighbors import knn_graph
    from core.base.splits import TEST, TRAIN
    from core.datasets import load_dataset
    from core.datasets.base import make_array_dataset
    from core.features.feature_sets import feature_values, from_arrays
    from core.heads import train_head

    base = load_dataset(name=args.dataset).limited(limit=args.limit or None)
    size = args.size or None
    base_tv = feature_values(dataset=base, backbone=args.backbone, image_size=size)
    rng = np.random.default_rng(args.seed)
    planted = args.per_kind * len(KINDS)
    originals = rng.choice(np.flatnonzero(base.splits == TRAIN), size=planted, replace=False)
    images = base.images.batch(np.arange(len(base)))
    copies, kinds = plant_copies(images=images, originals=originals, seed=args.seed)
    copy_ids = np.array([f"copy-{args.seed}/{i}" for i in range(planted)])
    copies_ds = make_array_dataset(name="planted copies", images=copies,
                                   labels=base.labels[originals], class_names=base.class_names,
                                   splits=np.full(planted, TEST), sample_ids=copy_ids,
                                   source="planted")
    copies_tv = feature_values(dataset=copies_ds, backbone=args.backbone, image_size=size)
    labels = np.concatenate([base.labels, base.labels[originals]])
    splits = np.concatenate([base.splits, np.full(planted, TEST)]).astype(np.uint8)
    ids = np.concatenate([np.asarray(base.sample_ids).astype(str), copy_ids])
    dataset = make_array_dataset(name="with copies", images=np.concatenate([images, copies]),
                                 labels=labels, class_names=base.class_names, splits=splits,
                                 sample_ids=ids, source="planted")
    tv = from_arrays(values=np.vstack([np.asarray(base_tv.values), np.asarray(copies_tv.values)]),
                     labels=labels, splits=splits, sample_ids=ids, class_names=base.class_names,
                     name=f"with-copies-{args.seed}")
    n_base = len(base)
    copy_rows = np.arange(n_base, tv.n)
    graph = knn_graph(tv=tv, n_neighbors=90)
    with timer() as took:
        candidates = duplicate_candidates(tv=tv, graph=graph, dataset=dataset)
    probabilities = train_head(tv=tv, head="logreg", cross_fit_folds=5).probabilities

    # why the transfer values alone miss copies: where the original ranks among the copy's
    # neighbours, and how far it is (× the median nearest-neighbour distance)
    median = float(np.median(graph.distances_[:, 0]))
    features = {}
    for kind in KINDS:
        rows = copy_rows[kinds == kind]
        hit = graph.indices_[rows] == originals[kinds == kind][:, None]
        found = hit.any(axis=1)
        rank = np.where(found, hit.argmax(axis=1) + 1, 10**6)
        ratio = np.where(found, graph.distances_[rows, hit.argmax(axis=1)] / median, np.nan)
        features[kind] = {"nearest": float(np.mean(rank == 1)), "in_20": float(np.mean(rank <= 20)),
                          "median_ratio": float(np.nanmedian(ratio)) if found.any() else None}

    truth = {(int(o), int(c)) for o, c in zip(originals, copy_rows)}
    methods = {"pixels+features": dict(dataset=dataset),
               "features 0.1": dict(threshold=DEFAULT_THRESHOLD, pixel_threshold=0.0),
               "features 1.0": dict(threshold=1.0, pixel_threshold=0.0)}
    results = {}
    for name, kwargs in methods.items():
        kwargs = {"threshold": DEFAULT_THRESHOLD, "pixel_threshold": DEFAULT_PIXEL_THRESHOLD,
                  **kwargs}
        # features only: same candidates, pixel confirmation switched off
        dataset_arg = dataset if name == "pixels+features" else None
        dups = find_duplicates(tv=tv, dataset=dataset_arg, knn=graph,
                               threshold=kwargs["threshold"],
                               pixel_threshold=kwargs["pixel_threshold"])
        group = np.full(tv.n, -1)
        group[dups["index"].to_numpy()] = dups["group"].to_numpy()
        together = (group[copy_rows] >= 0) & (group[copy_rows] == group[originals])
        kept = candidates.feature_ratio <= kwargs["threshold"]
        if dataset_arg is not None:
            kept |= candidates.pixel_distance <= kwargs["pixel_threshold"]
        pairs = candidates.pairs[kept]
        with_copy = pairs[(pairs >= n_base).any(axis=1)]
        correct = sum((int(a), int(b)) in truth for a, b in with_copy)
        among_base = pairs[(pairs < n_base).all(axis=1)]
        base_cross = int(np.sum(splits[among_base[:, 0]] != splits[among_base[:, 1]]))
        leak = split_leakage(tv=tv, duplicates=dups, probabilities=probabilities)
        results[name] = {
            "recall": {k: float(np.mean(together[kinds == k])) for k in KINDS},
            "pairs_with_copy": int(len(with_copy)), "correct_pairs": int(correct),
            "precision": correct / len(with_copy) if len(with_copy) else None,
            "base_pairs": int(len(among_base)), "base_cross_split_pairs": base_cross,
            "base_images": int(np.sum(group[:n_base] >= 0)),
            "leaked_test": int(len(leak.leaked_test)),
            "leaked_planted": int(np.isin(copy_rows, leak.leaked_test).sum()),
            "test_accuracy": leak.test_accuracy,
            "test_accuracy_without_leaked": leak.test_accuracy_without_leaked}
    emit({"dataset": args.dataset, "seed": args.seed, "n": tv.n, "n_base": n_base,
          "planted": planted, "per_kind": args.per_kind, "candidates": int(len(candidates.pairs)),
          "candidate_seconds": took["seconds"], "features": features, "methods": results,
          "pixel_threshold": DEFAULT_PIXEL_THRESHOLD, "threshold": DEFAULT_THRESHOLD,
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
