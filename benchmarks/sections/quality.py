"""7. Data quality: planted label errors (ours vs cleanlab, same probabilities), planted
outliers (ours vs cleanlab's OutOfDistribution, same values and probabilities) and planted
near-duplicates across train/test (pixels + features vs the transfer values alone)."""

from __future__ import annotations

import numpy as np

from benchmarks import report
from benchmarks.plan import Run, SectionFailed

TITLE = "Data quality: planted label errors, outliers and near-duplicates"
METHODS = ("ours", "cleanlab_rank", "cleanlab_filter")


def run(*, run: Run) -> list[str]:
    lines = _label_errors(run=run)
    for part in (_outliers, _duplicates):
        try:
            lines += part(run=run)
        except SectionFailed as error:
            lines += [f"**{error}**", "", *error.details, ""]
    return lines


def _label_errors(*, run: Run) -> list[str]:
    plan = run.plan
    rows, errors = [], []
    for dataset, backbone, size, limit in plan.quality_inputs:
        for noise in plan.quality_noise:
            totals = {m: 0 for m in METHODS}
            planted = 0
            for seed in plan.quality_seeds:
                try:
                    result = run.worker("benchmarks.workers.label_noise_worker",
                                        "--dataset", dataset,
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


OUTLIER_METHODS = ("ours", "ours_isolation", "cleanlab_pred_probs", "cleanlab_features")
PLANTED_OUTLIERS = 300


def _outliers(*, run: Run) -> list[str]:
    plan = run.plan
    dataset = plan.quality_inputs[0][0]
    planted = PLANTED_OUTLIERS if not plan.quick else 30
    results, errors = _per_seed(run, "benchmarks.workers.outliers_worker", "--planted", planted)
    k = sum(r["k"] for r in results)
    rows = [[f"{dataset} ({results[0]['n']:,})", f"{k:,}",
             *(f"{sum(r['hits'][m] for r in results):,} ({report.percent(sum(r['hits'][m] for r in results) / k)})"
               for m in OUTLIER_METHODS)]]
    timing = ", ".join(f"{m} {report.seconds(sum(r['seconds'][m] for r in results) / len(results))}"
                       for m in OUTLIER_METHODS)
    return ["### Planted outliers", "",
            f"{planted} sklearn digits per seed, upscaled (bilinear) to the dataset's image size "
            "with random labels and splits, mixed in; their transfer values computed like the "
            f"dataset's; seeds {', '.join(map(str, plan.quality_seeds))} summed. A hit is a "
            "planted digit in the method's top k = number planted. All methods rank the same "
            "values and the same 5-fold cross-fitted logreg probabilities. ours: "
            "`find_outliers(probabilities=)` (the model's entropy averaged over 10 neighbours, "
            "core's default); ours_isolation: `find_outliers()` (kNN distance, PCA-50); "
            "cleanlab: `cleanlab.outlier.OutOfDistribution().fit_score(pred_probs=, labels=)` "
            "and `.fit_score(features=)` on the full transfer values.", "",
            *report.table(["dataset", "planted", *OUTLIER_METHODS], rows), "",
            f"Mean seconds per run (busy machine): {timing}.", "",
            *errors, *([""] if errors else [])]


def _duplicates(*, run: Run) -> list[str]:
    plan = run.plan
    per_kind = 100 if not plan.quick else 10
    results, errors = _per_seed(run, "benchmarks.workers.duplicates_worker",
                                "--per-kind", per_kind)
    kinds = list(results[0]["features"])
    seeds = len(results)
    rows = []
    for method in results[0]["methods"]:
        got = [r["methods"][method] for r in results]
        pairs = sum(g["pairs_with_copy"] for g in got)
        correct = sum(g["correct_pairs"] for g in got)
        accuracy = sum(g["test_accuracy"] for g in got) / seeds
        without = sum(g["test_accuracy_without_leaked"] for g in got) / seeds
        rows.append([method,
                     *(report.percent(sum(g["recall"][k] for g in got) / seeds) for k in kinds),
                     f"{correct:,} / {pairs:,} ({report.percent(correct / pairs if pairs else None)})",
                     f"{sum(g['base_pairs'] for g in got) / seeds:,.0f} "
                     f"({sum(g['base_cross_split_pairs'] for g in got) / seeds:,.0f})",
                     f"{sum(g['leaked_test'] for g in got) / seeds:,.0f} "
                     f"({sum(g['leaked_planted'] for g in got) / seeds:,.0f})",
                     f"{report.percent(accuracy)} → {report.percent(without)}"])
    why = [[k, report.percent(sum(r["features"][k]["nearest"] for r in results) / seeds),
            report.percent(sum(r["features"][k]["in_20"] for r in results) / seeds),
            report.number(_median([r["features"][k]["median_ratio"] for r in results]), 2)]
           for k in kinds]
    first = results[0]
    return ["### Planted near-duplicates across train/test", "",
            f"{per_kind} train images per kind and seed copied into test ({seeds} seeds: "
            f"{', '.join(str(r['seed']) for r in results)}; kinds from "
            "`benchmarks/planted_copies.py`: exact; resized to ×0.6–0.8 or ×1.5–2 and back; "
            "JPEG quality 50–79; shifted 1–2 px along one axis; shifted 1–2 px along both "
            "axes), their transfer values computed like the "
            f"dataset's ({first['n']:,} images per run). Recall: the copy lands in its "
            "original's group (mean over seeds). Precision: confirmed pairs that touch a copy "
            "and are (copy, its original), summed. Pairs among the original images: confirmed "
            "pairs with no planted copy (of them across splits) — the dataset's own "
            "look-alikes, mean per run. Leaked: test images with a duplicate in train (of them "
            "planted), mean per run. Accuracy: the cross-fitted logreg's test accuracy, all test "
            "images → without the leaked ones, mean. pixels+features: "
            f"`find_duplicates(dataset=)` at core's defaults (pixels ≤ {first['pixel_threshold']}, "
            f"features ≤ {first['threshold']}× the median 1-NN distance); features t: the "
            "transfer values alone at threshold t (no images), the method before this one. "
            f"Candidate search and pixel comparison took {report.seconds(sum(r['candidate_seconds'] for r in results) / seeds)} "
            "per run (mean, busy machine).", "",
            *report.table(["method", *kinds, "precision", "pairs among originals (cross-split)",
                           "leaked test (planted)", "test accuracy → without leaked"], rows), "",
            "Why the transfer values alone miss them: where the original ranks among the "
            "copy's transfer-value neighbours, and its distance × the median 1-NN distance.", "",
            *report.table(["kind", "original is the nearest", "original in the 20 nearest",
                           "distance × median (median)"], why), "",
            *errors, *([""] if errors else [])]


def _per_seed(run: Run, worker: str, *args) -> tuple[list[dict], list[str]]:
    """`worker` on the first quality input once per seed: the results, and
    a line per failed seed (SectionFailed when every seed failed)."""
    dataset, backbone, size, limit = run.plan.quality_inputs[0]
    kind = worker.rsplit(".", 1)[-1].removesuffix("_worker")  # for the messages
    results, errors = [], []
    for seed in run.plan.quality_seeds:
        try:
            results.append(run.worker(worker, "--dataset", dataset,
                                      "--backbone", backbone, "--size", size, "--limit", limit,
                                      *args, "--seed", seed))
        except Exception as error:
            errors.append(f"- {kind} seed {seed}: `{report.error_summary(error)}`")
    if not results:
        raise SectionFailed(f"planted {kind}: every run failed", errors)
    return results, errors


def _median(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None
