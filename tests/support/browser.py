"""The app in a real browser: a `streamlit run` of it with the tiny test backbone, and
headless Chromium (Playwright) pages on it, with waits, drags and screenshots."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.streamlit_server import streamlit_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update"]


RUNS = "runs.jsonl"  # the server's run log (app.py: one line per script run) in tmp_path


@contextlib.contextmanager
def app_server(tmp_path: Path, dataset: str | None):
    """The app on `dataset` (None: the offline default, as `make run` opens) with the tiny
    test backbone, served on a free localhost port; the server's log tail is printed at the
    end (pytest shows it when a test fails)."""
    env = {**os.environ, "TRANSFER_LENS_CACHE": str(tmp_path / "cache"),
           "TRANSFER_LENS_DATASET": dataset, "TRANSFER_LENS_BACKBONE": "tiny_test_cnn",
           "TRANSFER_LENS_IMAGE_SIZE": "32", "TF_CPP_MIN_LOG_LEVEL": "3",
           "TRANSFER_LENS_RUN_LOG": str(tmp_path / RUNS)}
    env = {name: value for name, value in env.items() if value is not None}
    try:
        with streamlit_server(script=ROOT / "tests" / "support" / "dashboard_entry.py", env=env,
                              log_path=tmp_path / "streamlit.log") as (url, _):
            yield url
    finally:
        print((tmp_path / "streamlit.log").read_text()[-3000:])


@contextlib.contextmanager
def chromium_page(url: str, *, width: int = 1440, height: int = 1000, on_page=None):
    """A headless Chromium page at `url` (skips without chromium or playwright); `on_page`
    sees the page before it loads (to listen for requests or errors)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(120_000)
        if on_page is not None:
            on_page(page)
        page.goto(url)
        yield page
        browser.close()


def idle(page) -> None:
    """Wait until Streamlit has finished the current run (no running indicator)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_timeout(300)


def shot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main pane, so grow the window to fit."""
    height = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('section, div'),"
        " e => e.scrollHeight))")
    page.set_viewport_size({"width": 1440, "height": min(max(int(height) + 40, 1000), 7000)})
    page.wait_for_timeout(800)  # charts re-layout to the new size
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.wait_for_timeout(300)


def drag_box(page, start: tuple[float, float], stop: tuple[float, float]) -> None:
    """Drag with the mouse over the first plotly chart, between two fractions of its area
    (a box selection when the drag mode is "select")."""
    area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + area["width"] * start[0], area["y"] + area["height"] * start[1])
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * stop[0], area["y"] + area["height"] * stop[1],
                    steps=12)
    page.mouse.up()


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def wait_for_text(page, pattern: str, timeout: float = 120) -> re.Match:
    """The first match of `pattern` in the main pane, waiting for it: a view whose
    computation replaced it (the kNN graph for the neighbours) is redrawn one run later."""
    deadline = time.monotonic() + timeout
    while (match := re.search(pattern, main_text(page))) is None:
        assert time.monotonic() < deadline, f"no {pattern!r} in the page after {timeout} s"
        page.wait_for_timeout(250)
    return match


def select_box(page, start: tuple[float, float], end: tuple[float, float]) -> int:
    """Box-select on the projection (fractions of the plot area); the selection's size."""
    drag_box(page, start, end)
    idle(page)
    count = int(wait_for_text(page, r"Selection: ([\d,]+) image").group(1).replace(",", ""))
    assert count > 0
    return count


def open_view(page, name: str, runs: Path | None = None) -> None:
    """Click the view's link in the menu at the top, then wait for its URL (the link's
    parameters back after the path: the menu drops them, the run puts them back) and its
    run. With `runs` (the server's run log) check that the switch was one script run."""
    from dashboard.pages import BY_TITLE, VIEWS

    view = BY_TITLE[name]
    path = "" if view is VIEWS[0] else view.url_path
    before = len(runs.read_text().splitlines()) if runs is not None else 0
    if view.section:  # a drop-down: open it, then its link
        page.locator("[data-testid='stTopNavSection']", has_text=view.section).click()
        page.locator("[data-testid='stTopNavDropdownLink']:visible", has_text=name).click()
    else:
        page.get_by_role("link", name=name, exact=True).click()
    page.wait_for_url(re.compile(rf"^[^?]*/{re.escape(path)}\?(.*&)?ds="), timeout=120_000)
    idle(page)
    if runs is not None:  # the line is written as the run ends: wait for it, then a little
        deadline = time.monotonic() + 60
        while len(runs.read_text().splitlines()) == before and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        idle(page)
        page.wait_for_timeout(1000)  # a second run would have started by now
        views = [json.loads(line)["view"] for line in runs.read_text().splitlines()[before:]]
        assert views == [view.url_path], f"switching to {name} took these runs: {views}"
