"""Study behind the suggestion policy of `find_label_issues` (benchmarks section 12): the
planted flips of `corrections_worker`, then logreg heads on train+validation sets corrected
by several policies (which samples are flagged × what is done to each), scored on the clean
test split. Prints, per policy, planted fixed / removed, correct labels wrongly changed
(relabelled or dropped) and the test accuracy; the noisy, clean and Cleanlab-drop heads as
references.

Flag sets: "ours" = `find_label_issues` flagged; "cl" = Cleanlab's filter on p; "q" = cleanlab's confident-learning filter
on the combined probabilities q = (1 − w)·p + w·v (model + neighbour votes).
Actions: relabel all; exclude all; "agree" = relabel where the model's and the neighbours'
top class are both the suggested class, exclude the rest.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from benchmarks.common import emit, input_parser
from benchmarks.workers.corrections_worker import planted_flips


def main() -> None:
    parser = input_parser()
    parser.add_argument("--noise", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--policies", default="", help="flagset_action names, comma "
                        "separated (e.g. ours_agree); all when empty")
    args = parser.parse_args()
    wanted = set(filter(None, args.policies.split(",")))

    from cleanlab.filter import find_label_issues as cleanlab_filter

    from core.analysis.label_issues import (DEFAULT_CROSS_FIT_FOLDS, DEFAULT_NEIGHBORS,
                                            NEIGHBOUR_WEIGHT, find_label_issues, model_flags)
    from core.analysis.neighbors import knn_graph, neighbor_label_votes
    from core.base.hashing import hash_array, hash_key
    from core.datasets import load_dataset
    from core.features.feature_sets import feature_values
    from core.heads import train_head

    dataset = load_dataset(name=args.dataset).limited(limit=args.limit or None)
    clean = feature_values(dataset=dataset, backbone=args.backbone, image_size=args.size or None)
    truth = np.asarray(clean.labels, dtype=np.int64)
    num_classes = len(clean.class_names)
    noisy, planted, is_planted, in_fit = planted_flips(clean=clean, noise=args.noise,
                                                       seed=args.seed)
    noisy_labels = np.asarray(noisy.labels)
    test = np.flatnonzero(~in_fit)
    test_values = np.asarray(clean.values[test], dtype=np.float32)

    p = train_head(tv=noisy, head="logreg", cross_fit_folds=DEFAULT_CROSS_FIT_FOLDS).probabilities
    votes = neighbor_label_votes(graph=knn_graph(tv=noisy, n_neighbors=DEFAULT_NEIGHBORS),
                                 labels=noisy_labels, num_classes=num_classes)
    q = (1 - NEIGHBOUR_WEIGHT) * p + NEIGHBOUR_WEIGHT * votes
    rows = np.arange(clean.n)
    others = q.copy()
    others[rows, noisy_labels] = -1.0
    suggested = others.argmax(axis=1)
    agree = (p.argmax(axis=1) == suggested) & (votes.argmax(axis=1) == suggested)

    issues = find_label_issues(tv=noisy, probabilities=p, include_all=True)
    ours_flag = np.zeros(clean.n, dtype=bool)
    ours_flag[issues["index"].to_numpy()[issues["flagged"].to_numpy(dtype=bool)]] = True
    assert np.array_equal(issues.sort_values("index")["suggested"].to_numpy(), suggested)
    cleanlab_flag = np.asarray(cleanlab_filter(labels=noisy_labels, pred_probs=p), dtype=bool) & in_fit
    flag_sets = {"ours": ours_flag & in_fit, "cl": cleanlab_flag,
                 "q": model_flags(labels=noisy_labels, probabilities=q) & in_fit}

    def accuracy(tv) -> float:
        trained = train_head(tv=tv, head="logreg", seed=0)
        return float(np.mean(trained.predict(test_values) == truth[test]))

    def corrected_set(*, relabel: np.ndarray, exclude: np.ndarray) -> tuple[dict, object]:
        labels = noisy_labels.copy()
        labels[relabel] = suggested[relabel]
        keep = ~exclude
        tv = dataclasses.replace(
            noisy, values=np.asarray(noisy.values[keep]), labels=labels[keep],
            splits=np.asarray(noisy.splits)[keep], sample_ids=np.asarray(noisy.sample_ids)[keep],
            key=hash_key({"tv": noisy.key, "labels": hash_array(labels), "keep": hash_array(keep)}))
        counts = {"relabelled": int(relabel.sum()), "excluded": int(exclude.sum()),
                  "fixed": int((relabel & is_planted & (suggested == truth)).sum()),
                  "planted_relabelled_wrongly": int((relabel & is_planted & (suggested != truth)).sum()),
                  "removed": int((exclude & is_planted).sum()),
                  "correct_excluded": int((exclude & ~is_planted).sum()),
                  "wrong_changes": int(((relabel | exclude) & ~is_planted).sum())}
        return counts, tv

    results = {"noisy": {"accuracy": accuracy(noisy)}, "clean": {"accuracy": accuracy(clean)}}
    none = np.zeros(clean.n, dtype=bool)
    counts, tv = corrected_set(relabel=none, exclude=cleanlab_flag)
    results["cleanlab_drop"] = {**counts, "accuracy": accuracy(tv)}
    for name, flag in flag_sets.items():
        for action, (relabel, exclude) in {
                "relabel": (flag, none), "exclude": (none, flag),
                "agree": (flag & agree, flag & ~agree)}.items():
            if wanted and f"{name}_{action}" not in wanted:
                continue
            counts, tv = corrected_set(relabel=relabel, exclude=exclude)
            results[f"{name}_{action}"] = {**counts, "accuracy": accuracy(tv)}
            print(name, action, results[f"{name}_{action}"], flush=True)
    emit({"noise": args.noise, "seed": args.seed, "planted": int(len(planted)),
          "n_test": int(len(test)), "results": results})


if __name__ == "__main__":
    main()
