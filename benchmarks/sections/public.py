"""7. The public demo under load: concurrent browser sessions on the committed bundle."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import Run, SectionFailed

TITLE = "Public demo under load"
RSS_LIMIT_MB = 2_500


def run(*, run: Run) -> list[str]:
    sessions, seconds = (2, 20) if run.plan.quick else (8, 120)
    r = run.worker("benchmarks.workers.public_load_worker", "--sessions", sessions,
                   "--seconds", seconds, timeout=seconds + 600)
    if not r["view_switches"]:
        raise SectionFailed("no view switch completed", [f"- `{e}`" for e in r["errors"]])
    rows = [
        ["sessions × time", f"{r['sessions']} × {r['seconds']:.0f} s (wall {r['wall_s']:.0f} s)"],
        ["first drawn projection per session (s)", ", ".join(f"{s:.1f}" for s in r["open_s"])],
        ["view switches (cached), click to idle: p50 / p95 / max",
         f"{r['switch_p50_ms']:.0f} / {r['switch_p95_ms']:.0f} / {r['switch_max_ms']:.0f} ms "
         f"({r['view_switches']} switches)"],
        ["server time of a script run on a cached view (not Train): p50 / p95",
         "–" if r.get("server_p50_ms") is None else
         f"{r['server_p50_ms']:.0f} / {r['server_p95_ms']:.0f} ms ({r['server_runs']} runs)"],
        ["box selections on the projection (drags retried: chart redrawn under the mouse)",
         f"{r['selections']} ({len(r.get('select_retries', []))} retried)"],
        ["logreg heads trained (one per session, each a job)",
         f"{r['heads_trained']} of {r['sessions']}; {r['sessions_queued']} sessions saw "
         "their place in line"],
        ["peak server RSS", f"{r['peak_rss_mb']:,.0f} MB "
                            f"({'under' if r['peak_rss_mb'] < RSS_LIMIT_MB else 'OVER'} "
                            f"{RSS_LIMIT_MB:,} MB)"],
        ["errors shown on any page", f"{r['error_count']}"],
    ]
    errors = [f"- `{e}`" for e in r["errors"]] + [
        f"- retried drag: {e}" for e in r.get("select_retries", [])]
    return [f"`benchmarks/workers/public_load_worker.py` starts `streamlit run dashboard/app.py` "
            f"with "
            "TRANSFER_LENS_PUBLIC=1 on the committed `demo/fashion_mnist_10k` bundle (scratch "
            "cache, localhost, stops by itself) and drives concurrent pages of one headless "
            "Chromium: each opens the app, goes once through every view (box-selecting on the "
            "projection), trains a logistic-regression head with its own C (so every head is "
            "a real job through the job gate; the heads queue behind each other), then cycles "
            "through the views again until the time is up. Page errors of the browser's app "
            "(a crashed frontend shows a blank page) count as errors. A view switch is "
            "timed from the click until Streamlit's running indicator is gone (server run, "
            "transfer and drawing, all sessions sharing 2 cores); server RSS is the "
            "process's VmRSS, sampled every 0.25 s.", "",
            *report.table(["", "measured"], rows), *errors, *([""] if errors else [])]
