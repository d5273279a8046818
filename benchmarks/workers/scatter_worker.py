"""The projection chart's bytes per rerun and build times at N points, in a fresh process.

Below map_figures.POINTS_UP_TO the chart is the light scatter (uint16 positions, uint32 index
customdata); above it the density image of every point plus a sample. Coordinates: the 2-D
PCA of Fashion-MNIST's real transfer values (`--source real`, Lite0 at 96 px, computed once
and cached), repeated to N rows with Gaussian jitter of 1% of each axis' spread when N is
larger than the 70,000 real points (values derived from real ones, not extracted); or
seeded Gaussian blobs (`--source synthetic`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import plotly.io

from benchmarks.common import emit, peak_rss_mb


def map_points(*, n: int, source: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    if source == "synthetic":
        labels = rng.integers(0, 10, n)
        centres = rng.standard_normal((10, 2)) * 6
        return (centres[labels] + rng.standard_normal((n, 2))).astype(np.float32), labels, \
            [str(i) for i in range(10)]
    from core.analysis.projections import compute_projection
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    tv = compute_transfer_values(dataset=load_dataset(name="fashion_mnist"),
                                 backbone="efficientnet_lite0", image_size=96)
    base = np.asarray(compute_projection(tv=tv, method="pca").coords, np.float32)
    source_rows = np.arange(n) % len(base)
    coords = base[source_rows]
    if n > len(base):
        coords = coords + rng.standard_normal((n, 2)).astype(np.float32) * 0.01 * base.std(axis=0)
    return coords, np.asarray(tv.labels)[source_rows], list(tv.class_names)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--source", choices=("real", "synthetic"), default="synthetic")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from dashboard.ui import figures, map_figures

    coords, labels, names = map_points(n=args.n, source=args.source)
    n = len(coords)
    splits = np.zeros(n, np.int8)
    started = time.perf_counter()
    if n <= map_figures.POINTS_UP_TO:
        kind = "scatter"
        figure = map_figures.projection_figure(coords=coords, labels=labels, splits=splits,
                                           class_names=names, sample_ids=np.arange(n),
                                           colour="class")
        aggregate_s = None
    else:
        kind = "density"
        from core.analysis.density_image import categorical_image, to_png

        display = map_figures.display_coords(coords)
        groups = map_figures.colour_groups(labels=labels, splits=splits, class_names=names,
                                       colour="class")
        codes = np.full(n, -1, np.int32)
        for code, (_, _, mask) in enumerate(groups):
            codes[mask] = code
        whole = (0.0, float(map_figures.DISPLAY_STEPS))
        # the first call compiles datashader's numba kernels: time the second, as a server
        # that has drawn one map would
        for _ in range(2):
            start = time.perf_counter()
            image = categorical_image(coords=display, codes=codes,
                                      colours=[g[1] for g in groups], x_range=whole,
                                      y_range=whole, width=1000, height=600)
            png = to_png(image)
            aggregate_s = time.perf_counter() - start
        sample = np.sort(np.random.default_rng(0).choice(n, map_figures.SAMPLE_POINTS,
                                                         replace=False))
        figure = map_figures.density_figure(
            image_png=png, x_range=whole, y_range=whole, full_range=(whole, whole),
            sample=sample, sample_xy=display[sample], labels=labels, splits=splits,
            class_names=names, colour="class", n=n)
    build_s = time.perf_counter() - started
    prerendered = figures.PrerenderedFigure(figure)
    # a cached switch back to this map: the memo holds the figure, Streamlit serialises it
    switch = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        wire = plotly.io.to_json(prerendered, validate=False)  # what st.plotly_chart sends
        switch.append(time.perf_counter() - start)
    emit({"n": n, "source": args.source, "kind": kind, "bytes": len(wire),
          "bytes_per_point": len(wire) / n, "build_seconds": build_s,
          "aggregate_seconds": aggregate_s, "cached_switch_ms": 1000 * float(np.median(switch)),
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
