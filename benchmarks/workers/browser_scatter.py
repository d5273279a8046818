"""The projection chart in headless Chromium (Playwright, Debian chromium, software WebGL):
a cached method switch from click to chart drawn, the frame times while drawing a lasso,
and mouse-up to gallery with the selection's count checked against a point-in-polygon of
the lasso over every point's display position. Reports the JS heap.

Run by the projections section on plan.browser_datasets (after it computed their values),
or by hand: `python -m benchmarks.workers.browser_scatter --dataset fashion_mnist --size 96`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, emit

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update"]
MARK_CHART = """() => { const gd = document.querySelector('.js-plotly-plot');
  window.__before = gd && gd.data && gd.data[0]; }"""
CHART_CHANGED = """() => { const gd = document.querySelector('.js-plotly-plot');
  return gd && gd._fullLayout && gd.data && gd.data[0] && gd.data[0] !== window.__before; }"""
NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
START_FRAMES = """() => { window.__frames = []; window.__recording = true;
  const tick = t => { window.__frames.push(t); if (window.__recording) requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""
STOP_FRAMES = "() => { window.__recording = false; return window.__frames; }"


def even_odd(points: np.ndarray, xs, ys) -> np.ndarray:
    inside = np.zeros(len(points), dtype=bool)
    px, py = points[:, 0], points[:, 1]
    for i in range(len(xs)):
        x0, y0, x1, y1 = xs[i - 1], ys[i - 1], xs[i], ys[i]
        if y0 == y1:
            continue
        crosses = (y0 > py) != (y1 > py)
        inside ^= crosses & (px < x0 + (py - y0) * (x1 - x0) / (y1 - y0))
    return inside


def idle(page) -> None:
    page.wait_for_timeout(200)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=600_000)


def switch(page, label: str) -> float:
    """Seconds from the click on a method to its chart drawn."""
    page.evaluate(MARK_CHART)
    button = page.locator("[data-testid='stMain'] button", has_text=re.compile(f"^{label}$"))
    started = time.perf_counter()
    button.first.click()
    page.wait_for_function(CHART_CHANGED, timeout=600_000, polling="raf")
    page.evaluate(NEXT_FRAME)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--size", default="96")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from tests.support.streamlit_server import streamlit_server

    env = {**os.environ, "TRANSFER_LENS_DATASET": args.dataset,
           "TRANSFER_LENS_BACKBONE": "efficientnet_lite0",
           "TRANSFER_LENS_IMAGE_SIZE": args.size, "TRANSFER_LENS_LIMIT": "all",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = Path("/tmp/browser_scatter_streamlit.log")
    with streamlit_server(script=ROOT / "dashboard" / "app.py", env=env, log_path=log) as (url, _), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(600_000)
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=900_000)
        idle(page)
        first_s = time.perf_counter() - started
        points = re.search(r"of ([\d,]+) points", page.locator("[data-testid='stMain']")
                           .inner_text()).group(1)
        switch(page, "UMAP")  # computed or loaded once: not timed
        idle(page)
        switch(page, "PCA")
        idle(page)
        times = {"PCA": [], "UMAP": []}
        for _ in range(args.repeats):
            for label in ("UMAP", "PCA"):
                times[label].append(switch(page, label))
                idle(page)

        # a lasso on the PCA map: 72 moves round an ellipse in the middle of the plot
        page.locator(".modebar-btn[data-title='Lasso Select']").first.click()
        area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        cx, cy = area["x"] + area["width"] * 0.5, area["y"] + area["height"] * 0.5
        angles = np.linspace(0, 2 * np.pi, 72)
        page.evaluate("""() => { const gd = document.querySelector('.js-plotly-plot');
            gd.on('plotly_selected', e => { window.__selected = e && {
                n: e.points.length, lasso: e.lassoPoints, head: e.points.slice(0, 5).map(
                p => [p.x, p.y, p.customdata, p.curveNumber, p.pointIndex])}; }); }""")
        page.mouse.move(cx + area["width"] * 0.2, cy)
        page.mouse.down()
        page.evaluate(START_FRAMES)
        move_ms = []
        for a in angles[1:]:
            t = time.perf_counter()
            page.mouse.move(cx + area["width"] * 0.2 * np.cos(a),
                            cy + area["height"] * 0.25 * np.sin(a))
            move_ms.append(1000 * (time.perf_counter() - t))
        frames = np.diff(page.evaluate(STOP_FRAMES))
        released = time.perf_counter()
        page.mouse.up()
        match = None
        while match is None:
            match = re.search(r"Selection: ([\d,]+) image",
                              page.locator("[data-testid='stMain']").inner_text())
            if match is None:
                page.wait_for_timeout(50)
        page.wait_for_selector("[data-testid='stImage'] img", timeout=600_000)
        gallery_s = time.perf_counter() - released
        idle(page)
        shown = re.search(r"Selection: ([\d,]+) image",
                          page.locator("[data-testid='stMain']").inner_text())
        count = int(shown.group(1).replace(",", ""))
        browser_side = page.evaluate("() => window.__selected || null")
        heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : null")
        # the selection's CSV (written on the click above components.EAGER_CSV_ROWS rows)
        started = time.perf_counter()
        with page.expect_download(timeout=600_000) as download:
            page.get_by_role("button", name=re.compile("Selection as CSV")).click()
        csv_rows = sum(1 for _ in open(download.value.path(), "rb")) - 1
        csv_s = time.perf_counter() - started
        browser.close()

    expected = None
    if browser_side and browser_side.get("lasso"):
        from core.analysis.projections import compute_projection
        from core.datasets import load_dataset
        from core.features.transfer_values import compute_transfer_values
        from dashboard.ui.map_figures import display_coords

        tv = compute_transfer_values(dataset=load_dataset(name=args.dataset),
                                     backbone="efficientnet_lite0", image_size=int(args.size))
        display = display_coords(np.asarray(compute_projection(tv=tv, method="pca").coords))
        lasso = browser_side["lasso"]
        expected = int(even_odd(display.astype(float), np.asarray(lasso["x"], float),
                                np.asarray(lasso["y"], float)).sum())
    emit({"dataset": args.dataset, "points": points, "first_chart_s": first_s,
          "switch_s": {k: [round(v, 3) for v in vs] for k, vs in times.items()},
          "lasso_move_ms": {"median": float(np.median(move_ms)), "max": float(np.max(move_ms))},
          "lasso_frame_ms": {"median": float(np.median(frames)), "p95": float(np.percentile(frames, 95)),
                             "max": float(np.max(frames)), "frames": int(len(frames))},
          "mouse_up_to_gallery_s": gallery_s, "selected": count, "expected": expected,
          "first_shown": int(match.group(1).replace(",", "")),
          "browser_selected": None if not browser_side else browser_side["n"],
          "browser_head": None if not browser_side else browser_side.get("head"),
          "js_heap_mb": None if heap is None else heap / 2**20,
          "csv_rows": csv_rows, "csv_seconds": csv_s})


if __name__ == "__main__":
    main()
