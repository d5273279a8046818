"""t-SNE or UMAP of 1,000,000 points through the landmark path (fit a seeded sample, place
the rest with the library's `transform`), in a fresh process: wall time and peak RSS.

`--dataset fashion_mnist_1m --size 32`: the real transfer values of that dataset (extracted
beforehand, about 6.5 min at 32 px on 2 cores), the whole path from the 1280-d values: the
shared PCA-50 (the covariance solver at this size), the landmark fit and the placing.
Without `--dataset` the input is derived from real values, not extracted: the PCA-50 of
Fashion-MNIST's 70,000 transfer values (Lite0 at 96 px), each row repeated to N rows with
Gaussian noise of `--noise` × each component's standard deviation.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from benchmarks.common import emit, peak_rss_mb, timer


def derived_points(*, n: int, noise: float, seed: int = 0):
    from core.analysis.reduction import pca_reduce
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    tv = compute_transfer_values(dataset=load_dataset(name="fashion_mnist"),
                                 backbone="efficientnet_lite0", image_size=96)
    base = np.asarray(pca_reduce(tv=tv, dims=50).coords, np.float32)
    source = np.arange(n) % len(base)
    rng = np.random.default_rng(seed)
    values = base[source] + rng.standard_normal((n, 50), dtype=np.float32) * (
        noise * base.std(axis=0))
    return values, np.asarray(tv.labels)[source], tv.class_names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--method", choices=("tsne", "umap"), required=True)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--landmarks", type=int, default=0,
                        help="points to fit on (0: core's automatic choice)")
    parser.add_argument("--synthetic", action="store_true",
                        help="seeded Gaussian blobs instead of values derived from real ones")
    parser.add_argument("--dataset", help="real transfer values of this dataset (cached)")
    parser.add_argument("--size", type=int, default=32, help="--dataset: their input size")
    args = parser.parse_args()

    from core.analysis.projection_quality import knn_recall
    from core.analysis.projections import compute_projection
    from core.analysis.reduction import reduced_values

    params = {"landmarks": args.landmarks} if args.landmarks else None
    stages: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-landmarks-") as scratch:
        tv, source = _points(args, scratch)
        with timer() as took:  # nothing is cached in scratch: real values' PCA-50 included
            projection = compute_projection(tv=tv, method=args.method, cache_dir=scratch,
                                            params=params,
                                            progress=lambda p: stages.append(p.stage))
        # the map's own input: the PCA-50 of real values, the 50-D derived values as they are
        high = reduced_values(tv=tv, pca_dims=50, cache_dir=scratch)
        recall = knn_recall(high=high, low=np.asarray(projection.coords))
    emit({"method": args.method, "n": tv.n, "source": source, "seconds": took["seconds"],
          "fit_seconds": projection.details.get("fit_seconds"),
          "place_seconds": projection.details.get("place_seconds"),
          "landmarks": projection.details.get("landmarks"),
          "placed": projection.details.get("placed"), "recall10": recall,
          "stages": sorted(set(stages)), "peak_rss_mb": peak_rss_mb()})


def _points(args, scratch: str):
    """(TransferValues, a label for the input): a dataset's cached real values, seeded
    blobs, or values derived from the real 70,000."""
    if args.dataset:
        from core.datasets import load_dataset
        from core.features.transfer_values import compute_transfer_values

        tv = compute_transfer_values(dataset=load_dataset(name=args.dataset),
                                     backbone="efficientnet_lite0", image_size=args.size)
        return tv, f"{args.dataset} at {args.size} px"
    from core.features.feature_sets import from_arrays

    if args.synthetic:
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 10, args.n)
        values = (rng.standard_normal((10, 50))[labels] * 4
                  + rng.standard_normal((args.n, 50))).astype(np.float32)
        names = [str(i) for i in range(10)]
    else:
        values, labels, names = derived_points(n=args.n, noise=args.noise)
    tv = from_arrays(values=values, labels=labels, class_names=names, name=f"derived-{args.n}",
                     cache_dir=scratch)
    return tv, "blobs" if args.synthetic else "derived from real values"


if __name__ == "__main__":
    main()
