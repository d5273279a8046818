"""14. The public demo's soak: normal visitors and abusers together, for minutes."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import Run, SectionFailed
from benchmarks.sections.public import RSS_LIMIT_MB
from dashboard.services.public import deploy_environment

TITLE = "Public demo soak: normal use with abuse mixed in"
GROWTH_LIMIT = 0.10  # memory at the end within 10 % of its level after the first minute


def _seconds(value: float | None) -> str:
    return "not all visitors got that far" if value is None else f"{value:,.0f} s"


def run(*, run: Run) -> list[str]:
    sessions, seconds = run.plan.soak_sessions, run.plan.soak_seconds
    r = run.worker("benchmarks.workers.public_soak_worker", "--sessions", sessions,
                   "--seconds", seconds, timeout=seconds + 900)
    if not r["view_switches"]:
        raise SectionFailed("no cached view switch completed",
                            [f"- `{e}`" for e in r["errors"] + r["abuser_errors"]])
    growth = r["rss_growth"]
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
        ["server RSS (process tree): a minute after all pages opened → end",
         f"{r['rss_minute_one_mb']:,.0f} → {r['rss_end_mb']:,.0f} MB "
         f"(**{growth:+.1%}**, goal within ±{GROWTH_LIMIT:.0%}: "
         f"{'met' if abs(growth) <= GROWTH_LIMIT else 'NOT met'})"],
        ["server RSS: a minute after every visitor had done each kind of its work once "
         f"({_seconds(r.get('warm_s'))} in; the first embedding loads TensorFlow) → end",
         "the run ended before" if r.get("rss_growth_warm") is None else
         f"{r['rss_warm_mb']:,.0f} → {r['rss_end_mb']:,.0f} MB "
         f"(**{r['rss_growth_warm']:+.1%}**, within ±{GROWTH_LIMIT:.0%}: "
         f"{'yes' if abs(r['rss_growth_warm']) <= GROWTH_LIMIT else 'NO'})"],
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
            "(box-selecting on the projection), train a default logistic-regression head every "
            "few rounds, and are checked after every step for an error box or server "
            "internals in the page's text (a traceback, the repository or cache path, the "
            "uploads folder). One session in four is abusive: round after round it uploads "
            "issue 27's 2 KB .zip holding a 4,000,000-row targets.parquet, a .zip with a "
            "40-folder-deep member and one with a 300-character name, opens links asking for "
            "every image at 1,024 px (Fashion-MNIST, its 1,000,000-image version, n=99999999), "
            "trains the MLP with 100,000 hidden units, 1,000 epochs, batch 1 and 10 folds, and "
            "opens the fine-tune view (its estimate is refused). A cached view switch is "
            "timed from the click until the page is idle, on every round after a visitor's "
            f"first. Each visitor stays the time from its page's opening (all had opened "
            f"{r['all_open_s']:.0f} s after the server was up). Server RSS: VmRSS of the "
            f"streamlit process and its descendants, every 2 s ({r['rss_samples']} samples; "
            f"trace, MB: "
            f"{', '.join(map(str, r['rss_trace_mb'][::2]))}). An abuser's link for "
            "n=99999999 is capped to 10,000 images and embedded: the first embedding loads "
            "TensorFlow and the backbone once, a minute or two in (its libraries' pages "
            "count in the mapped-files row); the second memory row measures from after "
            "that.", "",
            *report.table(["", "measured"], rows), "",
            *report.table(["abuse", "refused", "not refused", "what the page said"], abuse),
            *([""] + notes if notes else []), ""]
