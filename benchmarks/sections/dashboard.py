"""5. Dashboard: server time of a view-switching rerun with everything cached, and the bytes
of the projection chart, per number of points; then a cold start to the first UMAP drawn."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import Run, SectionFailed

TITLE = "Dashboard reruns"


def run(*, run: Run) -> list[str]:
    plan = run.plan
    results, errors = [], []
    for limit in plan.dashboard_limits:
        try:
            results.append(run.worker(
                "benchmarks.workers.dashboard_rerun_worker", "--dataset", plan.dashboard_dataset,
                "--backbone", plan.dashboard_backbone, "--size", plan.dashboard_size,
                "--limit", limit, "--repeats", plan.dashboard_repeats))
        except Exception as error:
            errors.append(f"- limit {limit}: `{report.error_summary(error)}`")
    if not results:
        raise SectionFailed("every limit failed", errors)
    names = [f"{r['points']:,} points" if r.get("points") else f"limit {r['limit']}"
             for r in results]
    last_vs_first = len(results) > 1
    headers = ["switch to (server ms)", *names, *([f"{names[-1]} / {names[0]}"]
                                                  if last_vs_first else [])]
    rows = []
    for view in results[0]["server_ms"]:
        cells = [f"{r['server_ms'][view]:.0f}" for r in results]
        extra = ([report.ratio(results[-1]["server_ms"][view] / results[0]["server_ms"][view])]
                 if last_vs_first else [])
        rows.append([view, *cells, *extra])
    rows.append(["(same view, no change)",
                 *[f"{r['same_view_rerun_ms']:.0f}" for r in results],
                 *([report.ratio(results[-1]["same_view_rerun_ms"]
                                 / results[0]["same_view_rerun_ms"])] if last_vs_first else [])])
    chart = [_chart_cell(r) for r in results]
    rows.append(["projection chart bytes per rerun", *chart,
                 *([_chart_ratio(results)] if last_vs_first else [])])
    rows.append(["first run / head training (s, cache as found)",
                 *[f"{r['first_run_s']:.1f} / {r['train_s']:.1f}" for r in results],
                 *([""] if last_vs_first else [])])
    return [f"Streamlit AppTest drives `dashboard/app.py` ({plan.dashboard_dataset}, "
            f"{plan.dashboard_backbone} at {plan.dashboard_size} px, "
            f"{'a scratch' if plan.quick else 'the default'} cache). After a "
            "first run, a logreg head, label issues and one visit of every view, each view "
            f"switch is timed as the script's own run time (median of {plan.dashboard_repeats}). "
            "Chart bytes = serialized size of the Plotly element (figure JSON with base64 "
            "arrays), sent on every rerun that draws it. One fresh process per size.", "",
            *report.table(headers, rows), *errors, *([""] if errors else []),
            *_cold_start(run)]


def _cold_start(run: Run) -> list[str]:
    """The app from an empty cache to its first UMAP, in a browser (issue 31: ≤ 90 s): with
    the app's first map of the images extracted so far, and, when it drew one, without it
    (what the first map costs the whole one)."""
    if run.plan.cold_start is None:
        return []
    dataset, limit = run.plan.cold_start
    args = ("benchmarks.workers.cold_start_worker", "--dataset", dataset, "--limit", limit,
            "--size", 96)
    try:
        result = run.worker(*args)
        plain = run.worker(*args, "--preview-rows", 0) if result.get("first_preview_s") \
            else None
    except Exception as error:
        return ["", f"- cold start failed: `{report.error_summary(error)}`"]
    parts = ", ".join(f"{name} {report.seconds(seconds)}"
                      for name, seconds in result["parts_s"].items())
    first = "" if plain is None else (
        f" A first map of the images extracted so far was drawn after "
        f"**{report.seconds(result['first_preview_s'])}**; without it (`--preview-rows 0`) "
        f"the UMAP of all was drawn after {report.seconds(plain['first_umap_s'])} "
        f"({report.ratio(result['first_umap_s'] / plain['first_umap_s'])} with it).")
    return ["", f"**Cold start to the first UMAP** (`benchmarks/workers/cold_start_worker.py`): "
            f"`streamlit run` on an empty cache (server up in "
            f"{report.seconds(result['server_start_s'])}, not counted), headless Chromium opens "
            f"the projection with UMAP on {result['n']:,} images of {dataset} "
            f"({result['backbone']} at {result['size']} px, extracted on "
            f"{result.get('runtime')} {result.get('precision')}). The UMAP of all of them drawn "
            f"after **{report.seconds(result['first_umap_s'])}** from opening the page (issue "
            f"31's goal: ≤ 90 s on 2 cores).{first} Parts, the gaps between consecutive events "
            f"(a progress line first seen, a cache entry written): {parts}.", ""]


def _chart_cell(result: dict) -> str:
    size = result.get("projection_chart_bytes")
    if size is None:
        return "–"
    per_point = f", {size / result['points']:.0f} B/point" if result.get("points") else ""
    return f"{size / 1e6:.2f} MB{per_point}"


def _chart_ratio(results: list[dict]) -> str:
    first, last = (r.get("projection_chart_bytes") for r in (results[0], results[-1]))
    return report.ratio(last / first) if first and last else "–"
