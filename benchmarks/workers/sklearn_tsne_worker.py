"""scikit-learn's t-SNE on a saved input matrix, in its own process (the caller kills it at
its time cap). Settings match `compute_projection`'s t-SNE: 2-D, perplexity 30, 750
iterations in total of which 250 exaggerated, PCA initialisation, the same PCA-50 input."""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import emit, peak_rss_mb, timer
from core.analysis.projection_quality import knn_recall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True, help=".npy written by projection_worker")
    parser.add_argument("--perplexity", type=float, default=30.0)
    parser.add_argument("--iterations", type=int, default=750)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn.manifold import TSNE

    X = np.load(args.input)
    tsne = TSNE(n_components=2, perplexity=args.perplexity, max_iter=args.iterations,
                early_exaggeration=12.0, init="pca", method="barnes_hut",
                random_state=args.seed, n_jobs=-1)
    with timer() as took:
        coords = tsne.fit_transform(X)
    emit({"n": len(X), "seconds": took["seconds"], "kl_divergence": float(tsne.kl_divergence_),
          "recall10": knn_recall(high=X, low=coords),
          "n_iter": int(tsne.n_iter_), "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
