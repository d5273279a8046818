"""The whole fine-tuning command from an empty cache, once per seed: test accuracy, the
validation accuracy of every epoch, training speed, wall-clock time and peak memory. Then, on
the finished runs (nothing retrained), the levers the README weighed and left out: test-time
views at other input sizes, an ensemble of the runs, and the frozen-values MLP averaged in."""

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
                                      "--cache", run.scratch / f"finetune-accuracy-{seed}",
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
            *_views(run=run, results=results, errors=errors),
            *_combined(run=run, result=results[0], errors=errors),
            *([""] if errors else []), *errors, *([""] if errors else [])]


def _views(*, run: Run, results: list[dict], errors: list[str]) -> list[str]:
    """Test-time views (logits summed over input sizes) per run, and the runs ensembled."""
    try:
        r = run.worker("benchmarks.workers.finetune_views_worker", "--dataset",
                       run.plan.finetune_accuracy_dataset, *(x["run_dir"] for x in results))
    except Exception as error:
        errors.append(f"- test-time views: `{report.error_summary(error)}`")
        return []
    columns = [(f"seed {got['config']['seed']}", got) for got in r["runs"].values()]
    if r["ensemble"]:
        columns.append(("ensemble of the runs", r["ensemble"]))
    views = list(columns[0][1]["test"])
    rows = [[f"{view} px", *(f"{report.percent(got['val'][view])} / "
                             f"{report.percent(got['test'][view])}" for _, got in columns)]
            for view in views]
    return ["", "Test-time views (`benchmarks/workers/finetune_views_worker.py`): each finished "
            "run's saved backbone and classifier at other input sizes, logits summed over the "
            "sizes listed (and over the runs for the ensemble); validation / test accuracy.", "",
            *report.table(["views", *(name for name, _ in columns)], rows)]


def _combined(*, run: Run, result: dict, errors: list[str]) -> list[str]:
    """The first run's probabilities averaged with an MLP head on the frozen values."""
    try:
        r = run.worker("benchmarks.workers.finetune_combine_worker", "--dataset",
                       run.plan.finetune_accuracy_dataset, "--run-dir", result["run_dir"])
    except Exception as error:
        errors.append(f"- fine-tuned + frozen MLP: `{report.error_summary(error)}`")
        return []
    best = max(r["by_weight"].items(), key=lambda item: item[1]["test"])
    return [f"Fine-tuned + frozen MLP (`benchmarks/workers/finetune_combine_worker.py`, seed "
            f"{result['config']['seed']}'s run): the MLP head on the original backbone's "
            f"values at the same size, test {report.percent(r['mlp_test'])}; the fine-tuned "
            f"model alone {report.percent(r['fine_tuned_test'])}. (1 − w)·fine-tuned + w·MLP "
            f"with w chosen on validation: w = {r['chosen_weight']:g}, test "
            f"{report.percent(r['combined_test'])}; the best test accuracy at any w "
            f"{report.percent(best[1]['test'])} (w = {float(best[0]):g}), which validation "
            "cannot pick.", ""]
