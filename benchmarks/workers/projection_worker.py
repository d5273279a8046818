"""One projection method at one N, in a fresh process (so UMAP's first call pays numba).

- pca: randomized and full SVD, 2-D, on the raw features.
- tsne: openTSNE through `compute_projection` (kNN graph + affinities + optimisation),
  after the shared PCA-50 input is prepared untimed; `--save-input` writes that input so
  scikit-learn's t-SNE can be run on exactly the same points. `--engine before` runs the
  same path with the settings core used before issue 16's tuning (`BEFORE`), for the
  side-by-side "ours before" column.
- tsne and umap also report neighbour preservation: kNN recall@10 of the 2-D map against
  the PCA-50 input on a seeded 5k subsample (`core.analysis.projection_quality`).
- umap: the first call (numba compilation + fit) and a second call with another seed
  (fit only), both after the kNN graph is prepared untimed, so they differ only by warmth.

Every derived result goes to a fresh scratch cache, so nothing is a cache hit.
"""

from __future__ import annotations

import argparse
import os
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


# core's t-SNE until commit 8e237d0: one thread and Barnes-Hut below 10k points, FFT with
# openTSNE's default grid above, 250 + 500 iterations
BEFORE = {"n_iter": 750, "exaggeration_iter": 250, "fft_from": 10_000, "threads_from": 10_000,
          "ints_in_interval": 1.0}


def tsne_before(*, tv, scratch: str) -> tuple[np.ndarray, dict]:
    """The shared kNN graph and affinities, then openTSNE with the `BEFORE` settings."""
    from openTSNE import TSNE

    from core.analysis.projections import tsne_affinities
    from core.analysis.reduction import reduced_values

    X = reduced_values(tv=tv, pca_dims=50, cache_dir=scratch)
    affinities, _ = tsne_affinities(tv=tv, perplexity=30.0, pca_dims=50, cache_dir=scratch)
    gradient = "fft" if tv.n >= BEFORE["fft_from"] else "bh"
    threads = (os.cpu_count() or 1) if tv.n >= BEFORE["threads_from"] else 1
    embedding = TSNE(n_components=2, n_iter=BEFORE["n_iter"] - BEFORE["exaggeration_iter"],
                     early_exaggeration_iter=BEFORE["exaggeration_iter"], random_state=0,
                     negative_gradient_method=gradient, n_jobs=threads,
                     ints_in_interval=BEFORE["ints_in_interval"],
                     verbose=False).fit(X, affinities=affinities, initialization="pca")
    return np.asarray(embedding), {"gradient": gradient, "threads": threads,
                                   "kl_divergence": float(embedding.kl_divergence),
                                   "n_iter": BEFORE["n_iter"]}


def measure_tsne(*, tv, scratch: str, save_input: str | None, engine: str) -> dict:
    from core.analysis.projections import compute_projection
    from core.analysis.reduction import reduced_values

    with timer() as prep:
        X = reduced_values(tv=tv, pca_dims=50, cache_dir=scratch)
    if save_input:
        np.save(save_input, np.ascontiguousarray(X, dtype=np.float32))
    with timer() as took:
        if engine == "before":
            coords, details = tsne_before(tv=tv, scratch=scratch)
        else:
            projection = compute_projection(tv=tv, method="tsne", cache_dir=scratch)
            coords = np.asarray(projection.coords)
            details = {**projection.details, "n_iter": projection.params["n_iter"]}
    return {"engine": engine, "pca50_seconds": prep["seconds"], "seconds": took["seconds"],
            "recall10": knn_recall(high=X, low=coords), "threads": details.get("threads"),
            "gradient": details.get("gradient"), "kl_divergence": details.get("kl_divergence"),
            "n_iter": details["n_iter"]}


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
    parser.add_argument("--engine", choices=("ours", "before"), default="ours",
                        help="tsne: core's settings now, or those before issue 16's tuning")
    parser.add_argument("--subset-seed", type=int, default=0,
                        help="which seeded random subset of the real values (N below all)")
    args = parser.parse_args()

    from benchmarks.features import load_points

    with tempfile.TemporaryDirectory(prefix="bench-proj-") as scratch:
        tv = load_points(source=args.source, n=args.n, scratch=scratch, seed=args.subset_seed)
        if args.method == "pca":
            result = measure_pca(tv=tv, scratch=scratch)
        elif args.method == "tsne":
            result = measure_tsne(tv=tv, scratch=scratch, save_input=args.save_input,
                                  engine=args.engine)
        else:
            result = measure_umap(tv=tv, scratch=scratch)
    emit({"method": args.method, "n": tv.n, "subset_seed": args.subset_seed,
          "source": args.source, **result,
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
