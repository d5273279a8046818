"""UMAP settings for a large map (issue 31): how much of the map's quality each cut keeps.

On the transfer values of a dataset's subset (`--limit`, as `python -m core extract
--limit` draws it, extracted into `--values-cache` once and reused), the shared PCA-50
input and kNN graph are prepared in a scratch cache and timed, then UMAP
runs as core runs it (`core.analysis.projections`: the precomputed kNN graph, seeded)
with today's settings and with each variant. Every map is scored two ways:

- recall@15 of the map against its PCA-50 input (`core.analysis.projection_quality`);
- overlap@15 with today's map (seed 0): the share of each point's 15 nearest neighbours
  on today's map that are also its neighbours on this one. Today's settings with another
  seed give the yardstick: a cut that keeps today's map as well as a reseed does keeps it.

Seconds are the fit alone (the kNN graph and numba's compilation are done before), wall
and CPU (this process, every thread): under load, compare CPU seconds.

    python -m benchmarks.workers.umap_settings_worker --limit 20000 \
        --values-cache /tmp/umap-study
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings

import numpy as np

from benchmarks.common import emit, timer
from core.analysis.projection_quality import knn_recall

K = 15
# name → UMAP keyword arguments over today's (n_neighbors 15, min_dist 0.1, seeded)
VARIANTS: dict[str, dict] = {
    "today, seed 1": {"random_state": 1},
    "init pca": {"init": "pca"},
    "100 epochs": {"n_epochs": 100},
    "150 epochs": {"n_epochs": 150},
    "init pca, 100 epochs": {"init": "pca", "n_epochs": 100},
    "negative samples 3": {"negative_sample_rate": 3},
}


def cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fit(*, X: np.ndarray, indices: np.ndarray, distances: np.ndarray, **settings) -> tuple:
    """(coords, (wall, CPU seconds), the fitted UMAP) of one fit on the precomputed graph,
    as core fits it."""
    from core.analysis.projections import import_umap_class

    UMAP = import_umap_class()
    options = {"n_components": 2, "n_neighbors": K, "min_dist": 0.1, "random_state": 0,
               "precomputed_knn": (indices, distances, None), **settings}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started, cpu = time.perf_counter(), cpu_seconds()
        reducer = UMAP(**options)
        coords = reducer.fit_transform(X)
    return (np.asarray(coords, np.float32),
            (time.perf_counter() - started, cpu_seconds() - cpu), reducer)


def spectral_seconds(*, X: np.ndarray, reducer) -> float:
    """CPU seconds of UMAP's default initialisation alone (a spectral layout of its graph)."""
    from umap.spectral import spectral_layout

    cpu = cpu_seconds()
    spectral_layout(X, reducer.graph_, 2, np.random.RandomState(0))
    return cpu_seconds() - cpu


def scores(*, X: np.ndarray, coords: np.ndarray, today: np.ndarray | None,
           labels: np.ndarray) -> dict:
    from sklearn.neighbors import KNeighborsClassifier

    held_out = min(5000, len(coords) // 2)  # the rest trains the vote
    sample = np.random.default_rng(0).choice(len(coords), held_out, replace=False)
    rest = np.setdiff1d(np.arange(len(coords)), sample)
    # how often a point's 15 nearest on the map share its label (held-out points)
    classes = KNeighborsClassifier(n_neighbors=K).fit(coords[rest], labels[rest])
    every = len(coords)  # neighbours among all points, not a subsample's
    return {"recall15_vs_input": round(knn_recall(high=X, low=coords, k=K, sample=every), 4),
            "overlap15_vs_today": None if today is None else
            round(knn_recall(high=today, low=coords, k=K, sample=every), 4),
            "map_knn15_accuracy": round(float(classes.score(coords[sample], labels[sample])), 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--limit", type=int, default=20000,
                        help="the dataset's subset, as `python -m core extract --limit`")
    parser.add_argument("--values-cache", default=None,
                        help="the cache holding (or to hold) these values (default: the "
                             "run's cache)")
    parser.add_argument("--only", default="", help="comma-separated variant names")
    args = parser.parse_args()

    from core.analysis.neighbors import knn_graph
    from core.analysis.projections import _warm_up
    from core.analysis.reduction import reduced_values
    from core.datasets.registry import load_dataset
    from core.features.transfer_values import compute_transfer_values

    dataset = load_dataset(name=args.dataset).limited(limit=args.limit)
    tv = compute_transfer_values(dataset=dataset, backbone=args.backbone,
                                 image_size=args.size, cache_dir=args.values_cache)
    with tempfile.TemporaryDirectory(prefix="bench-umap-") as scratch:
        _warm_up()  # numba's compilation, not timed below
        with timer() as pca:
            X = np.array(reduced_values(tv=tv, pca_dims=50, cache_dir=scratch))  # a copy
        with timer() as graph_time:
            graph = knn_graph(tv=tv, n_neighbors=K - 1, cache_dir=scratch)
        indices, distances = (np.ascontiguousarray(a) for a in graph.with_self())
    labels = np.asarray(tv.labels)
    today, seconds, reducer = fit(X=X, indices=indices.copy(), distances=distances.copy())
    results = {"today": {"seconds": round(seconds[0], 2), "cpu_s": round(seconds[1], 2),
                         "spectral_init_cpu_s": round(spectral_seconds(X=X, reducer=reducer),
                                                      2),
                         **scores(X=X, coords=today, today=None, labels=labels)}}
    for name in [v for v in args.only.split(",") if v] or list(VARIANTS):
        coords, seconds, _ = fit(X=X, indices=indices.copy(), distances=distances.copy(),
                                 **VARIANTS[name])
        results[name] = {"seconds": round(seconds[0], 2), "cpu_s": round(seconds[1], 2),
                         "cpu_vs_today": round(seconds[1] / results["today"]["cpu_s"], 3),
                         **scores(X=X, coords=coords, today=today, labels=labels)}
    emit({"dataset": args.dataset, "n": tv.n, "pca50_s": round(pca["seconds"], 2),
          "knn_graph_s": round(graph_time["seconds"], 2), "variants": results})


if __name__ == "__main__":
    main()
