"""Worker: the public demo under load. Starts `streamlit run dashboard/app.py` as the public
deploy does (docs/public-mode.md: TRANSFER_LENS_PUBLIC=1 and the rest of
`deploy_environment()`) on the committed bundle, on a free localhost port with a scratch
cache, and drives N concurrent browser sessions (pages of one headless Chromium, asyncio)
for a fixed time: each goes once through the views, trains one logistic-regression head
(its own C, so every one is a real job through the job gate), then switches views and
box-selects on the projection until the time is up. Stops the server itself; prints one JSON line.

Measured: click-to-idle time of each view switch (the browser's wait until Streamlit's
running indicator is gone: server run + transfer + drawing), peak server RSS (VmRSS of the
server process from /proc, sampled every 0.25 s; psutil is not a dependency), errors shown
on any page, heads trained, and how many sessions saw "Queued: place" in their progress bar.

    python -m benchmarks.workers.public_load_worker --sessions 8 --seconds 120
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from benchmarks.common import ROOT, emit
from dashboard.services.public import deploy_environment
from tests.support.streamlit_server import streamlit_server

CHROMIUM = "/usr/bin/chromium"
# each view and the end of its URL path (Projections is the default page, "/")
VIEWS = {"Confusion": "/confusion", "Failures": "/failures", "Data quality": "/quality",
         "Inspect": "/inspect", "Projections": "/"}
# a view switch (a link in the menu at the top) is one script run of the new page: it is
# done when the URL names the new view and the page is idle (right after the click the
# running indicator may not be up yet)
ON_VIEW_JS = "path => window.location.pathname.endsWith(path)"
IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory field of /proc/<pid>/status in MB (VmRSS; RssFile: its mapped files' pages)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.25)


async def idle(page, timeout: float = 180_000) -> None:
    await page.wait_for_timeout(150)
    await page.wait_for_function(IDLE_JS, timeout=timeout)


async def tour(page, record: dict, *, until: float, rounds: int | None = None) -> None:
    """Switch through the views (box-selecting on the projection) until `until`, or for
    `rounds` rounds of every view."""
    view = 0
    names = list(VIEWS)
    while time.perf_counter() < until and (rounds is None or view < rounds * len(VIEWS)):
        name = names[view % len(VIEWS)]
        view += 1
        link = page.get_by_role("link", name=name, exact=True)
        clicked = time.perf_counter()
        await link.click()
        await page.wait_for_function(ON_VIEW_JS, arg=VIEWS[name], timeout=180_000)
        await idle(page)
        record["switch_ms"].append((time.perf_counter() - clicked) * 1000)
        if name == "Projections":
            await box_select(page, record)
            record["selections"] += 1
        for error in await page.locator(ERRORS).all_inner_texts():
            record["errors"].append(error[:300])


SELECTION_TEXT = "text=/Selection: [\\d,]+ image/"
SELECT_TRIES = 3


async def box_select(page, record: dict) -> None:
    """Drag a box on the projection until its gallery shows ("Selection: N images"). A
    drag can be lost when the chart is redrawn under the mouse (the element is replaced
    between finding it and dragging); such drags are retried with the chart found anew and
    counted in `select_retries`, with what the browser showed (a drawn selection outline
    or none), so a lost drag is told from a selection the server never answered."""
    for attempt in range(SELECT_TRIES):
        plot = page.locator(".js-plotly-plot .nsewdrag").first
        await plot.wait_for()
        area = await plot.bounding_box()
        if area is not None:
            x, y, w, h = area["x"], area["y"], area["width"], area["height"]
            await page.mouse.move(x + w * 0.3, y + h * 0.3)
            await page.mouse.down()
            await page.mouse.move(x + w * 0.45, y + h * 0.5, steps=8)
            await page.mouse.up()
            try:
                await page.wait_for_selector(SELECTION_TEXT, timeout=30_000)
                await idle(page)
                return
            except Exception:  # noqa: BLE001 - retried below, and counted
                pass
        outline = await page.locator(".js-plotly-plot .selectionlayer path").count()
        record["select_retries"].append(
            f"try {attempt + 1}: " + ("chart detached before the drag" if area is None else
                                      f"no gallery in 30 s ({outline} selection outline(s) "
                                      "drawn)"))
        await idle(page)
    raise TimeoutError(f"box selection failed {SELECT_TRIES} times")


async def session(browser, url: str, index: int, deadline: float, out: dict) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(180_000)
    record = {"switch_ms": [], "selections": 0, "trained": False, "queued_seen": False,
              "errors": [], "events": [], "select_retries": []}
    out[index] = record
    # what a blank page would hide: a crashed renderer, a navigation, the frontend's errors
    page.on("crash", lambda *_: record["events"].append("renderer crashed"))
    page.on("framenavigated", lambda frame: frame == page.main_frame and
            record["events"].append(f"navigated {time.perf_counter() - t0:.1f}s {frame.url}"))
    page.on("console", lambda msg: msg.type == "error" and
            record["events"].append(f"console {time.perf_counter() - t0:.1f}s {msg.text[:200]}"))
    page.on("pageerror", lambda err: record["errors"].append(f"page error: {err}"[:300]))
    t0 = time.perf_counter()
    try:
        started = time.perf_counter()
        await page.goto(url)
        await page.wait_for_selector(".js-plotly-plot .nsewdrag")
        record["open_s"] = time.perf_counter() - started
        await idle(page)
        await tour(page, record, until=deadline, rounds=1)  # while nobody trains yet
        # one head per session, each its own job (its own C)
        await page.get_by_role("link", name="Train a head", exact=True).click()
        await page.wait_for_function(ON_VIEW_JS, arg="/train", timeout=180_000)
        await idle(page)
        field = page.get_by_label("C (inverse regularisation)", exact=True)
        c = str(round(0.5 + 0.1 * index, 2))  # as the result's caption prints it
        await field.fill(c)
        await field.press("Tab")
        await page.get_by_role("button", name="Train", exact=True).click()
        # the bundle's head shows from the start: wait for this session's own head (its C)
        while True:  # poll: is it queued, done?
            text = await page.locator("[data-testid='stMain']").inner_text()
            record["queued_seen"] |= "Queued: place" in text
            if f"parameters: C={c}," in text and await page.evaluate(IDLE_JS):
                break
            if time.perf_counter() > deadline + 300:
                raise TimeoutError(f"the head with C={c} did not finish")
            await page.wait_for_timeout(250)
        record["trained"] = True
        await tour(page, record, until=deadline)
    except Exception as error:  # noqa: BLE001 - counted and reported, the run goes on
        record["errors"].append(f"{type(error).__name__}: {str(error)[:300]}")
        if os.environ.get("LOAD_SHOTS"):
            await page.screenshot(path=f"{os.environ['LOAD_SHOTS']}/load_error_{index}.png")
    finally:
        await page.close()


async def drive(url: str, sessions: int, seconds: float) -> dict:
    from playwright.async_api import async_playwright

    out: dict[int, dict] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                            "--disable-background-networking"])
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(session(browser, url, i, deadline, out)
                               for i in range(sessions)))
        await browser.close()
    return out


@contextlib.contextmanager
def public_server(extra_env: dict[str, str] | None = None
                  ) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`streamlit run dashboard/app.py` in public mode on the committed bundle, with a
    scratch cache and run log; yields (url, server process, scratch folder) and stops it.
    `extra_env` goes to the server only (a variant to compare). A terminated worker still
    stops its server."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="public-load-") as scratch:
        # started as docs/public-mode.md deploys it: measured is what a deployer runs
        env = {**os.environ, **deploy_environment(),
               "TRANSFER_LENS_CACHE": str(Path(scratch) / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3",
               "TRANSFER_LENS_RUN_LOG": str(Path(scratch) / "runs.jsonl")}
        for name in ("TRANSFER_LENS_DATASET", "TRANSFER_LENS_BUNDLES", "TRANSFER_LENS_JOBS"):
            env.pop(name, None)
        env.update(extra_env or {})
        for name in [name for name, value in env.items() if value == ""]:
            del env[name]  # a variant without it
        with streamlit_server(script=ROOT / "dashboard" / "app.py", env=env,
                              log_path=Path(scratch) / "streamlit.log") as (url, server):
            yield url, server, Path(scratch)


def script_runs(scratch: Path) -> list[dict]:
    """The server's run log (one JSON line per script run)."""
    log = scratch / "runs.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] \
        if log.is_file() else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    with public_server() as (url, server, scratch):
        sampler = Sampler(server.pid)
        sampler.start()
        try:
            started = time.perf_counter()
            records = asyncio.run(drive(url, args.sessions, args.seconds))
            wall = time.perf_counter() - started
        finally:
            sampler.stop.set()
        tail = (scratch / "streamlit.log").read_text()[-2000:]
        runs = script_runs(scratch)
    # the server's part: script runs of the views that only read the bundle (training runs
    # on "Train a head" hold a job for seconds and are left out)
    served = np.array([run["seconds"] * 1000 for run in runs if run["view"] not in (None, "train")])
    switches = np.array([ms for r in records.values() for ms in r["switch_ms"]])
    errors = [e for r in records.values() for e in r["errors"]]
    emit({"sessions": args.sessions, "seconds": args.seconds, "wall_s": wall,
          "view_switches": int(switches.size),
          "switch_p50_ms": float(np.percentile(switches, 50)) if switches.size else None,
          "switch_p95_ms": float(np.percentile(switches, 95)) if switches.size else None,
          "switch_max_ms": float(switches.max()) if switches.size else None,
          "server_runs": int(served.size),
          "server_p50_ms": float(np.percentile(served, 50)) if served.size else None,
          "server_p95_ms": float(np.percentile(served, 95)) if served.size else None,
          "selections": sum(r["selections"] for r in records.values()),
          "select_retries": [x for r in records.values() for x in r["select_retries"]][:20],
          "heads_trained": sum(r["trained"] for r in records.values()),
          "sessions_queued": sum(r["queued_seen"] for r in records.values()),
          "open_s": [round(r.get("open_s", float("nan")), 2) for r in records.values()],
          "peak_rss_mb": sampler.peak, "errors": errors[:20], "error_count": len(errors),
          "events": {i: r["events"][:20] for i, r in records.items() if r["events"]},
          "server_log_tail": tail if errors else ""})


if __name__ == "__main__":
    main()
