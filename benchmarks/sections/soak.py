"""14. The public demo's soak: normal visitors and abusers together, for minutes."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import Run, SectionFailed
from benchmarks.sections.public import RSS_LIMIT_MB
from dashboard.services.public import deploy_environment

TITLE = "Public demo soak: normal use with abuse mixed in"
GROWTH_LIMIT = 0.10  # the end's memory level within 10 % of the baseline's


def _window(window: list[float] | None) -> str:
    return "–" if window is None else f"{window[0]:,.0f}–{window[1]:,.0f} s"


def _growth(r: dict) -> str:
    growth = r["rss_growth"]
    if growth is None:
        return "the run ended before both windows had samples"
    return (f"{r['rss_baseline_mb']:,.0f} → {r['rss_end_mb']:,.0f} MB (**{growth:+.1%}**, goal "
            f"within ±{GROWTH_LIMIT:.0%}: {'met' if abs(growth) <= GROWTH_LIMIT else 'NOT met'})")


def run(*, run: Run) -> list[str]:
    sessions, seconds = run.plan.soak_sessions, run.plan.soak_seconds
    r = run.worker("benchmarks.workers.public_soak_worker", "--sessions", sessions,
                   "--seconds", seconds, timeout=seconds + 900)
    if not r["view_switches"]:
        raise SectionFailed("no cached view switch completed",
                            [f"- `{e}`" for e in r["errors"] + r["abuser_errors"]])
    joined = r["abusers_joined_s"]
    rows = [
        ["sessions × time", f"{r['sessions']} × {r['seconds'] / 60:.0f} min "
                            f"({r['normal_sessions']} normal, {r['abusive_sessions']} abusive; "
                            f"wall {r['wall_s']:.0f} s)"],
        ["errors seen by normal visitors (error box, traceback, server path, timeout)",
         f"**{r['error_count']}**"],
        ["cached view switches of normal visitors, click to idle: p50 / p95",
         f"{r['switch_p50_ms']:,.0f} / **{r['switch_p95_ms']:,.0f} ms** "
         f"({r['view_switches']} switches, {r['selections']} box selections, "
         f"{r['heads_trained']} default heads trained)"],
        [f"server RSS (process tree), each the median over {r['window_s']:.0f} s: the baseline "
         f"({_window(r['baseline_window_s'])} after the server was up; "
         f"{r['baseline_samples']} samples) → the end ({_window(r['end_window_s'])}; "
         f"{r['end_samples']} samples)", _growth(r)],
        ["the abusers joined", "never (the run ended first)" if joined is None else
         f"{joined:,.0f} s after the server was up, when the baseline's window had closed"],
        ["of the RSS at the end: pages of mapped files (libraries, cache files; shared, "
         "reclaimable)", f"{r['rss_end_file_mb']:,.0f} MB"],
        ["peak server RSS (process tree)",
         f"**{r['peak_rss_mb']:,.0f} MB** ({'under' if r['peak_rss_mb'] < RSS_LIMIT_MB else 'OVER'}"
         f" {RSS_LIMIT_MB:,} MB)"],
        ["abuse rounds (each: 3 hostile uploads, 3 links, the MLP, fine-tune)",
         f"{r['abuse_rounds']}"],
    ]
    abuse = [[what, f"{c['refused']}", f"{c['not_refused']}",
              c["shown"].replace("|", "\\|").replace("\n", " ")[:160] or "–"]
             for what, c in sorted(r["abuse"].items())]
    notes = ([f"- normal visitor: `{e}`" for e in r["errors"]]
             + [f"- abuser saw server internals: `{e}`" for e in r["abuser_leaks"]]
             + [f"- abuser's driver: `{e}`" for e in r["abuser_errors"]])
    return ["`benchmarks/workers/public_soak_worker.py` starts the public server of section 8 "
            "as docs/public-mode.md deploys it ("
            + ", ".join(f"{name}={value}" for name, value in deploy_environment().items())
            + "; the committed bundle, a scratch cache) and drives "
            "concurrent pages of one headless Chromium. Normal visitors go round the views "
            "(box-selecting on the projection), train a default logistic-regression head at "
            "the start of every third round, and are checked after every step for an error box "
            "or server internals in the page's text (a traceback, the repository or cache "
            "path, the uploads folder). A normal visitor's first round starts in Inspect with "
            "one image's class activation maps on, a backbone run, so TensorFlow and the "
            "backbone load as a real visitor's first look loads them; the first normal "
            "visitor also brings its own small .zip (36 digit images in 3 classes: embedded "
            "on ONNX Runtime, the backbone converted for it, and mapped) before it returns to "
            "the bundle, and the last normal visitor looks at Fashion-MNIST as one who picks "
            "it in the sidebar gets it (its default 10,000 images, the public cap, embedded and "
            "mapped). One session in four is abusive: round "
            "after round it uploads "
            "issue 27's 2 KB .zip holding a 4,000,000-row targets.parquet, a .zip with a "
            "40-folder-deep member and one with a 300-character name, opens links asking for "
            "every image at 1,024 px (Fashion-MNIST, its 1,000,000-image version, n=99999999, "
            "which is capped to 10,000 images and embedded), "
            "trains the MLP with 100,000 hidden units, 1,000 epochs, batch 1 and 10 folds, and "
            "opens the fine-tune view (its estimate is refused). A cached view switch is "
            "timed from the click until the page is idle, on every round after a visitor's "
            f"first. Each visitor stays the time from its page's opening (all had opened "
            f"{r['all_open_s']:.0f} s after the server was up). Server RSS: VmRSS of the "
            f"streamlit process and its descendants, every 2 s ({r['rss_samples']} samples; "
            f"trace, MB, one every {2 * r['rss_trace_step_s']:.0f} s: "
            f"{', '.join(map(str, r['rss_trace_mb'][::2]))}). "
            f"The memory check is for memory that stays (a leak, or abuse that leaves "
            f"residue), so its two levels are medians over {r['window_s']:.0f} s, which a "
            f"batch in flight does not move: the baseline from {r['baseline_after_s']:.0f} s after "
            f"every page had opened (later if a normal visitor's first round had not ended "
            f"by then), when the server holds what normal use loads (TensorFlow, the backbone, "
            f"ONNX Runtime, a built-in dataset and its 10,000-image workspace); the end over "
            f"the soak's last {r['window_s']:.0f} s. The abusers' "
            f"pages open with the others, but they start only when the baseline's window has "
            f"closed: the growth measures what their abuse and the normal rounds left "
            f"behind, a stronger test than a baseline that already holds the abuse. (Their "
            f"capped n=99999999 link asks for the same 10,000 images as the sidebar's "
            f"default: the same cache entries, which the baseline holds, so it measures "
            f"the abuse, not a dataset's first load.)", "",
            *report.table(["", "measured"], rows), "",
            *report.table(["abuse", "refused", "not refused", "what the page said"], abuse),
            *([""] + notes if notes else []), ""]
