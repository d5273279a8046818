"""One projection method at one N, in a fresh process (so UMAP's first call pays numba).

- pca: randomized and full SVD, 2-D, on the raw features.
- tsne: openTSNE through `compute_projection` (kNN graph + affinities + optimisation),
  after the shared PCA-50 input is prepared untimed; `--save-input` writes that input so
  scikit-learn's t-SNE can be run on exactly the same points.
- tsne and umap also report neighbour preservation: kNN recall@10 of the 2-D map against
  the PCA-50 input on a seeded 5k subsample (`core.analysis.projection_quality`).
- umap: the first call (numba compilation + fit) and a second call with another seed
  (fit only), both after the kNN graph is prepared untimed, so they differ only by warmth.

Every derived result goes to a fresh scratch cache, so nothing is a cache hit.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from benchmarks.common import emit, peak_rss_mb, timer
from core.analysis.projection_quality import knn_recall


def measure_pca(*, tv, scratch: str) -> dict:
    from sklearn.decomposition import PCA

    from core.analysis.projections import compute_projection

    # warm BLAS threads and sklearn imports so the first solver timed is not penalised
    PCA(n_components=2).fit(np.random.default_rng(0).normal(size=(200, 50)))
    out = {}
    for solver in ("randomized", "full"):
        with timer() as took:
            compute_projection(tv=tv, method="pca", params={"solver": solver}, cache_dir=scratch)
        out[f"{solver}_seconds"] = took["seconds"]
    return out


def measure_tsne(*, tv, scratch: str, save_input: str | None) -> dict:
    from core.analysis.projections import compute_projection
    from core.analysis.reduction import reduced_values

    with timer() as prep:
        X = reduced_values(tv=tv, pca_dims=50, cache_dir=scratch)
    if save_input:
        np.save(save_input, np.ascontiguousarray(X, dtype=np.float32))
    with timer() as took:
        projection = compute_projection(tv=tv, method="tsne", cache_dir=scratch)
    return {"pca50_seconds": prep["seconds"], "seconds": took["seconds"],
            "recall10": knn_recall(high=X, low=np.asarray(projection.coords)),
            "threads": projection.details.get("threads"),
            "gradient": projection.details.get("gradient"),
            "kl_divergence": projection.details.get("kl_divergence"),
            "n_iter": projection.params["n_iter"], "perplexity": projection.params["perplexity"]}


def measure_umap(*, tv, scratch: str) -> dict:
    from core.analysis.neighbors import knn_graph
    from core.analysis.projections import compute_projection, default_params
    from core.analysis.reduction import reduced_values

    k = min(default_params("umap")["n_neighbors"], tv.n) - 1
    with timer() as prep:
        knn_graph(tv=tv, n_neighbors=k, pca_dims=50, cache_dir=scratch)
    with timer() as first:
        projection = compute_projection(tv=tv, method="umap", seed=0, cache_dir=scratch)
    with timer() as warm:  # another seed: a new cache key, so a real second fit
        compute_projection(tv=tv, method="umap", seed=1, cache_dir=scratch)
    X = reduced_values(tv=tv, pca_dims=50, cache_dir=scratch)
    return {"knn_seconds": prep["seconds"], "first_seconds": first["seconds"],
            "warm_seconds": warm["seconds"],
            "recall10": knn_recall(high=X, low=np.asarray(projection.coords))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--method", choices=("pca", "tsne", "umap"), required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--source", default="synthetic")
    parser.add_argument("--save-input", help="tsne: write the PCA-50 input here (.npy)")
    args = parser.parse_args()

    from benchmarks.features import load_points

    with tempfile.TemporaryDirectory(prefix="bench-proj-") as scratch:
        tv = load_points(source=args.source, n=args.n, scratch=scratch)
        if args.method == "pca":
            result = measure_pca(tv=tv, scratch=scratch)
        elif args.method == "tsne":
            result = measure_tsne(tv=tv, scratch=scratch, save_input=args.save_input)
        else:
            result = measure_umap(tv=tv, scratch=scratch)
    emit({"method": args.method, "n": tv.n, "source": args.source, **result,
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
