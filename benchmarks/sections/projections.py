"""3. Projections: openTSNE vs scikit-learn t-SNE, UMAP cold vs warm, randomized vs full PCA,
at several N with a fitted growth exponent per method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.common import growth_exponent
from benchmarks.features import SYNTHETIC, describe_source, real_source
from benchmarks.plan import BACKBONE, Run, is_timeout

TITLE = "Projections"
REAL_SIZE = 96  # px of the real transfer values (Fashion-MNIST is 28×28)
SKLEARN_STARTUP_S = 60  # allowance for imports and loading the input before the fit


def run(*, run: Run) -> list[str]:
    plan = run.plan
    source, source_note = _source(run)
    got: dict[str, dict[int, Any]] = {m: {} for m in ("pca", "tsne", "before", "sklearn",
                                                      "umap", "tsne_seeds", "sklearn_seeds")}
    for n in plan.projection_points:
        got["pca"][n] = _attempt(run, "benchmarks.workers.projection_worker", "--method", "pca",
                                 "--n", n, "--source", source)
        x_file = run.scratch / f"tsne-input-{n}.npy"
        got["tsne"][n] = _attempt(run, "benchmarks.workers.projection_worker", "--method", "tsne",
                                  "--n", n, "--source", source, "--save-input", x_file)
        got["before"][n] = _attempt(run, "benchmarks.workers.projection_worker", "--method", "tsne",
                                    "--n", n, "--source", source, "--engine", "before")
        if n <= plan.sklearn_max_points and "error" not in got["tsne"][n]:
            got["sklearn"][n] = _attempt(run, "benchmarks.workers.sklearn_tsne_worker",
                                         "--input", x_file,
                                         timeout=plan.sklearn_cap_s + SKLEARN_STARTUP_S)
            _other_seeds(run, n, source, x_file, got)
            x_file.unlink(missing_ok=True)
        got["umap"][n] = _attempt(run, "benchmarks.workers.projection_worker", "--method", "umap",
                                  "--n", n, "--source", source)
    return [f"Input: {source_note}. Each method and N ran in a fresh worker process with an "
            "empty scratch cache (nothing is a cache hit). t-SNE: perplexity 30 on the same "
            "PCA-50 input for every engine. Ours: `compute_projection` with its defaults "
            "(including its kNN graph and affinities): 500 iterations of which 125 "
            "exaggerated, every core, Barnes-Hut below 5,000 points and FFT (1.5 units per "
            "grid interval) from there. Ours before: the same path with the settings before "
            "issue 16 (`projection_worker.BEFORE`: 750 iterations of which 250 exaggerated, "
            "one thread and Barnes-Hut below 10,000 points, FFT with openTSNE's default grid "
            "above). scikit-learn: 750 iterations of which 250 exaggerated, "
            f"`TSNE(method='barnes_hut', n_jobs=-1)`, killed after {plan.sklearn_cap_s:.0f} s "
            f"+ {SKLEARN_STARTUP_S} s for start-up, run up to N = {plan.sklearn_max_points:,}). "
            "UMAP: the kNN graph is built untimed first; the first call in a fresh process "
            "includes numba compilation, the warm call is a second fit (another seed) in the "
            "same process. PCA: 2-D `compute_projection` with each solver.", "",
            *report.table(
                ["N", "PCA randomized", "PCA full", "full / randomized", "openTSNE (ours)",
                 "ours before", "before / ours", "scikit-learn TSNE", "scikit-learn / ours",
                 "UMAP first call",
                 "UMAP warm", "first / warm"],
                [_row(n, got) for n in plan.projection_points]),
            "Growth exponent b in seconds ≈ a·N^b (least squares in log-log):", "",
            *report.table(["method", "b", "from N ="], _exponents(got)),
            "Untimed preparation and quality checks:", "",
            *report.table(["N", "PCA-50 input", "kNN graph (90-NN)",
                           "openTSNE gradient (ours / before)",
                           "openTSNE threads (ours / before)",
                           "peak RSS MB (PCA / openTSNE / scikit-learn / UMAP)"],
                          [_detail_row(n, got) for n in plan.projection_points]),
            "Neighbour preservation next to time: kNN recall@10 of the 2-D map against the "
            "PCA-50 input, on a seeded 5,000-point subsample (higher keeps more of each "
            "point's neighbours), and each engine's own KL divergence estimate:", "",
            *report.table(["N", "ours time", "ours recall@10", "ours KL", "before time",
                           "before recall@10", "before KL", "scikit-learn time",
                           "scikit-learn recall@10", "scikit-learn KL", "UMAP warm time",
                           "UMAP recall@10"],
                          [_quality_row(n, got) for n in plan.projection_points]),
            "t-SNE's recall@10 on the random subsets drawn with seeds "
            f"{', '.join(map(str, plan.tsne_quality_seeds))} (both engines on each subset's "
            "same PCA-50 input):", "",
            *report.table(["N", "ours recall@10 mean (min–max)",
                           "scikit-learn recall@10 mean (min–max)", "ours − scikit-learn"],
                          [[f"{n:,}", _spread(got["tsne_seeds"].get(n)),
                            _spread(got["sklearn_seeds"].get(n)),
                            _paired(got["tsne_seeds"].get(n), got["sklearn_seeds"].get(n))]
                           for n in plan.projection_points if n in got["tsne_seeds"]]),
            *_errors(got), *_scatter_and_landmarks(run, source)]


def _other_seeds(run: Run, n: int, source: str, x_file: Path, got: dict) -> None:
    """Ours and scikit-learn's t-SNE again on the subsets drawn with plan.tsne_quality_seeds
    after the first, each pair on the same input, for recall@10 over several inputs."""
    ours, theirs = [got["tsne"][n]], [got["sklearn"][n]]
    for seed in run.plan.tsne_quality_seeds[1:]:
        ours.append(_attempt(run, "benchmarks.workers.projection_worker",
                             "--method", "tsne", "--n", n,
                             "--source", source, "--subset-seed", seed, "--save-input", x_file))
        theirs.append(_attempt(run, "benchmarks.workers.sklearn_tsne_worker", "--input", x_file,
                               timeout=run.plan.sklearn_cap_s + SKLEARN_STARTUP_S))
    got["tsne_seeds"][n], got["sklearn_seeds"][n] = ours, theirs


def _spread(results: list[dict] | None) -> str:
    """Mean recall@10 over the subsets, with min–max."""
    recalls = [r["recall10"] for r in results or [] if "recall10" in r]
    if not recalls:
        return "–"
    return (f"{sum(recalls) / len(recalls):.4f} ({min(recalls):.4f}–{max(recalls):.4f}, "
            f"{len(recalls)} subsets)")


def _paired(ours: list[dict] | None, theirs: list[dict] | None) -> str:
    """Mean of ours − scikit-learn's recall@10 over subsets both finished, and how many
    subsets ours was at least as good on."""
    pairs = [(a["recall10"], b["recall10"]) for a, b in zip(ours or [], theirs or [])
             if "recall10" in a and "recall10" in b]
    if not pairs:
        return "–"
    diff = sum(a - b for a, b in pairs) / len(pairs)
    return f"{diff:+.4f} (ours ≥ on {sum(a >= b for a, b in pairs)} of {len(pairs)})"


def _scatter_and_landmarks(run: Run, source: str) -> list[str]:
    """The chart's bytes per rerun at each N, and t-SNE/UMAP through the landmark path."""
    plan = run.plan
    real = "--source", ("real" if source != SYNTHETIC else "synthetic")
    from benchmarks.workers.browser_scatter import CHROMIUM

    draw = ("--draw",) if Path(CHROMIUM).exists() else ()
    scatter = {n: _attempt(run, "benchmarks.workers.scatter_worker", "--n", n, *real, *draw)
               for n in plan.scatter_points}
    million = _million(run) if source != SYNTHETIC else None
    landmark_args = ("--n", plan.landmark_points,
                     *(("--landmarks", plan.landmark_sample) if plan.landmark_sample else ()),
                     *(("--synthetic",) if source == SYNTHETIC else ()),
                     *(("--dataset", million[0], "--size", million[1]) if million else ()))
    landmarks = {m: _attempt(run, "benchmarks.workers.landmark_worker",
                             "--method", m, *landmark_args)
                 for m in ("tsne", "umap")}
    switched = [] if source == SYNTHETIC else [("fashion_mnist", REAL_SIZE),
                                              *([million] if million else [])]
    switches = [(f"{dataset} at {size} px",
                 _attempt(run, "benchmarks.workers.dashboard_rerun_worker", "--dataset", dataset,
                          "--size", size, "--limit", "all", "--method-switch"))
                for dataset, size in switched]

    def scatter_row(n: int) -> list[str]:
        r = scatter[n]
        if "error" in r:
            return [f"{n:,}", "failed", r["error"], "", "", "", "", ""]
        hover, drawn = r["hover_bytes"], r.get("draw_ms") or {}
        return [f"{n:,}", r["kind"], f"{r['bytes']:,}", f"{r['bytes_per_point']:.2f}",
                " / ".join(f"{hover[k]:,}" for k in ("index", "ids", "strings")),
                " / ".join(f"{drawn[k]:.0f}" for k in ("index", "ids", "strings"))
                if drawn else "not measured",
                f"{r['cached_switch_ms']:.1f}",
                report.seconds(r["aggregate_seconds"]) if r.get("aggregate_seconds") else "–"]

    def landmark_row(method: str) -> list[str]:
        r = landmarks[method]
        if "error" in r:
            return [method, "failed", r["error"], "", "", "", "", ""]
        return [method, r.get("source", ""), f"{r['n']:,}",
                f"{r['landmarks'] or 0:,} / {r['placed'] or 0:,}",
                report.seconds(r["seconds"]),
                f"{report.seconds(r['fit_seconds'])} / {report.seconds(r['place_seconds'])}",
                report.number(r.get("peak_rss_mb"), 4), report.number(r.get("recall10"))]

    def switch_row(label: str, r: dict) -> list[str]:
        if "error" in r:
            return [label, "failed", r["error"], "", ""]
        return [label, f"{r['points']:,}", f"{r['server_ms']['pca']:.0f} ms",
                f"{r['server_ms']['umap']:.0f} ms", f"{r['projection_chart_bytes']:,}"]

    where = ("the 2-D PCA of the real values, repeated with 1% jitter above 70,000 points "
             "(derived from real values, not extracted)" if source != SYNTHETIC
             else "seeded Gaussian blobs")
    return ["", "The projection chart at any N (`benchmarks/workers/scatter_worker.py`, "
            "coordinates: "
            f"{where}): bytes of the figure JSON Streamlit sends on each rerun that draws it; "
            "up to `map_figures.POINTS_UP_TO` the light scatter (uint16 positions, uint32 index "
            "customdata, base64), above it the density image of every point (datashader, "
            "256-colour PNG) plus a 3,000-point sample. Cached switch = serialising the "
            "memoised figure, the part of a cached rerun that grows with N (median of 5; the "
            "rest of the script is in the dashboard section). Aggregation = datashader + PNG, "
            "warm (numba compiled). The hover's sample ids three ways: the wire before ids "
            "(`sample #row`), ids as the app sends them (Fashion-MNIST-style `train/00024`: "
            "the number in customdata[1]) and ids that fit no pattern (one string per point); "
            "bytes of each figure's JSON, and ms from Plotly.newPlot to drawn in headless "
            "Chromium (software WebGL, median of 5).", "",
            *report.table(["N", "chart", "bytes per rerun", "bytes/point",
                           "hover bytes: index / ids / strings",
                           "draw ms: index / ids / strings", "cached switch (ms)",
                           "aggregation"],
                          [scatter_row(n) for n in plan.scatter_points]),
            "t-SNE and UMAP through the landmark path (`benchmarks/workers/landmark_worker.py`: "
            "fit a "
            "seeded sample, place the rest with the library's `transform`; "
            + ("the real values from the 1280-d ones, the shared PCA-50 included in the time"
               if million else "50-D values derived from real ones, see the worker"
               if source != SYNTHETIC else "50-D seeded Gaussian blobs")
            + "), recall@10 against the PCA-50 input:", "",
            *report.table(["method", "input", "N", "fitted / placed", "wall time",
                           "fit / place", "peak RSS MB", "recall@10"],
                          [landmark_row(m) for m in ("tsne", "umap")]),
            *(["A cached projection-method switch in the app, server time (Streamlit AppTest "
               "drives `dashboard/app.py` on every point; the script's own run time, median of "
               "5, after PCA and UMAP were computed once):", "",
               *report.table(["values", "points", "to PCA", "to UMAP", "chart bytes per rerun"],
                             [switch_row(label, r) for label, r in switches])]
              if switches else []),
            *(_in_chromium(run) if source != SYNTHETIC else []), *_umap_settings(run)]


def _million(run: Run) -> tuple[str, int] | None:
    """plan.million's real values, extracted now if they are not cached; None if that fails."""
    if run.plan.million is None:
        return None
    dataset, size = run.plan.million
    r = _attempt(run, "benchmarks.workers.transfer_values_worker",
                 "--dataset", dataset, "--backbone", BACKBONE, "--size", size)
    return None if "error" in r else (dataset, size)


def _in_chromium(run: Run) -> list[str]:
    """The app's projection chart in headless Chromium on each plan.browser_datasets."""
    from benchmarks.workers.browser_scatter import CHROMIUM

    if not run.plan.browser_datasets:
        return []
    if not Path(CHROMIUM).exists():
        return ["", f"The chart in Chromium: not measured ({CHROMIUM} is missing; "
                    "`bash scripts/setup.sh --dev` installs it)."]
    rows = []
    for dataset, size in run.plan.browser_datasets:
        r = _attempt(run, "benchmarks.workers.browser_scatter",
                     "--dataset", dataset, "--size", size)
        if "error" in r:
            rows.append([dataset, "failed", r["error"], "", "", "", "", ""])
            continue
        frames = r["lasso_frame_ms"]
        exact = ("exact" if r["expected"] == r["selected"] else
                 f"expected {r['expected']:,}" if r["expected"] is not None else "not checked")
        rows.append([f"{dataset} ({r['points']})", report.seconds(r["first_chart_s"]),
                     " / ".join(f"{label} {sorted(v)[len(v) // 2]:.2f} s"
                                for label, v in r["switch_s"].items()),
                     f"{frames['median']:.0f} / {frames['p95']:.0f} ms",
                     f"{r['mouse_up_to_gallery_s']:.2f} s",
                     f"{r['selected']:,} ({exact})",
                     report.number(r["js_heap_mb"], 4),
                     f"{r['csv_rows']:,} rows in {report.seconds(r['csv_seconds'])}"])
    return ["", "The chart in headless Chromium (`benchmarks/workers/browser_scatter.py`: "
            "the app on the "
                "real values, Debian Chromium with software WebGL, one page): first chart from "
                "page load (values cached, projection computed), a cached method switch from "
                "click to chart drawn (median of 3), the frame interval while a 72-move lasso "
                "is drawn, mouse-up to the gallery, the lasso's count against a "
                "point-in-polygon (even-odd) of every point's display position, and the "
                "selection's CSV from the click to the downloaded file.", "",
            *report.table(["dataset", "first chart", "cached switch (median)",
                           "lasso frames median / p95", "mouse-up to gallery",
                           "selected (vs point-in-polygon)", "JS heap MB",
                           "selection CSV, click to file"], rows)]


def _source(run: Run) -> tuple[str, str]:
    """Real Fashion-MNIST transfer values (computed once, then cached) or synthetic blobs."""
    if not run.plan.projection_real:
        why = "quick run" if run.plan.quick else "Fashion-MNIST is not available here"
        return SYNTHETIC, f"{describe_source(SYNTHETIC)} ({why})"
    try:
        tv = run.worker("benchmarks.workers.transfer_values_worker", "--dataset", "fashion_mnist",
                        "--backbone", BACKBONE, "--size", REAL_SIZE)
    except Exception as error:
        return SYNTHETIC, (f"{describe_source(SYNTHETIC)}, because computing the real values "
                           f"failed: `{report.error_summary(error)}`")
    run.results[f"values:fashion_mnist:{REAL_SIZE}"] = tv
    how = ("a cache hit" if tv["cache"] == "hit" else
           f"computed now in {report.seconds(tv['seconds'])}, {tv['images_per_s']:.0f} images/s")
    source = real_source(dataset="fashion_mnist", backbone=BACKBONE, size=REAL_SIZE)
    return source, (f"{describe_source(source)} ({tv['n']:,} × {tv['dim']}, {how}); "
                    "smaller N are seeded random subsets")


def _attempt(run: Run, module: str, *args: Any, timeout: float | None = None) -> dict:
    try:
        return run.worker(module, *args, timeout=timeout)
    except Exception as error:
        if is_timeout(error) and timeout is not None:
            return {"capped": True, "cap_s": timeout - SKLEARN_STARTUP_S}
        return {"error": report.error_summary(error)}


def _s(result: dict | None, field: str) -> str:
    if result is None:
        return "not run"
    if result.get("capped"):
        return f"> {result['cap_s']:.0f} s"
    return "failed" if "error" in result else report.seconds(result[field])


def _ratio(a: dict | None, a_field: str, b: dict | None, b_field: str) -> str:
    if not a or not b or "error" in a or "error" in b or b.get("capped"):
        return "–"
    if a.get("capped"):
        return report.ratio(a["cap_s"] / b[b_field], lower_bound=True)
    return report.ratio(a[a_field] / b[b_field])


def _row(n: int, got: dict) -> list[str]:
    pca, tsne, before, sk, umap = (got[m].get(n) for m in ("pca", "tsne", "before", "sklearn",
                                                           "umap"))
    return [f"{n:,}", _s(pca, "randomized_seconds"), _s(pca, "full_seconds"),
            _ratio(pca, "full_seconds", pca, "randomized_seconds"), _s(tsne, "seconds"),
            _s(before, "seconds"), _ratio(before, "seconds", tsne, "seconds"),
            _s(sk, "seconds"), _ratio(sk, "seconds", tsne, "seconds"),
            _s(umap, "first_seconds"), _s(umap, "warm_seconds"),
            _ratio(umap, "first_seconds", umap, "warm_seconds")]


def _exponents(got: dict) -> list[list[str]]:
    series = [("PCA randomized", "pca", "randomized_seconds"), ("PCA full", "pca", "full_seconds"),
              ("openTSNE (ours)", "tsne", "seconds"), ("ours before", "before", "seconds"),
              ("scikit-learn TSNE", "sklearn", "seconds"),
              ("UMAP warm", "umap", "warm_seconds"), ("UMAP first call", "umap", "first_seconds")]
    rows = []
    for label, method, field in series:
        points = [(r.get("n", n), r[field]) for n, r in got[method].items() if field in r]
        capped = [n for n, r in got[method].items() if r.get("capped")]
        if len(points) < 2:
            rows.append([label, "– (fewer than 2 finished sizes)", ""])
            continue
        b = growth_exponent([p[0] for p in points], [p[1] for p in points])
        note = (f" (N = {', '.join(f'{n:,}' for n in capped)} hit the cap, not in the fit)"
                if capped else "")
        rows.append([label, f"{b:.2f}{note}", ", ".join(f"{p[0]:,}" for p in points)])
    return rows


def _detail_row(n: int, got: dict) -> list[str]:
    pca, tsne, before, sk, umap = (got[m].get(n) or {}
                                   for m in ("pca", "tsne", "before", "sklearn", "umap"))
    rss = " / ".join(report.number(r.get("peak_rss_mb"), 4) for r in (pca, tsne, sk, umap))
    return [f"{n:,}", report.seconds(tsne.get("pca50_seconds")),
            report.seconds(umap.get("knn_seconds")),
            f"{tsne.get('gradient', '–')} / {before.get('gradient', '–')}",
            f"{tsne.get('threads', '–')} / {before.get('threads', '–')}", rss]


def _quality_row(n: int, got: dict) -> list[str]:
    tsne, before, sk, umap = (got[m].get(n) for m in ("tsne", "before", "sklearn", "umap"))

    def cells(r: dict | None) -> list[str]:
        return [_s(r, "seconds"), report.number((r or {}).get("recall10")),
                report.number((r or {}).get("kl_divergence"))]

    return [f"{n:,}", *cells(tsne), *cells(before), *cells(sk),
            _s(umap, "warm_seconds"), report.number((umap or {}).get("recall10"))]


def _errors(got: dict) -> list[str]:
    lines = [f"- {method} at N = {n:,} failed: `{r['error']}`"
             for method, by_n in got.items() for n, results in by_n.items()
             for r in (results if isinstance(results, list) else [results]) if "error" in r]
    return [*lines, ""] if lines else []


def _umap_settings(run: Run) -> list[str]:
    """What each cut of UMAP's settings keeps of a large map, against a reseed
    (`umap_settings_worker`; docs/runtimes.md says why the defaults stay)."""
    if run.plan.umap_settings is None:
        return []
    dataset, size, images = run.plan.umap_settings
    r = _attempt(run, "benchmarks.workers.umap_settings_worker", "--dataset", dataset,
                 "--size", size, "--limit", images)
    if "error" in r:
        return ["", f"UMAP's settings: failed: `{r['error']}`"]
    rows = [[name, "–" if v["overlap15_vs_today"] is None else f"{v['overlap15_vs_today']:.3f}",
             f"{v['recall15_vs_input']:.4f}", f"{v['map_knn15_accuracy']:.4f}",
             f"{v['cpu_s']:.1f} s", f"{v.get('cpu_vs_today', 1.0):.2f}"]
            for name, v in r["variants"].items()]
    return ["", f"UMAP's settings on {r['n']:,} images of {r['dataset']} at {size} px "
            "(`benchmarks/workers/umap_settings_worker.py`: core's seeded fit on the "
            "precomputed kNN graph, each variant on the same graph). A cut keeps the map when "
            "its overlap@15 with today's map is near a reseed's (`today, seed 1`).", "",
            *report.table(["settings", "overlap@15 with today's map", "recall@15 vs PCA-50",
                           "map kNN@15 accuracy", "fit CPU", "CPU / today"], rows)]
