"""9. Scaling out: the Ray engine against the local one, and a projection to many workers."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import BACKBONE, Run, SectionFailed

TITLE = "Scaling out: Ray engine vs local"
TARGET = 0.85  # Ray images/s over local images/s at equal cores
PROJECTED_IMAGES = 1_000_000
PROJECTED_WORKERS = (8, 32)

# (label, worker arguments, cores used): each runs in its own process, in this order
CONFIGS = (
    ("local engine (this process, 2 cores)", ["--engine", "local"], 2),
    ("Ray, 1 worker × 1 CPU", ["--engine", "ray", "--workers", 1], 1),
    ("Ray, 1 worker × 2 CPUs", ["--engine", "ray", "--workers", 1, "--cpus-per-worker", 2], 2),
    ("Ray, 2 workers × 1 CPU", ["--engine", "ray", "--workers", 2], 2),
    ("Ray, simulated 2-node cluster (1 CPU each), 2 workers",
     ["--engine", "ray", "--workers", 2, "--cluster-nodes", 2], 2),
    ("local engine again (noise bracket)", ["--engine", "local"], 2),
)


def run(*, run: Run) -> list[str]:
    plan = run.plan
    dataset = plan.heads_dataset  # fashion_mnist when it is here, else digits
    n, size = plan.ray_images, plan.ray_size
    results, errors = {}, []
    for label, extra, cores in CONFIGS:
        save = run.scratch / f"ray-{len(results)}.npy"
        try:
            results[label] = (run.worker("benchmarks.workers.ray_worker", "extract", "--dataset",
                                         dataset, "--backbone", BACKBONE, "--size", size,
                                         "--n", n, "--save", save, *extra), cores, save)
        except Exception as error:  # one configuration failing must not hide the others
            errors.append(f"- {label} failed: `{report.error_summary(error)}`")
            continue
        run.log(f"  {label}: {results[label][0]['images_per_s']:.1f} images/s")
    locals_ = [r for label, (r, _, _) in results.items() if label.startswith("local")]
    if not locals_:
        raise SectionFailed("the local engine did not run", errors)
    import numpy as np

    local_rate = sum(r["images_per_s"] for r in locals_) / len(locals_)
    local_steady = sum(r["steady_images_per_s"] for r in locals_) / len(locals_)
    reference = np.load(next(s for label, (_, _, s) in results.items() if label.startswith("local")))
    rows = []
    for label, (result, cores, save) in results.items():
        difference = float(np.abs(np.load(save) - reference).max())
        workers = result.get("worker_images_per_s") or {}
        ratio = result["images_per_s"] / local_rate
        rows.append([label, cores, report.seconds(result["seconds"]),
                     report.number(result["images_per_s"]),
                     report.number(result["steady_images_per_s"]),
                     f"{ratio:.2f}" + (" (goal met)" if ratio >= TARGET and cores == 2
                                       and not label.startswith("local") else ""),
                     f"{result['steady_images_per_s'] / local_steady:.2f}",
                     ", ".join(report.number(rate) for rate in workers.values()) or "–",
                     f"{difference:.1e}"])
    projection = _projection(run=run, dataset=dataset, errors=errors)
    prediction = _prediction(run=run, dataset=dataset, errors=errors)
    return [f"{BACKBONE} at {size} px on {n:,} {dataset} images (seeded subset), float32, "
            f"each configuration in a fresh process in the order below, every one from an "
            f"empty cache. **Busy shared machine** (2 cores, other engineers' jobs running): "
            f"read the ratios, measured side by side, rather than the absolute figures. "
            f"Images/s = n over the wall time of `compute_transfer_values` (building the model "
            f"or starting the actors included; starting Ray itself is not, it is listed in "
            f"the worker's JSON); steady = the rate the driver reports after the first chunk "
            f"(start-up left out). Ray/local divides by the mean of the two local runs. Per "
            f"worker = each actor's images over its own computing seconds. Max |Δ| = largest "
            f"difference from the first local run's values (same cache key in every run).", "",
            *report.table(["configuration", "cores", "wall", "images/s", "steady images/s",
                           f"Ray/local (goal ≥ {TARGET} at 2 cores)", "steady Ray/local",
                           "per-worker images/s", "max |Δ| vs local"], rows),
            "", *projection, *prediction, *errors]


def _projection(*, run: Run, dataset: str, errors: list[str]) -> list[str]:
    """Measured per-worker images/s at 224 px (2 one-CPU workers busy side by side), scaled
    on paper to 1M images on more workers."""
    plan = run.plan
    try:
        result = run.worker("benchmarks.workers.ray_worker", "extract", "--dataset", dataset,
                            "--backbone", BACKBONE, "--size", 224, "--n",
                            plan.ray_projection_images, "--engine", "ray", "--workers", 2,
                            "--chunk", 256)
    except Exception as error:
        errors.append(f"- 224 px per-worker measurement failed: `{report.error_summary(error)}`")
        return []
    rates = list(result["worker_images_per_s"].values())
    per_worker = sum(rates) / len(rates)
    rows = []
    for workers in PROJECTED_WORKERS:
        seconds = PROJECTED_IMAGES / (workers * per_worker)
        megabytes = workers * per_worker * 1280 * 4 / 1e6
        rows.append([workers, report.seconds(seconds), f"{seconds / 3600:.2f} h",
                     f"{megabytes:.1f} MB/s"])
    return [f"**Projection (on paper, not measured at scale).** Per-worker throughput at 224 px, "
            f"measured here: {', '.join(report.number(r) for r in rates)} images/s for the two "
            f"one-CPU workers of a {plan.ray_projection_images:,}-image Ray run (mean "
            f"{report.number(per_worker)}; the run's wall rate was "
            f"{report.number(result['images_per_s'])} images/s with start-up). Assumed: one "
            f"worker per CPU core as fast as these, linear scaling (workers share nothing but "
            f"the driver, which only receives 1280 float32 = 5 KB per image), start-up and "
            f"image decoding left out (array data here; JPEG photos add their decode time to "
            f"each worker).", "",
            *report.table([f"workers (1 CPU each)", f"time for {PROJECTED_IMAGES:,} images at "
                           f"224 px", "hours", "values into the driver"], rows), ""]


def _prediction(*, run: Run, dataset: str, errors: list[str]) -> list[str]:
    """`predict` on both engines over the test images written as PNG files."""
    plan = run.plan
    try:
        r = run.worker("benchmarks.workers.ray_worker", "predict-check", "--dataset", dataset,
                       "--backbone", BACKBONE, "--size", plan.ray_size, "--workers", 2)
    except Exception as error:
        errors.append(f"- predict on both engines failed: `{report.error_summary(error)}`")
        return []
    return [f"**`predict` on both engines.** The default head ({r['head']}) trained on the "
            f"{plan.ray_size} px transfer values of {dataset}, exported end to end "
            f"(`export_end_to_end_model`), over the {r['n']:,} test images written as PNG "
            f"files; Ray: 2 workers × 1 CPU on a one-node Ray started by the worker.", "",
            *report.table(["", "local", "Ray"], [
                ["seconds (model load and actor start included)",
                 report.seconds(r["local_seconds"]), report.seconds(r["ray_seconds"])],
                ["test accuracy of the predictions", report.percent(r["local_accuracy"]),
                 report.percent(r["ray_accuracy"])],
                ["the head's reported test accuracy", report.percent(r["head_test_accuracy"]),
                 report.percent(r["head_test_accuracy"])],
                ["predictions equal to the local engine's", "–",
                 f"{r['identical_predictions']:,} of {r['n']:,}"],
                ["predictions equal to the head's on the cached values",
                 f"{r['agree_with_head']:,} of {r['n']:,}", "–"],
                ["max top-1 probability difference, Ray vs local", "–",
                 f"{r['max_probability_difference']:.1e}"]]), ""]
