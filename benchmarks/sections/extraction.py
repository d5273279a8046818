"""1. The extraction pipeline (compute_transfer_values) vs the bare model's forward pass."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import BACKBONE, Run, SectionFailed

TITLE = "Extraction pipeline vs bare model"
TARGET = 0.9  # pipeline images/s over bare images/s


def run(*, run: Run) -> list[str]:
    plan = run.plan
    rows, rates, errors = [], {}, []
    for size in plan.extraction_sizes:
        try:
            result = run.worker("benchmarks.workers.extraction_worker", "--backbone", BACKBONE,
                                "--size", size, "--n", plan.extraction_images,
                                "--rounds", plan.extraction_rounds)
        except Exception as error:  # one size failing must not hide the others
            errors.append(f"- {size} px failed: `{report.error_summary(error)}`")
            continue
        rates[size] = result["pipeline_images_per_s"]
        met = "yes" if result["ratio"] >= TARGET else "**no**"
        unfolded = result.get("unfolded_bare_images_per_s")
        rows.append([f"{size} px", report.number(result["bare_images_per_s"]),
                     report.number(result["pipeline_images_per_s"]),
                     f"{result['ratio']:.3f}", met,
                     (f"{report.number(unfolded)} ({report.ratio(result['bare_images_per_s'] / unfolded)})"
                      if unfolded else "–"),
                     report.number(result["peak_rss_mb"], 4),
                     ", ".join(report.number(r) for r in result["pipeline_all"])])
        dataset = result["dataset"]
        run.log(f"  {size} px: pipeline/bare = {result['ratio']:.3f}")
    run.results["extraction_rates"] = rates
    if not rows:
        raise SectionFailed("every size failed", errors)
    return [f"{BACKBONE}, {plan.extraction_images} images of {dataset} per round, "
            f"batch 64, best of {plan.extraction_rounds} alternating rounds. Bare = the model's "
            "`tf.function` on ready float32 batches; pipeline = `compute_transfer_values` "
            "(uint8 batches, in-graph resize, chunked cache writes to a temp dir). Peak memory "
            "= ru_maxrss of the worker process (both paths ran in it). Unfolded BN = the same "
            "network with a BatchNorm layer after every conv, bare (in brackets: how much faster "
            "the folded extractor core uses is).", "",
            *report.table(["input", "bare images/s", "pipeline images/s", "pipeline / bare",
                           f"≥ {TARGET} met", "unfolded BN, bare images/s", "peak RSS MB",
                           "pipeline images/s per round"], rows),
            *errors]

