"""Measure how long a dashboard rerun takes when the user switches views (server time).

Drives the real app with Streamlit's AppTest: the first run computes (or loads) everything,
a head is trained, each view is visited once to warm it, then every view switch is timed.

    .venv/bin/python scripts/dashboard_rerun_timing.py --dataset fashion_mnist \\
        --backbone efficientnet_lite0 --size 96 --limits 10000,all

`--backbone tiny_test_cnn` registers the test backbone (seconds, no weights): the rerun
cost depends on the number of points, not on the backbone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VIEWS = ("Projections", "Train a head", "Confusion matrix", "Failures", "Label issues",
         "Inspect an image", "Export")


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


def measure(*, dataset: str, backbone: str, size: int, limit: str, repeats: int) -> dict:
    import tempfile

    from streamlit.testing.v1 import AppTest

    os.environ.update({"TRANSFER_LENS_DATASET": dataset, "TRANSFER_LENS_BACKBONE": backbone,
                       "TRANSFER_LENS_IMAGE_SIZE": str(size), "TRANSFER_LENS_LIMIT": limit})
    _apply_runner_config()
    entry = Path(tempfile.mkdtemp()) / "timed_app.py"
    entry.write_text(TIMED_ENTRY)
    at = AppTest.from_file(str(entry), default_timeout=3600)
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    _check(at)
    header = at.markdown[0].value
    at.segmented_control(key="view").set_value("Train a head").run()
    started = time.perf_counter()
    at.button(key="FormSubmitter:train_form-Train").click().run()
    training = time.perf_counter() - started
    _check(at)
    at.segmented_control(key="view").set_value("Label issues").run()
    if any(b.key == "find_issues" for b in at.button):
        at.button(key="find_issues").click().run()
    for view in VIEWS:  # warm: first visits build figures, kNN graphs, ...
        at.segmented_control(key="view").set_value(view).run()
        _check(at)
    server: dict[str, list[float]] = {view: [] for view in VIEWS}
    round_trip: dict[str, list[float]] = {view: [] for view in VIEWS}
    for _ in range(repeats):
        for view in VIEWS:
            at.segmented_control(key="view").set_value(view)
            started = time.perf_counter()
            at.run()
            round_trip[view].append(time.perf_counter() - started)
            server[view].append(at.session_state["_script_seconds"])
            _check(at)
    same = []
    for _ in range(repeats):  # a rerun without any change (e.g. a click that changes nothing)
        at.run()
        same.append(at.session_state["_script_seconds"])
    return {"header": header, "first_run_s": first, "train_s": training,
            "server_ms": {v: 1000 * statistics.median(t) for v, t in server.items()},
            "round_trip_ms": {v: 1000 * statistics.median(t) for v, t in round_trip.items()},
            "same_view_rerun_ms": 1000 * statistics.median(same)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--limits", default="10000,all", help="comma-separated; 'all' = full")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", help="cache folder (default: $TRANSFER_LENS_CACHE or cache/)")
    args = parser.parse_args()
    if args.cache:
        os.environ["TRANSFER_LENS_CACHE"] = args.cache
    if args.backbone == "tiny_test_cnn":
        from tests.tiny_backbone import register_tiny

        register_tiny()
    for limit in args.limits.split(","):
        result = measure(dataset=args.dataset, backbone=args.backbone, size=args.size,
                         limit=limit, repeats=args.repeats)
        print(f"\n{result['header']}")
        print(f"  first run {result['first_run_s']:.1f} s, training (logreg) "
              f"{result['train_s']:.1f} s")
        print(f"  {'switch to':<27}{'server':>8}{'AppTest':>9}   (median of {args.repeats})")
        for view, ms in result["server_ms"].items():
            print(f"  {view:<27}{ms:6.0f}ms{result['round_trip_ms'][view]:7.0f}ms")
        print(f"  {'(same view, no change)':<27}{result['same_view_rerun_ms']:6.0f}ms")


if __name__ == "__main__":
    main()
