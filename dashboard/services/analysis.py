"""Analyses of the transfer values (core caches these on disk; the memo skips even the
disk read): projections, the kNN graph, separability, class counts, density images."""

from __future__ import annotations

import json
import threading

from dashboard.services.bundles import bundle_of, bundle_projection
from dashboard.services.memo import memo, remembered, root
from dashboard.services.report import Report

METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def projection(tv, *, method: str, dims: int, params: dict | None = None, report: Report):
    from core.analysis.projections import compute_projection

    params_id = json.dumps(params or {}, sort_keys=True)
    published = bundle_projection(tv, method=method, dims=dims, params=params)
    if published is not None:
        return published

    def compute():
        name = METHOD_NAMES.get(method, method)
        with report.progress(f"Computing the {name} projection of {tv.n:,} points…",
                             replace_view=True) as panel:
            return compute_projection(tv=tv, method=method, dims=dims, params=params,
                                      progress=panel)

    return remembered(("projection", tv.key, method, dims, params_id), compute,
                      kept=report.kept)


def knn(tv, *, n_neighbors: int = 15, report: Report):
    from core.analysis.neighbors import knn_graph

    bundle = bundle_of(tv)
    if bundle is not None and n_neighbors <= bundle.knn_indices.shape[1]:
        return bundle.knn_graph()  # the bundle's own graph: nothing computed

    def compute():
        with report.progress(f"Finding the nearest neighbours of {tv.n:,} points…",
                             replace_view=True) as panel:
            return knn_graph(tv=tv, n_neighbors=n_neighbors, progress=panel)

    return remembered(("knn", tv.key, n_neighbors), compute, kept=report.kept)


_knn_builds: set[tuple] = set()
_knn_builds_lock = threading.Lock()


def build_knn_in_background(tv, *, n_neighbors: int = 15) -> None:
    """Start the shared kNN graph of `tv` in a thread as soon as its values are ready, so the
    first selection finds it built (a 70k selection used to wait ~30 s for it). A selection
    that comes first computes it as before: core's cache lock makes it wait for this build
    and read its entry instead of computing twice."""
    if bundle_of(tv) is not None:
        return
    full_key = (root(), "knn", tv.key, n_neighbors)
    store = memo()  # resolved here: st.cache_resource belongs to the script thread
    with _knn_builds_lock:
        if full_key in _knn_builds or store.get(full_key) is not None:
            return
        _knn_builds.add(full_key)

    def build() -> None:
        from core.analysis.neighbors import knn_graph

        try:
            store.put(full_key, knn_graph(tv=tv, n_neighbors=n_neighbors, cache_dir=full_key[0]))
        except Exception:  # noqa: BLE001 - the foreground computes it (and reports) when asked
            with _knn_builds_lock:
                _knn_builds.discard(full_key)

    threading.Thread(target=build, name=f"knn-{tv.key}", daemon=True).start()


def graph_worth_building(tv) -> bool:
    """Whether tv's exact kNN graph is built ahead of need: up to core's
    GRAPH_FOR_LOOKUPS_UP_TO points (it grows as N², an hour at a million); above, only a view
    that needs the whole graph (label issues) builds it, with progress."""
    from core.analysis.neighbors import GRAPH_FOR_LOOKUPS_UP_TO

    return tv.n <= GRAPH_FOR_LOOKUPS_UP_TO


def nearest(tv, index: int, k: int = 8, *, report: Report) -> list[tuple[int, float]]:
    from core.analysis.neighbors import nearest_neighbors

    if bundle_of(tv) is not None or graph_worth_building(tv):
        graph = knn(tv, report=report)  # build (or load) the shared graph once, first
        if bundle_of(tv) is not None and k <= graph.indices_.shape[1]:
            return [(int(i), float(d)) for i, d in zip(graph.indices_[int(index), :k],
                                                       graph.distances_[int(index), :k])]
    return nearest_neighbors(tv=tv, index=int(index), k=k)  # above the limit: one row


def separability(tv, *, report: Report) -> dict:
    from core.analysis.separability import separability as compute

    def run():
        with report.busy("Measuring how separable the classes are (kNN accuracy)…"):
            return compute(tv=tv)

    return remembered(("separability", tv.key), run, kept=report.kept)


def class_counts(tv, *, report: Report):
    """Samples per class and split (core.analysis.class_balance, nothing flagged)."""
    from core.analysis.class_balance import class_balance

    return remembered(("class_counts", tv.key), lambda: class_balance(tv=tv), kept=report.kept)


def density_png(*, coords, width: int, height: int, x_range, y_range, codes=None,
                colours=(), values=None, colour_scale=(), value_range=(0.0, 1.0)) -> bytes:
    """Every point of a 2-D map as one PNG (core.analysis.density_image): categorical when
    `codes` are given, else the mean of `values` per pixel through `colour_scale`."""
    from core.analysis.density_image import categorical_image, continuous_image, to_png

    ranges = {"x_range": tuple(x_range), "y_range": tuple(y_range), "width": width,
              "height": height}
    if codes is not None:
        image = categorical_image(coords=coords, codes=codes, colours=colours, **ranges)
    else:
        image = continuous_image(coords=coords, values=values, colour_scale=colour_scale,
                                 value_range=value_range, **ranges)
    return to_png(image)
