"""15. The default input size on evidence (issue 31): the frozen heads' test accuracy on one
dataset's values at each input size, against the extraction rate at that size, from one run.
"""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import BACKBONE, Run, SectionFailed

TITLE = "Default input size: frozen-head accuracy against extraction speed"


def run(*, run: Run) -> list[str]:
    plan = run.plan
    dataset, limit = plan.input_size_dataset, plan.input_size_limit
    subset = ("--limit", limit) if limit else ()
    measured, errors = {}, []
    for size in plan.input_size_sizes:
        try:  # the dataset's values (real cache), then the pipeline's rate in a fresh process
            values = run.worker("benchmarks.workers.transfer_values_worker", "--dataset", dataset,
                                "--backbone", BACKBONE, "--size", size, *subset)
            speed = run.worker("benchmarks.workers.extraction_worker", "--backbone", BACKBONE,
                               "--size", size, "--n", plan.extraction_images,
                               "--mode", "pipeline", "--runtime", "auto")
        except Exception as error:
            errors.append(f"- {size} px: `{report.error_summary(error)}`")
            continue
        heads = {}
        for head in plan.input_size_heads:
            try:
                heads[head] = run.worker("benchmarks.workers.head_training_worker", "--dataset",
                                         dataset, "--backbone", BACKBONE, "--size", size,
                                         "--head", head, *subset)
            except Exception as error:
                errors.append(f"- {size} px {head}: `{report.error_summary(error)}`")
                continue
            run.log(f"  {size} px {head}: {heads[head]['test_accuracy']:.4f}")
        measured[size] = (values, speed, heads)
    if not measured:
        raise SectionFailed("every size failed", errors)
    front = {head: pareto_front({size: (speed["images_per_s"], heads[head]["test_accuracy"])
                                 for size, (_, speed, heads) in measured.items() if head in heads})
             for head in plan.input_size_heads}
    rows = []
    for size, (values, speed, heads) in measured.items():
        whole = (report.number(values["images_per_s"]) if values["cache"] == "miss"
                 else "cached")
        ran = speed.get("ran") or {}
        rows.append([f"{size} px", report.number(speed["images_per_s"]), whole,
                     f"{ran.get('runtime', '?')} {ran.get('precision', '')}".strip(),
                     *(_accuracy(heads.get(head), size in front[head])
                       for head in plan.input_size_heads)])
    n = next(iter(measured.values()))[0]["n"]
    return [f"{BACKBONE} on {n:,} images of {dataset} at each input size. Values from the "
            "cache (extracted once when missing: `transfer_values_worker`, the whole call's "
            "images/s in \"whole extraction\"), each head trained with its defaults, seed 0 "
            "(`head_training_worker`, head cache off). Pipeline images/s = "
            f"`extraction_worker --mode pipeline --runtime auto` on {plan.extraction_images:,} "
            "images in a fresh cache, timed after set-up, in the same run. ★ = on the Pareto "
            "front of that head (no other size is both faster and more accurate).", "",
            *report.table(["input", "pipeline images/s", "whole extraction images/s",
                           "runtime", *(f"{head} test accuracy"
                                        for head in plan.input_size_heads)], rows),
            *errors]


def pareto_front(points: dict[int, tuple[float, float]]) -> set[int]:
    """The keys of `points` (speed, accuracy) that no other point beats on both."""
    return {key for key, (speed, accuracy) in points.items()
            if not any(other_speed >= speed and other_accuracy >= accuracy
                       and (other_speed, other_accuracy) != (speed, accuracy)
                       for other_speed, other_accuracy in points.values())}


def _accuracy(result: dict | None, on_front: bool) -> str:
    if result is None:
        return "failed"
    return report.percent(result["test_accuracy"]) + (" ★" if on_front else "")
