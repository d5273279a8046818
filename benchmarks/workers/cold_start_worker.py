"""Worker: a cold start to the first UMAP. Starts `streamlit run dashboard/app.py` (local
mode, the runtime left to `auto`) on an empty scratch cache, opens the projection with UMAP
on a dataset in headless Chromium, and times until the UMAP is drawn (the chart on an idle
page with its "UMAP of N points" caption). The timeline, in seconds from opening the page:
when each progress line first shows (the page's text is read every 0.2 s: extraction,
the kNN graph, UMAP's numba compilation, its layout, and a first map of the images
extracted so far when the app draws one: `first_preview_s`) and when each cache entry was
written (its manifest's time: the transfer values, the PCA reduction, the kNN graph, the
projection); the parts are the gaps between consecutive events, so "projection saved →
drawn" is the draw. Beside each part's seconds, the CPU seconds the server process and the
browser (with its Playwright driver) spent in it, read from /proc every 0.2 s: under load,
wall seconds stretch with whatever else runs, CPU seconds much less, so a part that costs
the app more CPU than the same work costs a command shows there. Stops the server; one JSON
line.

    python -m benchmarks.workers.cold_start_worker --dataset fashion_mnist
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, emit
from tests.support.streamlit_server import streamlit_server

CHROMIUM = "/usr/bin/chromium"
# (event, a text its progress line shows), in the order they run ("PCA" is also a button)
PHASES = (("extraction shown", "Computing transfer values"), ("kNN shown", "-NN graph"),
          ("UMAP compiling shown", "compiling numba kernels"),
          ("UMAP layout shown", "optimising the layout"))
PREVIEW = "Preview:"  # the caption of the first map drawn while the values are extracted
IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used, all its threads; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_children() -> dict[int, list[int]]:
    """Each process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    return children


def descendants(pid: int, children: dict[int, list[int]]) -> set[int]:
    """Every process below `pid` (children, their children...)."""
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


class CpuMeter:
    """CPU seconds of the server and of everything else this worker started (the browser
    and its driver), sampled over time so any moment's figure can be looked up. A process
    that ended keeps counting what it used while it ran (its last reading)."""

    def __init__(self, *, server: int) -> None:
        self.server = server
        self.samples: list[tuple[float, float, float]] = []  # (epoch, server, browser)
        self._last: dict[int, float] = {}

    def sample(self) -> None:
        children = process_children()
        server_tree = descendants(self.server, children) | {self.server}
        for pid in descendants(os.getpid(), children) - server_tree:
            self._last[pid] = max(self._last.get(pid, 0.0), cpu_seconds(pid))
        self.samples.append((time.time(), cpu_seconds(self.server), sum(self._last.values())))

    def at(self, epoch: float) -> tuple[float, float]:
        """(server, browser) CPU seconds at `epoch`: the last sample at or before it."""
        before = [s for s in self.samples if s[0] <= epoch] or self.samples[:1]
        return (before[-1][1], before[-1][2]) if before else (0.0, 0.0)


def timeline(page, *, n_text: str, timeout: float, started: float,
             meter: CpuMeter | None = None) -> tuple[dict[str, float], str]:
    """Seconds from `started` (perf_counter, the page's opening) to the first sight of each
    phase and to "drawn" (the chart and its caption on an idle page), and the page's text;
    `meter` is sampled on every look."""
    seen: dict[str, float] = {}
    text = ""
    while time.perf_counter() - started < timeout:
        if meter is not None:
            meter.sample()
        text = page.evaluate("() => document.body.innerText")
        now = time.perf_counter() - started
        for phase, marker in PHASES:
            if phase not in seen and marker in text:
                seen[phase] = now
        if ("preview drawn" not in seen and PREVIEW in text
                and page.locator(".js-plotly-plot").count()):
            seen["preview drawn"] = now  # a first map of the images extracted so far
        if (f"UMAP of {n_text} points" in text and page.locator(".js-plotly-plot").count()
                and page.evaluate(IDLE_JS)):
            seen["drawn"] = now
            return seen, text
        if page.locator(ERRORS).count():
            raise RuntimeError("the page shows an error: "
                               + page.locator(ERRORS).first.inner_text()[:500])
        page.wait_for_timeout(200)
    raise TimeoutError(f"no UMAP drawn within {timeout:.0f} s; last text: {text[-500:]}")


# cache entries and the event their manifest's time marks
SAVED = {"transfer_values": "values saved", "reductions": "PCA saved", "knn": "kNN saved",
         "projections": "projection saved"}


def saved(cache: Path, *, opened: float) -> dict[str, float]:
    """Seconds from `opened` (epoch) to the write of each kind's (last) cache entry."""
    events = {}
    for kind, event in SAVED.items():
        times = [m.stat().st_mtime for m in (cache / kind).glob("*/manifest.json")]
        if times:
            events[event] = max(times) - opened
    return events


def parts(events: dict[str, float]) -> dict[str, float]:
    """The gaps between consecutive events ("A → B": seconds), from opening the page."""
    ordered = sorted(events.items(), key=lambda item: item[1])
    gaps, previous, at = {}, "opened", 0.0
    for name, time_s in ordered:
        gaps[f"{previous} → {name}"] = round(time_s - at, 2)
        previous, at = name, time_s
    return gaps


def cpu_parts(events: dict[str, float], *, meter: CpuMeter,
              opened: float) -> dict[str, dict[str, float]]:
    """The CPU seconds of the server and the browser in each gap between consecutive events
    (the same names as `parts`), from opening the page."""
    ordered = sorted(events.items(), key=lambda item: item[1])
    gaps, previous = {}, "opened"
    before = meter.at(opened)
    for name, time_s in ordered:
        now = meter.at(opened + time_s)
        gaps[f"{previous} → {name}"] = {"server": round(now[0] - before[0], 2),
                                        "browser": round(now[1] - before[1], 2)}
        previous, before = name, now
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--limit", type=int, default=0, help="0: every image")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--preview-rows", type=int, default=None,
                        help="rows of the app's first map (0: none; default: the app's)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from core.datasets import load_dataset

    n = args.limit or len(load_dataset(name=args.dataset))
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        env = {**os.environ, "TRANSFER_LENS_CACHE": str(Path(scratch) / "cache"),
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        for name in ("TRANSFER_LENS_PUBLIC", "TRANSFER_LENS_RUNTIME", "TRANSFER_LENS_PRECISION",
                     "TRANSFER_LENS_AUTO_RUNTIME", "TRANSFER_LENS_DATASET", "TRANSFER_LENS_LIMIT",
                     "TRANSFER_LENS_PREVIEW_ROWS"):
            env.pop(name, None)
        if args.preview_rows is not None:
            env["TRANSFER_LENS_PREVIEW_ROWS"] = str(args.preview_rows)
        server_started = time.perf_counter()
        with streamlit_server(script=ROOT / "dashboard" / "app.py", env=env,
                              log_path=Path(scratch) / "streamlit.log") as (url, server), \
                sync_playwright() as playwright:
            server_seconds = time.perf_counter() - server_started
            browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(args.timeout * 1000)
            query = (f"ds={args.dataset}&bb={args.backbone}&px={args.size}"
                     f"&n={args.limit or 'all'}&m=umap")
            meter = CpuMeter(server=server.pid)
            meter.sample()
            opened, started = time.time(), time.perf_counter()
            page.goto(f"{url}/?{query}")
            seen, _ = timeline(page, n_text=f"{n:,}", timeout=args.timeout, started=started,
                               meter=meter)
            browser.close()
        events = {**seen, **saved(Path(scratch) / "cache", opened=opened)}
        runtime = _extraction_runtime(Path(scratch) / "cache")
    emit({"dataset": args.dataset, "n": n, "backbone": args.backbone, "size": args.size,
          "preview_rows": args.preview_rows,
          "server_start_s": round(server_seconds, 2), "first_umap_s": round(seen["drawn"], 2),
          "first_preview_s": round(seen["preview drawn"], 2) if "preview drawn" in seen else None,
          "events_s": {k: round(v, 2) for k, v in sorted(events.items(), key=lambda e: e[1])},
          "parts_s": parts(events), "parts_cpu_s": cpu_parts(events, meter=meter, opened=opened),
          **runtime})


def _extraction_runtime(cache: Path) -> dict:
    """What ran the extraction, from the values' manifest."""
    import json

    for manifest in (cache / "transfer_values").glob("*/manifest.json"):
        data = json.loads(manifest.read_text())
        return {"runtime": data.get("runtime"), "precision": data.get("precision")}
    return {}


if __name__ == "__main__":
    main()
