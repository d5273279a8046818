"""Planted label noise on one dataset: ours vs cleanlab on the same out-of-fold probabilities.

Prints hits of the planted errors in each method's top k (k = number planted).
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import emit, input_parser, peak_rss_mb, timer


def main() -> None:
    parser = input_parser()
    parser.add_argument("--noise", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()

    from cleanlab.filter import find_label_issues as cleanlab_filter
    from cleanlab.rank import get_label_quality_scores

    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS, find_label_issues
    from core.datasets import load_dataset
    from core.features.feature_sets import feature_values, from_arrays
    from core.heads import train_head

    dataset = load_dataset(name=args.dataset).limited(limit=args.limit or None)
    clean = feature_values(dataset=dataset, backbone=args.backbone, image_size=args.size or None)
    rng = np.random.default_rng(args.seed)
    num_classes = len(clean.class_names)
    labels = np.asarray(clean.labels).copy()
    planted = rng.choice(clean.n, size=max(1, int(round(args.noise * clean.n))), replace=False)
    labels[planted] = (labels[planted] + rng.integers(1, num_classes, len(planted))) % num_classes
    tv = from_arrays(values=np.asarray(clean.values), labels=labels, splits=clean.splits,
                     sample_ids=clean.sample_ids, class_names=clean.class_names,
                     name=f"noisy-{args.noise}-{args.seed}")
    with timer() as took:
        p = train_head(tv=tv, head="logreg", cross_fit_folds=DEFAULT_CROSS_FIT_FOLDS).probabilities
    k = len(planted)
    rankings = {
        "ours": find_label_issues(tv=tv, probabilities=p, include_all=True)["index"].to_numpy(),
        "cleanlab_rank": np.argsort(get_label_quality_scores(labels, p), kind="stable"),
        "cleanlab_filter": np.asarray(cleanlab_filter(
            labels=labels, pred_probs=p, return_indices_ranked_by="self_confidence")),
    }
    hits = {name: int(np.isin(order[:k], planted).sum()) for name, order in rankings.items()}
    emit({"dataset": args.dataset, "noise": args.noise, "seed": args.seed, "n": tv.n, "k": k,
          "hits": hits, "returned": {n: int(min(k, len(o))) for n, o in rankings.items()},
          "head_seconds": took["seconds"], "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
