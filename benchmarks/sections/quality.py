"""7. Label errors: ours vs cleanlab on planted symmetric noise, same probabilities."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import Run, SectionFailed

TITLE = "Data quality: planted label errors, ours vs cleanlab"
METHODS = ("ours", "cleanlab_rank", "cleanlab_filter")


def run(*, run: Run) -> list[str]:
    plan = run.plan
    rows, errors = [], []
    for dataset, backbone, size, limit in plan.quality_inputs:
        for noise in plan.quality_noise:
            totals = {m: 0 for m in METHODS}
            planted = 0
            for seed in plan.quality_seeds:
                try:
                    result = run.worker("benchmarks.label_noise_worker", "--dataset", dataset,
                                        "--backbone", backbone, "--size", size, "--limit",
                                        limit, "--noise", noise, "--seed", seed)
                except Exception as error:
                    errors.append(f"- {dataset} {noise:.0%} seed {seed}: "
                                  f"`{report.error_summary(error)}`")
                    continue
                planted += result["k"]
                for method in METHODS:
                    totals[method] += result["hits"][method]
            if planted:
                rows.append((f"{dataset} ({result['n']:,})", noise, planted, totals))
    if not rows:
        raise SectionFailed("every run failed", errors)
    table = [[name, f"{noise:.0%}", f"{planted:,}",
              *(f"{totals[m]:,} ({report.percent(totals[m] / planted)})" for m in METHODS),
              f"{100 * (totals['ours'] - totals['cleanlab_rank']) / planted:+.1f} points"]
             for name, noise, planted, totals in rows]
    return [f"Labels moved to a random other class; seeds {', '.join(map(str, plan.quality_seeds))}"
            " summed. One 5-fold cross-fitted logreg (`train_head(cross_fit_folds=5)`) gives the "
            "probabilities all methods rank; a hit is a planted error in the method's top k = "
            "number planted, so precision = recall = hits / k. ours: "
            "`core.analysis.label_issues.find_label_issues(include_all=True)`; cleanlab_rank: "
            "`cleanlab.rank.get_label_quality_scores` (self-confidence); cleanlab_filter: "
            "`cleanlab.filter.find_label_issues(return_indices_ranked_by='self_confidence')` "
            "(may return fewer than k).", "",
            *report.table(["dataset", "noise", "planted", "ours", "cleanlab rank",
                           "cleanlab filter", "ours − cleanlab rank"], table),
            *errors, *([""] if errors else [])]
