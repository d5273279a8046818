"""How long a dashboard rerun takes when the user switches views (server time), and how many
bytes the projection chart costs per rerun that draws it.

Drives the real app with Streamlit's AppTest: the first run computes (or loads) everything,
a head is trained, each view is visited once to warm it, then every view switch is timed.
`python -m benchmarks.workers.dashboard_rerun_worker --limit 10000` measures one subset size and
prints JSON; with `--table` it prints the measurement as a table instead, and `--limit` may
list several sizes, measured one after the other in the same process:

    .venv/bin/python -m benchmarks.workers.dashboard_rerun_worker --dataset fashion_mnist \\
        --backbone efficientnet_lite0 --size 96 --limit 10000,all --table

`--method-switch` times only what the projection view does when the user switches between
cached methods (PCA ↔ UMAP, each computed once untimed): no head, no other views, so it runs
at a million points too.

`--backbone tiny_test_cnn` registers the test backbone (seconds, no weights): the rerun
cost depends on the number of points, not on the backbone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, emit, peak_rss_mb

# The app, wrapped to record how long the script itself ran (the server time), apart from
# AppTest's own bookkeeping around it.
TIMED_ENTRY = f"""
import runpy, time
import streamlit as st
started = time.perf_counter()
try:
    runpy.run_path({str(ROOT / "dashboard" / "app.py")!r}, run_name="__main__")
finally:
    st.session_state["_script_seconds"] = time.perf_counter() - started
"""


def use_backbone(name: str) -> None:
    """Make test-only backbones known in this process (the app runs in it too)."""
    if name == "tiny_test_cnn":
        from tests.support.tiny_backbone import register_tiny

        register_tiny()


def measure(*, dataset: str, backbone: str, size: int, limit: str, repeats: int,
            method_switch: bool = False) -> dict:
    """Server-side milliseconds per view switch (median of `repeats`), with the app warm;
    with `method_switch`, per cached projection-method switch instead."""
    os.environ.update({"TRANSFER_LENS_DATASET": dataset, "TRANSFER_LENS_BACKBONE": backbone,
                       "TRANSFER_LENS_IMAGE_SIZE": str(size), "TRANSFER_LENS_LIMIT": limit})
    _apply_runner_config()
    with tempfile.TemporaryDirectory(prefix="bench-app-") as folder:
        entry = Path(folder) / "timed_app.py"  # AppTest reads it again on every run
        entry.write_text(TIMED_ENTRY)
        if method_switch:
            return _measure_method_switch(entry=entry, repeats=repeats)
        return _measure_app(entry=entry, repeats=repeats)


def _first_run(entry: Path):
    """(AppTest, seconds, header) after the app's first run, which computes or loads
    everything the first view shows."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(entry), default_timeout=3600)
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    _check(at)
    return at, first, at.markdown[0].value


def _measure_method_switch(*, entry: Path, repeats: int) -> dict:
    from dashboard.state import PROJ_METHOD

    at, first, header = _first_run(entry)
    started = time.perf_counter()
    at.segmented_control(key=PROJ_METHOD).set_value("umap").run()  # computed once
    umap = time.perf_counter() - started
    _check(at)
    server: dict[str, list[float]] = {"umap": [], "pca": []}
    for _ in range(repeats):
        for method in ("pca", "umap"):
            at.segmented_control(key=PROJ_METHOD).set_value(method).run()
            server[method].append(at.session_state["_script_seconds"])
            _check(at)
    return {"header": header, "points": _points(at), "first_run_s": first,
            "umap_first_s": umap,
            "server_ms": {m: 1000 * statistics.median(t) for m, t in server.items()},
            "projection_chart_bytes": _chart_bytes(at)}


def _measure_app(*, entry: Path, repeats: int) -> dict:
    from dashboard.pages import offered  # the app's own list, so a new view is timed too

    VIEWS = {view.title: view.url_path for view in offered(numeric_targets=False)}

    def show(at, title: str):
        """Request the view's page, as the menu at the top does (one script run)."""
        from streamlit.util import calc_hash

        at._page_hash = calc_hash(VIEWS[title])  # AppTest.switch_page takes page files only
        try:
            return at.run()
        finally:
            at._page_hash = ""

    at, first, header = _first_run(entry)
    show(at, "Train a head")
    started = time.perf_counter()
    at.button(key="FormSubmitter:train_form-Train").click().run()
    training = time.perf_counter() - started
    _check(at)
    show(at, "Data quality")
    if any(b.key == "find_issues" for b in at.button):
        at.button(key="find_issues").click().run()
    for view in VIEWS:  # warm: first visits build figures, kNN graphs, ...
        show(at, view)
        _check(at)
    server: dict[str, list[float]] = {view: [] for view in VIEWS}
    round_trip: dict[str, list[float]] = {view: [] for view in VIEWS}
    for _ in range(repeats):
        for view in VIEWS:
            started = time.perf_counter()
            show(at, view)
            round_trip[view].append(time.perf_counter() - started)
            server[view].append(at.session_state["_script_seconds"])
            _check(at)
    same = []
    for _ in range(repeats):  # a rerun without any change (e.g. a click that changes nothing)
        at.run()
        same.append(at.session_state["_script_seconds"])
    show(at, "Projections")
    _check(at)
    return {"header": header, "points": _points(at), "first_run_s": first, "train_s": training,
            "server_ms": {v: 1000 * statistics.median(t) for v, t in server.items()},
            "round_trip_ms": {v: 1000 * statistics.median(t) for v, t in round_trip.items()},
            "same_view_rerun_ms": 1000 * statistics.median(same),
            "projection_chart_bytes": _chart_bytes(at)}


def _chart_bytes(at) -> int | None:
    """Serialized size of the projection chart element: what the server sends for it on
    every rerun that draws it (the figure JSON with base64 arrays, plus its config)."""
    charts = at.get("plotly_chart")
    return sum(chart.proto.ByteSize() for chart in charts) if charts else None


def _points(at) -> int | None:
    from core.features.transfer_values import load_transfer_values

    try:
        tv = load_transfer_values(key=at.session_state["tv_key"])
    except KeyError:  # the app did not get as far as transfer values
        return None
    return None if tv is None else tv.n


def _apply_runner_config() -> None:
    """Use the [runner] options of .streamlit/config.toml, as `streamlit run` does."""
    import tomllib

    from streamlit import config

    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    for name, value in settings.get("runner", {}).items():
        config.set_option(f"runner.{name}", value)


def _check(at) -> None:
    if at.exception or at.error:
        shown = [e.value for e in [*at.exception, *at.error]]
        raise SystemExit(f"the app showed an error: {shown}")


def format_result(result: dict, *, repeats: int) -> str:
    """The measurement as a small text table (`--table`)."""
    lines = [f"\n{result['header']}",
             f"  first run {result['first_run_s']:.1f} s, training (logreg) "
             f"{result['train_s']:.1f} s",
             f"  {'switch to':<27}{'server':>8}{'AppTest':>9}   (median of {repeats})"]
    for view, ms in result["server_ms"].items():
        lines.append(f"  {view:<27}{ms:6.0f}ms{result['round_trip_ms'][view]:7.0f}ms")
    lines.append(f"  {'(same view, no change)':<27}{result['same_view_rerun_ms']:6.0f}ms")
    if result.get("projection_chart_bytes") is not None:
        lines.append(f"  projection chart: {result['projection_chart_bytes']:,} bytes per rerun")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--limit", default="10000",
                        help="a subset size, or 'all'; with --table, several, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--method-switch", action="store_true",
                        help="time only cached projection-method switches (PCA ↔ UMAP)")
    parser.add_argument("--table", action="store_true",
                        help="print a table per limit instead of one JSON line")
    parser.add_argument("--cache", help="cache folder (default: $TRANSFER_LENS_CACHE or cache/)")
    args = parser.parse_args()
    limits = [limit.strip() for limit in args.limit.split(",") if limit.strip()]
    if len(limits) != 1 and not args.table:
        parser.error("one --limit per JSON line: pass --table to measure several")
    if args.table and args.method_switch:
        parser.error("--table prints the view-switch measurement, not --method-switch")
    if args.cache:
        os.environ["TRANSFER_LENS_CACHE"] = args.cache
    use_backbone(args.backbone)
    for limit in limits:
        result = measure(dataset=args.dataset, backbone=args.backbone, size=args.size,
                         limit=limit, repeats=args.repeats, method_switch=args.method_switch)
        if args.table:
            print(format_result(result, repeats=args.repeats))
        else:
            emit({**result, "limit": limit, "repeats": args.repeats,
                  "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
