"""Worker: the public demo's soak (issue 27). The public server of public_load_worker (public
mode, committed bundle, scratch cache) and N concurrent browser sessions for a fixed time:
normal visitors go through the views (box-selecting on the projection), train a default
logistic-regression head and look at Confusion and Failures, round after round; their first
round starts in Inspect with its class activation maps on (a backbone run: TensorFlow and
the backbone load, as a real visitor's first look loads them); the first normal visitor's
first round also embeds and maps its own small .zip, and the last's looks at Fashion-MNIST
at the sidebar's default 10,000 images (as much as the abusers' capped links get, so the
baseline holds that dataset and workspace as normal use does). Abusive visitors (one in
four, at least one) open their page with the others and join once the baseline window has
closed, then mix in what issue 27 found: a 2 KB .zip holding a 4,000,000-row
targets.parquet, zips with 40-folder-deep and 300-character member names, links asking for
every image at 1,024 px (Fashion-MNIST and its 1,000,000-image version), the MLP with
100,000 hidden units, 1,000 epochs, batch 1 and 10 folds, and the fine-tune view (its time
estimate is refused in public mode).

Measured: errors a normal visitor saw (an error box, a traceback, a server path or the
uploads folder in the page's text, a timeout or any driver failure: should be 0), what the
abusers saw (refused with the limit, or an internal leaking), the click-to-idle time of the
normal visitors' cached view switches (every round after their first), and the RSS of the
server's process tree (VmRSS of the streamlit process and its descendants from /proc,
sampled every `--sample-seconds`): its peak, and two levels, each the median of the samples
in a `WINDOW_S` window: the baseline, from a minute after every page had opened (or from
when every normal visitor's first round had ended, if later), and the end, the soak's last
`WINDOW_S`. The abusers wait for the baseline's window to close, so the growth from it to
the end is the memory their abuse (and the normal visitors' rounds) left behind. Each
visitor stays `--seconds` from its page's opening.

    python -m benchmarks.workers.public_soak_worker --sessions 8 --seconds 600
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, emit
from benchmarks.workers.public_load_worker import (CHROMIUM, ERRORS, ON_VIEW_JS, VIEWS,
                                                   box_select, idle, public_server, rss_mb,
                                                   script_runs)

REFUSED = "is not available in this public Transfer Lens"
ABUSE_MLP = {"Hidden": "100000", "Epochs": "1000", "Batch size": "1", "Folds": "10"}
ABUSE_LINKS = ("/?ds=fashion_mnist&n=99999999", "/?ds=fashion_mnist&n=all&px=1024",
               "/?ds=fashion_mnist_1m&n=all&px=1024")
ALERTS = "[data-testid='stAlertContentError'], [data-testid='stAlertContentWarning']"
FINETUNE_NOTE = "[data-testid='stAlertContentInfo']"  # the view says it is not offered
PROBE = Path(__file__).resolve().parent / "memory_probe"  # its sitecustomize.py
INTERNALS = ("Traceback", "public_uploads", "Something went wrong", str(ROOT))
# memory levels are medians over a window (one sample can catch a batch in flight); the
# baseline's opens this long after every page had opened
WINDOW_S = 30.0
BASELINE_AFTER_S = 60.0
CAM_DONE = "text=/The heat map shows where in the image/"  # the maps' legend, under the strip
OWN_ZIP = "mine.zip"  # a normal visitor's own images: 3 classes of 12 digits
OWN_SHOWN = r"mine · 36 images · 3 classes"  # its workspace's caption
# a normal visitor's look at a built-in dataset: Fashion-MNIST at the sidebar's default
# size (10,000 images, also the public cap: what the abusers' capped n=99999999 gets)
OTHER_DATASET = "/?ds=fashion_mnist"
OTHER_SHOWN = r"10,000 of 70,000 images · 10 classes · [^(·]+ at \d+ px"  # not the bundle's
MAIN_SAYS_JS = ("pattern => new RegExp(pattern).test("
                "document.querySelector(\"[data-testid='stMain']\").innerText)")


def tree_rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS (or `field`) of `pid` and all its descendants (the server's worker processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += rss_mb(current, field)
        todo += children.get(current, [])
    return total


class TreeSampler(threading.Thread):
    """(seconds since start, MB) of the process tree every `every` seconds."""

    def __init__(self, pid: int, every: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.stop = pid, every, threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.started = time.perf_counter()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter() - self.started, tree_rss_mb(self.pid)))
            self.stop.wait(self.every)


def baseline_start(opened: list[float], loaded: list[float]) -> float:
    """When the baseline window opens: `BASELINE_AFTER_S` after the last page opened, or
    when the last normal visitor's first round (which loads the backbone) ended, if later:
    the baseline holds what normal use loads, never its loading in flight."""
    return max([max(opened) + BASELINE_AFTER_S, *loaded])


class Phases:
    """The soak's clock, shared by its sessions (one asyncio loop; perf_counter seconds):
    when each page opened and each normal visitor's first round ended (None: it failed
    before), and the baseline window, after which the abusers may start."""

    def __init__(self, sessions: int, normal: int) -> None:
        self.sessions, self.normal = sessions, normal
        self.opened: dict[int, float | None] = {}
        self.loaded: dict[int, float | None] = {}
        self.baseline: tuple[float, float] | None = None
        self.abuse = asyncio.Event()

    async def keep(self) -> None:
        """Wait for every page and first round, then for the baseline window to close."""
        while len(self.opened) < self.sessions or len(self.loaded) < self.normal:
            await asyncio.sleep(0.5)
        opened = [t for t in self.opened.values() if t is not None]
        start = baseline_start(opened or [time.perf_counter()],
                               [t for t in self.loaded.values() if t is not None])
        self.baseline = (start, start + WINDOW_S)
        await asyncio.sleep(max(0.0, start + WINDOW_S - time.perf_counter()))
        self.abuse.set()


def visitor_zips(folder: Path) -> dict[str, Path]:
    """The abusers' uploads (the 2 KB parquet bomb, deep names, long names) and a normal
    visitor's own small dataset (OWN_ZIP)."""
    from tests.support.data import digit_pngs, huge_parquet_bytes

    images = digit_pngs(("3", "8"), per_class=2)
    contents = {
        "rows.zip": {**images, "targets.parquet": huge_parquet_bytes()},
        "deep.zip": {"/".join(["d"] * 40) + "/x.png": next(iter(images.values()))},
        "long.zip": {**images, "digit_3/" + "a" * 300 + ".png": next(iter(images.values()))},
        OWN_ZIP: digit_pngs(("0", "1", "7"), per_class=12),
    }
    paths = {}
    for name, members in contents.items():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in members.items():
                archive.writestr(f"{Path(name).stem}/{member}", data)
        paths[name] = folder / name
        paths[name].write_bytes(buffer.getvalue())
    return paths


async def open_view(page, name: str, path: str) -> float:
    """Click `name` in the menu; ms until the URL names it and the page is idle."""
    clicked = time.perf_counter()
    await page.get_by_role("link", name=name, exact=True).click()
    await page.wait_for_function(ON_VIEW_JS, arg=path, timeout=180_000)
    await idle(page)
    return (time.perf_counter() - clicked) * 1000


async def leaks(page, secrets: tuple[str, ...]) -> list[str]:
    """Error boxes and server internals on the page now."""
    found = [f"error box: {e[:200]}" for e in await page.locator(ERRORS).all_inner_texts()]
    text = await page.locator("[data-testid='stApp']").inner_text()
    found += [f"{secret!r} on the page" for secret in secrets if secret in text]
    return found


async def train_default_head(page, record: dict, secrets: tuple[str, ...]) -> None:
    await open_view(page, "Train a head", "/train")
    await page.get_by_role("button", name="Train", exact=True).click()
    await idle(page, timeout=600_000)
    record["errors"] += await leaks(page, secrets)
    record["heads"] += 1


async def inspect_with_maps(page, image: int) -> None:
    """A first look at one image (each visitor its own) in Inspect with its class activation
    maps on: a backbone run, so TensorFlow and the backbone load as for a real visitor. The
    toggle stays on for the session: later rounds show the maps from the memo."""
    await open_view(page, "Inspect", "/inspect")
    field = page.get_by_label(re.compile(r"^or index \("))
    await field.fill(str(image))
    await field.press("Enter")
    await idle(page)
    await page.get_by_text("Class activation maps", exact=True).first.click()
    await page.wait_for_selector(CAM_DONE, timeout=600_000)
    await idle(page)


async def bring_own_images(page, url: str, file: Path) -> None:
    """A visitor's own small .zip: embedded (ONNX Runtime, the backbone converted for it
    once per server) and mapped (PCA; UMAP's kernels compile meanwhile), as a visitor who
    brings their data sees it; then back to the bundle."""
    await upload(page, file)
    await mapped_then_back(page, url, OWN_SHOWN, timeout=600_000)


async def look_at_other_dataset(page, url: str) -> None:
    """Fashion-MNIST as a visitor who picks it in the sidebar gets it: its default 10,000
    images embedded (ONNX Runtime) and mapped; then back to the bundle."""
    await page.goto(url + OTHER_DATASET)
    await mapped_then_back(page, url, OTHER_SHOWN, timeout=900_000)


async def mapped_then_back(page, url: str, shown: str, *, timeout: float) -> None:
    """Wait until the page says `shown` (a pattern) and draws its map, then go back to the
    bundle."""
    await page.wait_for_function(MAIN_SAYS_JS, arg=shown, timeout=timeout)
    for address in (None, url):
        if address is not None:
            await page.goto(address)
        await page.wait_for_selector(".js-plotly-plot .nsewdrag")
        await idle(page)


async def normal_visitor(page, url: str, record: dict, deadline: float,
                         secrets: tuple[str, ...], *, image: int, own: Path | None,
                         other: bool, first_round_done) -> None:
    """Round after round of the views; the first starts with Inspect's maps, and every third
    with a default head (the same one: cached after one), so the first round's views are
    of the head later rounds see; with `own`, the first round starts with that .zip
    uploaded and looked at, with `other`, with a look at Fashion-MNIST (10,000 images).
    `first_round_done()` is called when the first round (every kind of this visitor's
    work, once) has ended."""
    rounds = 0
    while time.perf_counter() < deadline:
        if not rounds:
            if own is not None:
                await bring_own_images(page, url, own)
                record["errors"] += await leaks(page, secrets)
            if other:
                await look_at_other_dataset(page, url)
                record["errors"] += await leaks(page, secrets)
            await inspect_with_maps(page, image)
            record["errors"] += await leaks(page, secrets)
        if rounds % 3 == 0:
            await train_default_head(page, record, secrets)
        for name, path in VIEWS.items():
            if time.perf_counter() >= deadline:
                break
            ms = await open_view(page, name, path)
            # the first round computes (neighbours, the head's view); later ones are cached
            record["switch_ms" if rounds else "first_ms"].append(ms)
            if name == "Projections":
                await box_select(page, record)
                record["selections"] += 1
            record["errors"] += await leaks(page, secrets)
        if not rounds:
            first_round_done()
        rounds += 1


async def upload(page, file: Path) -> None:
    sidebar = page.locator("[data-testid='stSidebar']")
    await sidebar.locator("[data-testid='stSelectbox']").first.click()
    await page.get_by_role("option", name="Upload a .zip of class folders…").click()
    await idle(page)
    await sidebar.locator("input[type='file']").set_input_files(str(file))
    await page.wait_for_timeout(500)
    await idle(page, timeout=300_000)


def _message(alert: str) -> str:
    """An alert's text without its icon's name (a material icon is a ligature word)."""
    icon, _, rest = alert.partition("\n\n")
    return rest if rest and icon.isidentifier() else alert


async def abusive_visitor(page, url: str, record: dict, deadline: float, zips: dict,
                          secrets: tuple[str, ...]) -> None:
    """Round after round of issue 27's abuse; each attempt should end in a refusal (an
    error box naming the limit) and never show server internals."""

    async def seen(what: str, expect: str | None = None, boxes: str | None = None) -> None:
        """Refused: an error or warning box appears (within a minute) and, with `expect`,
        says it; the first box's text is kept for the report."""
        try:
            await page.wait_for_selector(boxes or ALERTS, timeout=60_000)
            await idle(page)
            alerts = await page.locator(boxes or ALERTS).all_inner_texts()
        except Exception:  # noqa: BLE001 - no box: not refused
            alerts = []
        counts = record["abuse"].setdefault(what, {"refused": 0, "not_refused": 0, "shown": ""})
        refused = bool(alerts) and (expect is None or any(expect in a for a in alerts))
        counts["refused" if refused else "not_refused"] += 1
        counts["shown"] = counts["shown"] or " / ".join(_message(a)[:160] for a in alerts)
        record["abuser_leaks"] += [f"{what}: {x}" for x in await leaks(page, secrets)
                                   if not x.startswith("error box")]

    while time.perf_counter() < deadline:
        for link in ABUSE_LINKS:  # n=99999999 is capped to 10,000 images and embedded once
            await page.goto(url + link)
            await idle(page, timeout=300_000)
            await seen(f"link {link}")
        for name, file in zips.items():
            if name == OWN_ZIP:
                continue
            await page.goto(url)
            await idle(page)
            await upload(page, file)
            await seen(f"upload {name}", "over the limit" if name != "rows.zip"
                       else "rows, over the limit")
        await page.goto(url)
        await idle(page)
        await open_view(page, "Train a head", "/train")
        await page.get_by_role("radio", name="MLP (Keras)").or_(
            page.get_by_role("button", name="MLP (Keras)")).first.click()
        await idle(page)
        await page.get_by_text("Cross-fitting (for data quality)").click()  # holds Folds
        for label, value in ABUSE_MLP.items():
            field = page.get_by_label(label, exact=True)
            await field.fill(value)
            await field.press("Tab")
        await page.get_by_role("button", name="Train", exact=True).click()
        await idle(page, timeout=300_000)
        await seen("the issue's MLP", "over the limit of 1h00m")
        await page.goto(url + "/finetune")
        await idle(page)
        await seen("fine-tune view (estimate)", "not offered in this public Transfer Lens",
                   boxes=FINETUNE_NOTE)
        record["rounds"] += 1


async def session(browser, url: str, index: int, abusive: bool, seconds: float, out: dict,
                  zips: dict, secrets: tuple[str, ...], phases: Phases) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(180_000)
    record = {"abusive": abusive, "switch_ms": [], "first_ms": [], "selections": 0,
              "heads": 0, "errors": [], "select_retries": [], "abuse": {},
              "abuser_leaks": [], "rounds": 0}
    out[index] = record
    page.on("pageerror", lambda err: record["errors"].append(f"page error: {err}"[:300]))
    page.on("crash", lambda *_: record["errors"].append("renderer crashed"))
    try:
        await page.goto(url)
        await page.wait_for_selector(".js-plotly-plot .nsewdrag")
        await idle(page)
        # each visitor stays `seconds` after its page opened (a cold server opens 8 at once
        # in tens of seconds on 2 cores)
        record["opened_at"] = phases.opened[index] = time.perf_counter()
        deadline = record["opened_at"] + seconds
        if abusive:  # joins once the baseline window has closed, its page open meanwhile
            try:
                await asyncio.wait_for(phases.abuse.wait(),
                                       timeout=max(0.0, deadline - time.perf_counter()))
            except asyncio.TimeoutError:
                return
            record["joined_at"] = time.perf_counter()
            await abusive_visitor(page, url, record, deadline, zips, secrets)
        else:  # the first normal visitor also brings its own images, the last looks at
            # Fashion-MNIST (one visitor does both when there is one)
            await normal_visitor(
                page, url, record, deadline, secrets, image=1 + 997 * index,
                own=zips[OWN_ZIP] if index == phases.sessions - phases.normal else None,
                other=index == phases.sessions - 1,
                first_round_done=lambda: phases.loaded.setdefault(index, time.perf_counter()))
    except Exception as error:  # noqa: BLE001 - counted (a timeout is an error), run goes on
        record["errors"].append(f"{type(error).__name__}: {str(error)[:300]}")
        if os.environ.get("LOAD_SHOTS"):
            await page.screenshot(path=f"{os.environ['LOAD_SHOTS']}/soak_error_{index}.png")
    finally:
        phases.opened.setdefault(index, None)  # failed before: the schedule goes on
        if not abusive:
            phases.loaded.setdefault(index, None)
        await page.close()


async def drive(url: str, sessions: int, seconds: float, zips: dict,
                secrets: tuple[str, ...]) -> tuple[dict, Phases]:
    from playwright.async_api import async_playwright

    abusers = max(1, sessions // 4)
    out: dict[int, dict] = {}
    phases = Phases(sessions, sessions - abusers)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                            "--disable-background-networking"])
        keeper = asyncio.create_task(phases.keep())
        await asyncio.gather(*(session(browser, url, i, i < abusers, seconds, out, zips,
                                       secrets, phases) for i in range(sessions)))
        keeper.cancel()  # a run shorter than the baseline's window ends without it
        await browser.close()
    return out, phases


def level(samples: list[tuple[float, float]], window: tuple[float, float] | None
          ) -> tuple[float | None, int]:
    """The median of the samples in `window` ((from, to) seconds), and how many there were
    (None, 0: no window, or no sample in it)."""
    inside = [mb for t, mb in samples if window and window[0] <= t <= window[1]]
    return (float(np.median(inside)) if inside else None), len(inside)


def memory_summary(samples: list[tuple[float, float]], *,
                   baseline: tuple[float, float] | None, end: tuple[float, float]) -> dict:
    """The tree's RSS (MB): its level in the `baseline` and `end` windows ((from, to)
    seconds since sampling started; None: the run never got to the baseline), each the
    median of the samples there, the growth from one to the other, and the peak."""
    first, first_n = level(samples, baseline)
    last, last_n = level(samples, end)
    return {"rss_baseline_mb": first, "rss_end_mb": last,
            "rss_growth": last / first - 1 if first and last else None,
            "peak_rss_mb": max((mb for _, mb in samples), default=None),
            "baseline_window_s": baseline, "end_window_s": end,
            "baseline_samples": first_n, "end_samples": last_n}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--sample-seconds", type=float, default=2.0)
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the server only, to compare a "
                        "variant (NAME= leaves NAME out)")
    parser.add_argument("--probe", metavar="FILE",
                        help="the server writes a memory probe line to FILE every 30 s "
                        "(benchmarks/workers/memory_probe; MEMORY_PROBE_TRACE=1: tracemalloc)")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    if args.probe:
        extra_env.update(MEMORY_PROBE=str(Path(args.probe).resolve()), PYTHONPATH=os.pathsep.join(
            [str(PROBE), *filter(None, [os.environ.get("PYTHONPATH")])]))
    with public_server(extra_env) as (url, server, scratch), \
            tempfile.TemporaryDirectory(prefix="soak-zips-") as folder:
        zips = visitor_zips(Path(folder))
        secrets = (*INTERNALS, str(scratch))
        sampler = TreeSampler(server.pid, args.sample_seconds)
        sampler.start()
        try:
            started = time.perf_counter()
            records, phases = asyncio.run(drive(url, args.sessions, args.seconds, zips,
                                                secrets))
            wall = time.perf_counter() - started
        finally:
            sampler.stop.set()
            sampler.join()
        # of the RSS at the end, the pages of mapped files (libraries such as TensorFlow's,
        # cache files): shared and reclaimable, unlike the anonymous rest
        file_mb = tree_rss_mb(server.pid, "RssFile")
        tail = (scratch / "streamlit.log").read_text()[-3000:]
        runs = script_runs(scratch)
    # the soak's clock (seconds since sampling started): every page had opened; the
    # baseline's window; the abusers joined; the soak's last WINDOW_S (each visitor stays
    # `seconds` from its page's opening)
    opened = max((t for t in phases.opened.values() if t is not None),
                 default=sampler.started) - sampler.started
    baseline = None if phases.baseline is None else tuple(
        t - sampler.started for t in phases.baseline)
    joined = [r["joined_at"] - sampler.started for r in records.values() if "joined_at" in r]
    end = (opened + args.seconds - WINDOW_S, opened + args.seconds)
    stride = max(1, len(sampler.samples) // 60)  # the trace: about 60 of the samples
    normal = [r for r in records.values() if not r["abusive"]]
    abusers = [r for r in records.values() if r["abusive"]]
    switches = np.array([ms for r in normal for ms in r["switch_ms"]])
    errors = [e for r in normal for e in r["errors"]]
    abuse: dict[str, dict[str, int]] = {}
    for r in abusers:
        for what, counts in r["abuse"].items():
            for key, n in counts.items():
                totals = abuse.setdefault(what, {"refused": 0, "not_refused": 0, "shown": ""})
                if key == "shown":
                    totals[key] = totals[key] or n
                else:
                    totals[key] += n
    served = np.array([run["seconds"] * 1000 for run in runs
                       if run.get("view") not in (None, "train")])
    emit({"sessions": args.sessions, "normal_sessions": len(normal),
          "abusive_sessions": len(abusers), "seconds": args.seconds, "wall_s": wall,
          "view_switches": int(switches.size),
          "switch_p50_ms": float(np.percentile(switches, 50)) if switches.size else None,
          "switch_p95_ms": float(np.percentile(switches, 95)) if switches.size else None,
          "server_p95_ms": float(np.percentile(served, 95)) if served.size else None,
          "selections": sum(r["selections"] for r in normal),
          "heads_trained": sum(r["heads"] for r in normal),
          "abuse_rounds": sum(r["rounds"] for r in abusers), "abuse": abuse,
          "abuser_leaks": [x for r in abusers for x in r["abuser_leaks"]][:20],
          "abuser_errors": [e for r in abusers for e in r["errors"]][:10],
          "error_count": len(errors), "errors": errors[:20],
          **memory_summary(sampler.samples, baseline=baseline, end=end), "all_open_s": opened,
          "abusers_joined_s": min(joined, default=None), "window_s": WINDOW_S,
          "baseline_after_s": BASELINE_AFTER_S,
          "rss_end_file_mb": file_mb, "rss_samples": len(sampler.samples),
          "rss_trace_mb": [round(mb) for _, mb in sampler.samples[::stride]],
          "rss_trace_step_s": stride * args.sample_seconds,
          "server_log_tail": tail if errors or any(r["errors"] for r in abusers) else ""})


if __name__ == "__main__":
    main()
