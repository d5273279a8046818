"""4. Classification heads on transfer values (per input size) and on raw pixels."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import BACKBONE, Run, SectionFailed

TITLE = "Heads"
PIXELS = "pixels"


def run(*, run: Run) -> list[str]:
    plan = run.plan
    dataset = plan.heads_dataset
    inputs = [(BACKBONE, size, plan.heads) for size in plan.head_sizes]
    inputs.append((PIXELS, 0, ("logreg",)))
    rows, notes, errors, counts = [], [], [], None
    baseline = None  # pixels + logreg test accuracy
    for backbone, size, heads in inputs:
        label = "raw pixels" if backbone == PIXELS else f"{backbone} at {size} px"
        try:  # extraction (or a cache hit) first, so head workers time only training
            values = run.worker("benchmarks.workers.transfer_values_worker", "--dataset", dataset,
                                "--backbone", backbone, "--size", size)
        except Exception as error:
            errors.append(f"- {label}: preparing the values failed: "
                          f"`{report.error_summary(error)}`")
            continue
        how = ("cache hit" if values["cache"] == "hit" else
               f"computed in {report.seconds(values['seconds'])}")
        notes.append(f"{label}: {values['n']:,} × {values['dim']} ({how})")
        logreg_s = None
        for head in heads:
            try:
                result = run.worker("benchmarks.workers.head_training_worker", "--dataset", dataset,
                                    "--backbone", backbone, "--size", size, "--head", head)
            except Exception as error:
                errors.append(f"- {label}, {head}: `{report.error_summary(error)}`")
                continue
            counts = (result["n_train"], result["n_val"], result["n_test"])
            if head == "logreg":
                logreg_s = result["seconds"]
                if backbone == PIXELS:
                    baseline = result["test_accuracy"]
            rows.append((label, head, result, logreg_s))
            run.log(f"  {label} {head}: {result['test_accuracy']:.4f} in {result['seconds']:.1f} s")
    if not rows:
        raise SectionFailed("every head failed", errors)
    table_rows = [[label, head, report.seconds(r["seconds"]),
                   report.ratio(r["seconds"] / logreg_s) if logreg_s else "–",
                   report.percent(r["test_accuracy"]), report.percent(r["val_accuracy"]),
                   _gain(r["test_accuracy"], baseline), _details(r["details"]),
                   report.number(r["peak_rss_mb"], 4)]
                  for label, head, r, logreg_s in rows]
    n_train, n_val, n_test = counts
    return [f"Dataset {dataset}: {n_train:,} train + {n_val:,} validation (early stopping, C) / "
            f"{n_test:,} test. `core.heads.train_head(use_cache=False)` with default parameters, "
            "seed 0, one fresh process per head (time = the `train_head` call; values prepared "
            "beforehand). Values: " + "; ".join(notes) + ".", "",
            *report.table(["input", "head", "train time", "time / logreg", "test accuracy",
                           "val accuracy", "vs pixels logreg (test)", "epochs or C",
                           "peak RSS MB"], table_rows),
            *errors, *([""] if errors else []), *_cost_rates(run)]


def _cost_rates(run: Run) -> list[str]:
    """The CPU-time rates core.heads.cost bounds a public head's training time with,
    measured again by the heads' own fits (compare them with the module's constants)."""
    from core.heads import cost

    try:
        r = run.worker("benchmarks.workers.head_cost_worker", "--repeats",
                       1 if run.plan.quick else 3)
    except Exception as error:
        return [f"Rates of `core/heads/cost.py`: failed: `{report.error_summary(error)}`", ""]
    rows = [
        ["logreg: CPU-s per row·feature·class per loss-and-gradient evaluation",
         ", ".join(f"{size}: {t:.2g}" for size, t in
                   zip(r["logreg_sizes"], r["logreg_seconds_per_unit"])),
         f"{cost.LOGREG_SECONDS_PER_UNIT:.2g}"],
        ["logreg: L-BFGS evaluations per iteration",
         f"{r['logreg_evals_per_iteration']:.2f} ({r['logreg_evaluations']} in "
         f"{r['logreg_iterations']} iterations)", f"{cost.LBFGS_EVALUATIONS_PER_ITERATION:g}"],
        ["ridge: multiply-adds per CPU-s", f"{r['ridge_macs_per_second']:.2g} "
                                           f"({r['ridge_size']})",
         f"{cost.RIDGE_MACS_PER_SECOND:.2g}"],
        ["Keras: forward multiply-adds per CPU-s", f"{r['keras_macs_per_second']:.2g} "
                                                   f"({r['keras_mac_size']})",
         f"{cost.KERAS_MACS_PER_SECOND:.2g}"],
        ["Keras: CPU-s per gradient step", f"{r['keras_step_seconds']:.2g}",
         f"{cost.KERAS_STEP_SECONDS:.2g}"],
    ]
    return ["Rates behind the public head-cost bound (`benchmarks/workers/head_cost_worker.py`, "
            f"the heads' own fits, CPU time, median of {r['repeats']}): a measured rate much "
            "faster than the constant means the bound can be loosened.", "",
            *report.table(["rate", "measured", "core/heads/cost.py"], rows), ""]


def _gain(accuracy: float, baseline: float | None) -> str:
    if baseline is None:
        return "–"
    return f"{100 * (accuracy - baseline):+.2f} points"


def _details(details: dict) -> str:
    if "epochs_run" in details:
        return f"{details['epochs_run']} epochs (best {details.get('best_epoch')})"
    if "C" in details:
        return f"C = {details['C']}"
    return "–"
