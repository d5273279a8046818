"""The whole fine-tuning command from an empty cache, once per seed: test accuracy, the
validation accuracy of every epoch, training speed, wall-clock time and peak memory."""

from __future__ import annotations

from dataclasses import asdict

from benchmarks import report
from benchmarks.plan import Run, SectionFailed

TITLE = "Fine-tuning accuracy"
GOAL_ACCURACY, GOAL_SECONDS = 0.95, 45 * 60  # issue 19


def run(*, run: Run) -> list[str]:
    from core.base.progress import format_seconds
    from core.finetune.config import FineTuneConfig

    plan = run.plan
    results, errors = [], []
    for seed in plan.finetune_accuracy_seeds:
        try:
            results.append(run.worker("benchmarks.workers.finetune_accuracy_worker", "--dataset",
                                      plan.finetune_accuracy_dataset, "--backbone",
                                      plan.finetune_accuracy_backbone, "--seed", seed,
                                      "--extra", *plan.finetune_accuracy_extra))
        except Exception as error:
            errors.append(f"- seed {seed}: `{report.error_summary(error)}`")
    if not results:
        raise SectionFailed("every seed failed", errors)
    defaults = asdict(FineTuneConfig())
    changed = {k: v for k, v in results[0]["config"].items()
               if k != "seed" and defaults.get(k) != v}
    rows = []
    for r in results:
        history = r["history"]
        rows.append([
            r["config"]["seed"], report.percent(r["test_accuracy"]),
            " → ".join(f"{h['val_accuracy'] * 100:.1f}" for h in history) + " %",
            " / ".join(f"{h['image_size']}" for h in history),
            report.number(r["images_per_second"]), format_seconds(r["wall_seconds"]),
            report.number(r["peak_rss_mb"], 4),
            "yes" if (r["test_accuracy"] >= GOAL_ACCURACY
                      and r["wall_seconds"] <= GOAL_SECONDS) else "no"])
    setting = ("FineTuneConfig's defaults" if not changed else
               "FineTuneConfig's defaults except " + ", ".join(f"{k}={v}"
                                                                for k, v in changed.items()))
    return [f"`{results[0]['command']}` (the seed varies) in a fresh process with an empty "
            f"cache folder: the frozen transfer values, phase 1, the fine-tuning and the "
            f"fine-tuned values all computed. Settings: {setting}. Images/s: training, mean "
            f"over epochs. Peak memory: the command's process. Goal (issue 19): test "
            f"accuracy ≥ {GOAL_ACCURACY:.1%} within {GOAL_SECONDS // 60} minutes.", "",
            *report.table(["seed", "test accuracy", "validation per epoch", "input px per "
                           "epoch", "train images/s", "whole command", "peak RSS MB",
                           "goal met"], rows),
            *([""] if errors else []), *errors, *([""] if errors else [])]
