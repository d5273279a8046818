"""2. Opening cached transfer values vs recomputing them, cache → first PCA view, and
opening a published bundle."""

from __future__ import annotations

import tempfile

from benchmarks import report
from benchmarks.plan import BACKBONE, Run

TITLE = "Cache: open vs recompute"


def run(*, run: Run) -> list[str]:
    plan = run.plan
    rate, rate_note = _extraction_rate(run)
    with tempfile.TemporaryDirectory(prefix="bench-cache-", dir=run.scratch) as cache_dir:
        built = run.worker("benchmarks.workers.cache_open_worker",
                           "--phase", "build", "--cache-dir",
                           cache_dir, "--n", plan.cache_rows, "--dim", plan.cache_dim)
        opened = run.worker("benchmarks.workers.cache_open_worker",
                            "--phase", "open", "--cache-dir",
                            cache_dir, "--key", built["key"])
    n = built["n"]
    recompute = n / rate
    rows = [["open (mmap + checksum of every file), fresh process",
             report.seconds(opened["open_seconds"]),
             report.ratio(recompute / opened["open_seconds"])],
            ["re-open in the same process (checksums already verified)",
             report.seconds(opened["reopen_seconds"]),
             report.ratio(recompute / opened["reopen_seconds"])],
            [f"recompute: {n:,} images at {rate:.0f} images/s", report.seconds(recompute), "1×"],
            [f"open + first PCA 2-D ({opened['pca_solver']} SVD, not cached)",
             report.seconds(opened["open_to_pca_seconds"]),
             report.ratio(recompute / opened["open_to_pca_seconds"])]]
    run.log(f"  open {opened['open_seconds']:.2f} s vs recompute {recompute:.0f} s")
    bundle = _bundle_open(run)
    return [f"A synthetic entry of {n:,} × {built['dim']} float32 "
            f"({built['bytes'] / 2**20:.0f} MB on disk) written with "
            f"`core.features.feature_sets.from_arrays` into a temp cache in "
            f"{report.seconds(built['write_seconds'])}, then opened in a new process with "
            "`load_feature_set` (the file is still in the OS page cache: a warm open). "
            "Importing the core modules and scikit-learn's PCA took "
            f"{report.seconds(opened['import_seconds'])} "
            f"(not included). Peak RSS of the open process: "
            f"{report.number(opened['peak_rss_mb'], 4)} MB.", "",
            f"Recompute time is **derived**, not run: {n:,} / {rate_note}.", "",
            *report.table(["step", "time", "recompute / this"], rows), *bundle]


def _bundle_open(run: Run) -> list[str]:
    """A published bundle opened in a fresh process, as the public app opens it (the first
    committed one; nothing when there is none)."""
    from core.publish import list_bundles

    bundles = list_bundles()
    if not bundles:
        return []
    r = run.worker("benchmarks.workers.cache_open_worker", "--phase", "bundle",
                   "--bundle", bundles[0])
    tensorflow = "imported TensorFlow" if r["tensorflow_imported"] else "without TensorFlow"
    return ["", f"The published bundle `{bundles[0].name}` ({r['n']:,} images) opened with "
            f"`core.publish.open_bundle` in a fresh process, {tensorflow}: importing "
            f"`core.publish` {report.seconds(r['import_seconds'])}, opening (manifest, "
            f"checksums, mmap) {report.seconds(r['open_seconds'])}, then head, label issues, "
            f"a thumbnail, kNN graph and UMAP coordinates "
            f"{report.seconds(r['first_use_seconds'])}; peak RSS "
            f"{report.number(r['peak_rss_mb'], 4)} MB."]


def _extraction_rate(run: Run) -> tuple[float, str]:
    """Images/s of the pipeline at the recompute size, and how it was obtained."""
    size = run.plan.recompute_size
    rates = run.results.get("extraction_rates", {})
    if size in rates:
        return rates[size], (f"the pipeline's {rates[size]:.0f} images/s measured in section 1 "
                             f"({BACKBONE} at {size} px)")
    n = run.plan.recompute_images
    result = run.worker("benchmarks.workers.extraction_worker",
                        "--backbone", BACKBONE, "--size", size,
                        "--n", n, "--rounds", 1)
    rate = result["pipeline_images_per_s"]
    return rate, (f"{rate:.0f} images/s, the pipeline's rate measured in this section on "
                  f"{result['n']:,} {result['dataset']} images ({BACKBONE} at {size} px), "
                  f"scaled to {run.plan.cache_rows:,}")
