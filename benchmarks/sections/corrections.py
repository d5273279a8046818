"""12. Corrections: planted label flips in train+validation, then a head trained on the noisy
labels, on labels corrected by accepting our flagged suggestions (no human), after
Cleanlab's documented flow (flag with `cleanlab.filter.find_label_issues`, drop the
flagged) on the same values and out-of-fold probabilities, and on the clean labels."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import Run, SectionFailed

TITLE = "Corrections: fix planted label errors, retrain, measure the gain"
SETS = ("noisy", "ours", "cleanlab", "clean")
# what a worker counts per method or policy, summed over seeds in both tables
COUNTS = ("relabelled", "excluded", "fixed", "removed", "wrong_changes")


def gap_recovered(accuracy: dict[str, float], method: str) -> float | None:
    """The share of the noisy → clean test-accuracy gap a method's head recovers."""
    gap = accuracy["clean"] - accuracy["noisy"]
    return None if gap <= 0 else (accuracy[method] - accuracy["noisy"]) / gap


def run(*, run: Run) -> list[str]:
    plan = run.plan
    dataset, backbone, size, limit = plan.corrections_input
    results, errors = {}, []
    for noise in plan.corrections_noise:
        for seed in plan.corrections_seeds:
            try:
                results[(noise, seed)] = run.worker(
                    "benchmarks.workers.corrections_worker", "--dataset", dataset, "--backbone", backbone,
                    "--size", size, "--limit", limit, "--noise", noise, "--seed", seed,
                    "--heads", ",".join(plan.corrections_heads))
            except Exception as error:
                errors.append(f"- {noise:.0%} seed {seed}: `{report.error_summary(error)}`")
    if not results:
        raise SectionFailed("every run failed", errors)
    studies = {}
    for noise, seed in results:  # the policies behind the no-human action, same flips
        try:
            studies[(noise, seed)] = run.worker(
                "benchmarks.workers.corrections_policy_study", "--dataset", dataset,
                "--backbone", backbone, "--size", size, "--limit", limit, "--noise", noise,
                "--seed", seed)
        except Exception as error:
            errors.append(f"- policy study, {noise:.0%} seed {seed}: "
                          f"`{report.error_summary(error)}`")
    return [*describe(dataset=dataset, results=results, heads=plan.corrections_heads,
                      seeds=plan.corrections_seeds), *policies(studies),
            *errors, *([""] if errors else [])]


def policies(studies: dict) -> list[str]:
    """The policy study's table: flag set × action, summed over seeds per noise level."""
    if not studies:
        return []
    lines = ["Policies for the no-human action (`corrections_policy_study`, logreg, the same "
             "flips): flag sets ours (`find_label_issues`), cl (Cleanlab's filter on the "
             "model's probabilities), q (its filter on model + neighbour votes); actions "
             "relabel, exclude, or agree (relabel where model and neighbours both back the "
             "suggestion, exclude the rest). Counts summed over seeds, accuracy averaged.", ""]
    rows = []
    for noise in sorted({n for n, _ in studies}):
        runs = [r["results"] for (n, _), r in studies.items() if n == noise]
        names = [name for name in runs[0] if name not in ("noisy", "clean")]
        for name in names:
            if not all(name in r for r in runs):
                continue
            counts = {k: sum(r[name].get(k, 0) for r in runs)
                      for k in COUNTS}
            mean = {s: sum(r[s]["accuracy"] for r in runs) / len(runs)
                    for s in ("noisy", "clean", name)}
            rows.append([f"{noise:.0%}", name, *(f"{counts[k]:,}" for k in counts),
                         f"{100 * mean[name]:.2f} %",
                         report.percent(gap_recovered(mean, name))])
    return lines + report.table(["noise", "policy", "relabelled", "excluded", "planted fixed",
                                 "planted removed", "wrong changes", "logreg test",
                                 "gap recovered"], rows)


def describe(*, dataset: str, results: dict, heads, seeds) -> list[str]:
    """The tables, from the workers' results keyed by (noise, seed)."""
    first = next(iter(results.values()))
    lines = [f"{dataset} ({first['n']:,}), labels moved to a random other class on a share of "
             f"the {first['n_fit']:,} train+validation samples, the {first['n_test']:,} test labels "
             f"clean; seeds {', '.join(map(str, seeds))} summed (counts) or averaged "
             "(accuracies). Both cleaners read one 5-fold cross-fitted logreg's out-of-fold "
             "probabilities (`train_head(cross_fit_folds=5)`) and act on train+validation only. "
             "ours: `find_label_issues` flagged rows, every suggestion accepted with its "
             "action (`Corrections.accept_suggestions`, then `corrected(tv, overlay)`; "
             "the no-human action is exclude); cleanlab: "
             "`cleanlab.filter.find_label_issues(labels, pred_probs)`, flagged rows dropped. "
             "Fixed: a planted error relabelled to its true class; removed: excluded; wrong "
             "changes: correct labels relabelled or excluded.", ""]
    rows = []
    for noise in sorted({n for n, _ in results}):
        runs = [r for (n, _), r in results.items() if n == noise]
        planted = sum(r["planted"] for r in runs)
        for method in ("ours", "cleanlab"):
            total = {k: sum(r["methods"][method][k] for r in runs)
                     for k in COUNTS}
            rows.append([f"{noise:.0%}", f"{planted:,}", method, f"{total['relabelled']:,}",
                         f"{total['excluded']:,}", f"{total['fixed']:,}", f"{total['removed']:,}",
                         f"{total['wrong_changes']:,}"])
    lines += report.table(["noise", "planted", "method", "relabelled", "excluded",
                           "planted fixed", "planted removed",
                           "correct labels wrongly changed"], rows)
    rows = []
    for head in heads:
        for noise in sorted({n for n, _ in results}):
            runs = [r for (n, _), r in results.items() if n == noise]
            mean = {s: sum(r["accuracy"][head][s] for r in runs) / len(runs) for s in SETS}
            rows.append([head, f"{noise:.0%}", *(f"{100 * mean[s]:.2f} %" for s in SETS),
                         *(report.percent(gap_recovered(mean, m)) for m in ("ours", "cleanlab"))])
    lines += report.table(["head", "noise", "noisy", "ours", "cleanlab", "clean",
                           "gap recovered: ours", "gap recovered: cleanlab"], rows)
    for head in heads:
        per_seed = "; ".join(
            f"{noise:.0%}: " + ", ".join(
                f"{100 * (r['accuracy'][head]['ours'] - r['accuracy'][head]['cleanlab']):+.2f}"
                for (n, _), r in sorted(results.items()) if n == noise)
            for noise in sorted({n for n, _ in results}))
        lines += [f"{head} test accuracy, ours − cleanlab, per seed in points: {per_seed}.", ""]
    return lines
