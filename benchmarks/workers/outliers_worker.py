"""Planted outliers: sklearn digits (upscaled to the dataset's image size, random labels)
mixed into the dataset; the share of them in each method's top k (k = number planted), ours
vs cleanlab's OutOfDistribution on the same transfer values and the same cross-fitted
probabilities."""

from __future__ import annotations

import numpy as np

from benchmarks.common import emit, input_parser, peak_rss_mb, timer


def upscaled_digits(*, count: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """`count` sklearn digits resized (bilinear) to `shape` (H, W, C) uint8."""
    from PIL import Image

    from core.datasets import load_dataset

    digits = load_dataset(name="digits")
    rows = np.random.default_rng(seed).choice(len(digits), size=count, replace=False)
    height, width, channels = shape
    out = np.empty((count, height, width, channels), dtype=np.uint8)
    for i, row in enumerate(rows):
        image = Image.fromarray(digits.images.get(int(row))[..., 0]).resize((width, height),
                                                                            Image.BILINEAR)
        out[i] = np.asarray(image)[..., None]
    return out


def main() -> None:
    parser = input_parser()
    parser.add_argument("--planted", type=int, default=300)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()

    from cleanlab.outlier import OutOfDistribution

    from core.analysis.outliers import find_outliers
    from core.datasets import load_dataset
    from core.datasets.base import make_array_dataset
    from core.features.feature_sets import feature_values, from_arrays
    from core.heads import train_head

    base = load_dataset(name=args.dataset).limited(limit=args.limit or None)
    shape = base.images.uniform_shape
    size = args.size or None
    base_tv = feature_values(dataset=base, backbone=args.backbone, image_size=size)
    rng = np.random.default_rng(args.seed)
    images = upscaled_digits(count=args.planted, shape=shape, seed=args.seed)
    labels = rng.integers(0, base.num_classes, size=args.planted)
    splits = rng.choice(base.splits, size=args.planted)  # the dataset's split shares
    ids = np.array([f"digit-{args.seed}/{i}" for i in range(args.planted)])
    digits_tv = feature_values(dataset=make_array_dataset(
        name="planted digits", images=images, labels=labels, class_names=base.class_names,
        splits=splits, sample_ids=ids, source="planted"), backbone=args.backbone, image_size=size)
    tv = from_arrays(values=np.vstack([np.asarray(base_tv.values), np.asarray(digits_tv.values)]),
                     labels=np.concatenate([base.labels, labels]),
                     splits=np.concatenate([base.splits, splits]),
                     sample_ids=np.concatenate([np.asarray(base.sample_ids).astype(str), ids]),
                     class_names=base.class_names, name=f"with-digits-{args.seed}")
    planted = np.arange(len(base), tv.n)
    probabilities = train_head(tv=tv, head="logreg", cross_fit_folds=5).probabilities
    values = np.asarray(tv.values, dtype=np.float32)
    rankings, seconds = {}, {}
    with timer() as took:
        rankings["ours"] = find_outliers(tv=tv, probabilities=probabilities)["index"].to_numpy()
    seconds["ours"] = took["seconds"]
    with timer() as took:
        rankings["ours_isolation"] = find_outliers(tv=tv)["index"].to_numpy()
    seconds["ours_isolation"] = took["seconds"]
    # cleanlab: lower score = more out of distribution
    with timer() as took:
        scores = OutOfDistribution().fit_score(features=values)
    rankings["cleanlab_features"], seconds["cleanlab_features"] = np.argsort(scores, kind="stable"), took["seconds"]
    with timer() as took:
        scores = OutOfDistribution().fit_score(pred_probs=probabilities, labels=tv.labels)
    rankings["cleanlab_pred_probs"], seconds["cleanlab_pred_probs"] = np.argsort(scores, kind="stable"), took["seconds"]
    k = len(planted)
    hits = {name: int(np.isin(order[:k], planted).sum()) for name, order in rankings.items()}
    emit({"dataset": args.dataset, "seed": args.seed, "n": tv.n, "k": k, "hits": hits,
          "seconds": seconds, "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
