"""The projection chart's bytes per rerun and build times at N points, in a fresh process.

Below map_figures.POINTS_UP_TO the chart is the light scatter (uint16 positions, uint32 index
customdata); above it the density image of every point plus a sample. Coordinates: the 2-D
PCA of Fashion-MNIST's real transfer values (`--source real`, Lite0 at 96 px, computed once
and cached), repeated to N rows with Gaussian jitter of 1% of each axis' spread when N is
larger than the 70,000 real points (values derived from real ones, not extracted); or
seeded Gaussian blobs (`--source synthetic`).

The hover's sample ids (map_figures.hover_ids), three ways: as the app sends them (regular
ids such as Fashion-MNIST's `train/00024` as a number in customdata[1]); as strings, one
per point (ids that fit no pattern, e.g. arbitrary file names); and `index`, the wire before
ids (customdata the row alone, hover `sample #row`). Bytes of each figure's JSON; with
`--draw`, the time headless Chromium (Debian chromium, software WebGL, plotly.py's bundled
plotly.js) takes from Plotly.newPlot to the second animation frame, median of --repeats.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

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


def builtin_ids(n: int) -> np.ndarray:
    """Ids as the built-in arrays name their samples (`train/00024`, `test/00024`)."""
    rows = np.arange(n)
    return np.array([f"train/{i:05d}" if i < 60_000 else f"test/{i - 60_000:05d}"
                     for i in rows % 70_000])


def file_ids(n: int) -> np.ndarray:
    """Ids that fit no pattern: file names of an uploaded folder (hashes, no number)."""
    import hashlib

    return np.array([f"class_{i % 10}/{hashlib.sha1(str(i).encode()).hexdigest()[:12]}.png"
                     .replace("0", "o").replace("1", "l") for i in range(n)])


def index_only(figure):
    """The figure as sent before the hover named sample ids: customdata the row (uint32)
    and `sample #row`, no text."""
    old = copy.deepcopy(figure)  # (a deep copy holds typed arrays as dicts: read the original)
    for source, trace in zip(figure.data, old.data):
        if source.customdata is None:
            continue
        data = np.asarray(source.customdata)
        if data.ndim == 2:
            trace.customdata = data[:, 0].astype(np.uint32)
        elif len(data):
            trace.customdata = data.astype(np.uint32)
        template = trace.hovertemplate or ""
        if trace.text is not None:
            template = template.replace("%{text}", "sample #%{customdata}")
            trace.text = None
        else:
            import re

            template = re.sub(r"[^>]*%\{customdata\[1\][^}]*\}[^<]*", "sample #%{customdata}",
                              template)
        trace.hovertemplate = template
    return old


PAGE = """<html><head><script>{plotly}</script></head>
<body><div id="chart" style="width:1000px;height:620px"></div></body></html>"""
DRAW = """async fig => { const div = document.getElementById('chart'); Plotly.purge(div);
  const started = performance.now();
  await Plotly.newPlot(div, fig.data, fig.layout);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - started; }"""


def draw_ms(wires: dict[str, str], repeats: int) -> dict[str, float]:
    """Median ms from Plotly.newPlot to drawn, per figure JSON, in headless Chromium."""
    import json

    import plotly
    from playwright.sync_api import sync_playwright

    from benchmarks.workers.browser_scatter import CHROMIUM, LAUNCH_ARGS

    script = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()
    result = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.set_content(PAGE.replace("{plotly}", script))
        for name, wire in wires.items():
            figure = json.loads(wire)
            page.evaluate(DRAW, figure)  # warm: shaders compiled, JIT
            result[name] = float(np.median([page.evaluate(DRAW, figure)
                                            for _ in range(repeats)]))
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--source", choices=("real", "synthetic"), default="synthetic")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--draw", action="store_true",
                        help="also time drawing each variant in headless Chromium")
    args = parser.parse_args()

    from dashboard.ui import figures, map_figures

    coords, labels, names = map_points(n=args.n, source=args.source)
    n = len(coords)
    ids = builtin_ids(n)
    splits = np.zeros(n, np.int8)
    started = time.perf_counter()
    if n <= map_figures.POINTS_UP_TO:
        kind = "scatter"
        figure = map_figures.projection_figure(coords=coords, labels=labels, splits=splits,
                                           class_names=names, sample_ids=ids,
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
            class_names=names, colour="class", n=n, sample_ids=ids)
    build_s = time.perf_counter() - started
    prerendered = figures.PrerenderedFigure(figure)
    # a cached switch back to this map: the memo holds the figure, Streamlit serialises it
    switch = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        wire = plotly.io.to_json(prerendered, validate=False)  # what st.plotly_chart sends
        switch.append(time.perf_counter() - start)
    variants = {"ids": wire, "index": plotly.io.to_json(index_only(figure), validate=False),
                "strings": plotly.io.to_json(_with_file_ids(figure, n), validate=False)}
    drawn = draw_ms(variants, args.repeats) if args.draw else None
    emit({"n": n, "source": args.source, "kind": kind, "bytes": len(wire),
          "hover_bytes": {name: len(text) for name, text in variants.items()},
          "draw_ms": drawn,
          "bytes_per_point": len(wire) / n, "build_seconds": build_s,
          "aggregate_seconds": aggregate_s, "cached_switch_ms": 1000 * float(np.median(switch)),
          "peak_rss_mb": peak_rss_mb()})


def _with_file_ids(figure, n: int):
    """The same figure with ids that fit no pattern: one string per point."""
    from dashboard.ui.hover_ids import ID_SLOT, hover_ids

    names = file_ids(n)
    new = copy.deepcopy(figure)
    for source, trace in zip(figure.data, new.data):
        if source.customdata is None:
            continue
        data = np.asarray(source.customdata)
        rows = data[:, 0] if data.ndim == 2 else data
        if not len(rows):
            continue
        template = (trace.hovertemplate or "").split("<br>")[0] + f"<br>{ID_SLOT}<extra></extra>"
        (_, hover), = hover_ids(rows, names, template)
        trace.customdata, trace.text = hover["customdata"], hover["text"]
        trace.hovertemplate = hover["hovertemplate"]
    return new


if __name__ == "__main__":
    main()
