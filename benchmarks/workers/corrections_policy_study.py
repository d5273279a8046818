"""Study behind the no-human action of `find_label_issues` (benchmarks section 12): the
planted flips of `corrections_worker`, then logreg heads on train+validation with a
candidate policy's samples excluded.

Every candidate is scored three ways:
- cv_given / cv_clean: validation inside train+validation — a third of it (one fold of a
  seeded 3-fold split; `--cv-folds-used 3` holds out each in turn) is predicted by a head
  trained on the rest minus the policy's excluded rows; scored against the given (noisy)
  labels, which is all a user has, and against the clean ones. The policy is SELECTED on
  cv_given (seeds 1–2): under flips drawn independently of the image it is an increasing
  affine function of cv_clean. (The flags themselves were computed on all of
  train+validation, held-out third included: a small leak, the same for every candidate);
- test: the subset's 1,459 clean test labels (the old yardstick);
- heldout: the dataset's other clean test images no method ever sees (`benchmarks.heldout`),
  the yardstick the section reports. Neither of the last two is used to choose.

Candidates (all exclude, none relabel — relabelling lost in the earlier study):
- ours_exclude: every `find_label_issues` flagged sample (the policy before this study);
- ours_top_q: the first N of our ranking (combined score), N the confident-joint estimate of
  the number of issues (`cleanlab.count.num_label_issues`, the off-diagonal
  count of Cleanlab's confident joint) on the combined q = (1 − w)·p + w·v (model + neighbour
  votes). Like Cleanlab's flow, counts and rankings see the whole dataset; only
  train+validation rows are excluded;
- cleanlab_drop: Cleanlab's documented flow (its filter on p, drop the flagged), a reference.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import emit, input_parser
from benchmarks.workers.corrections_worker import noisy_inputs, without

CV_FOLDS = 3
CANDIDATES = ("ours_exclude", "ours_top_q", "cleanlab_drop")
REFERENCES = ("cleanlab_drop",)  # scored, not candidates: no cv


def first_rows(*, ranked, count: int, n: int) -> np.ndarray:
    """Mask of the `count` most suspicious rows of a `find_label_issues(include_all=True)`
    ranking."""
    mask = np.zeros(n, dtype=bool)
    mask[ranked["index"].to_numpy()[:count]] = True
    return mask


def main() -> None:
    parser = input_parser()
    parser.add_argument("--noise", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--policies", default="", help="candidate names, comma separated; "
                        "all when empty")
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validated scores")
    parser.add_argument("--cv-folds-used", type=int, default=1, help="how many of the "
                        f"{CV_FOLDS} folds are held out in turn (1: one held-out third)")
    args = parser.parse_args()
    wanted = [c for c in CANDIDATES if not args.policies or c in args.policies.split(",")]

    from cleanlab.count import num_label_issues
    from cleanlab.filter import find_label_issues as cleanlab_filter

    from benchmarks.heldout import heldout_test
    from core.analysis.label_issues import (DEFAULT_CROSS_FIT_FOLDS, DEFAULT_NEIGHBORS,
                                            NEIGHBOUR_WEIGHT, find_label_issues)
    from core.analysis.neighbors import knn_graph, neighbor_label_votes
    from core.base.splits import TEST
    from core.heads import train_head

    clean, truth, noisy, planted, is_planted, in_fit, noisy_labels = noisy_inputs(args)
    test = np.flatnonzero(~in_fit)
    test_values = np.asarray(clean.values[test], dtype=np.float32)
    heldout = heldout_test(dataset=args.dataset, backbone=args.backbone, size=args.size,
                           limit=args.limit)

    p = train_head(tv=noisy, head="logreg", cross_fit_folds=DEFAULT_CROSS_FIT_FOLDS).probabilities
    votes = neighbor_label_votes(graph=knn_graph(tv=noisy, n_neighbors=DEFAULT_NEIGHBORS),
                                 labels=noisy_labels, num_classes=len(clean.class_names))
    q = (1 - NEIGHBOUR_WEIGHT) * p + NEIGHBOUR_WEIGHT * votes
    # like Cleanlab's flow, every count and ranking sees the whole dataset; acting stays on
    # train+validation
    ranked = find_label_issues(tv=noisy, probabilities=p, include_all=True)
    flagged = in_fit & np.isin(np.arange(clean.n),
                               ranked["index"].to_numpy()[ranked["flagged"].to_numpy(dtype=bool)])
    counts_cj = {name: int(num_label_issues(labels=noisy_labels, pred_probs=probs))
                 for name, probs in (("p", p), ("q", q))}
    cleanlab_flag = np.asarray(cleanlab_filter(labels=noisy_labels, pred_probs=p), dtype=bool) & in_fit
    masks = {
        "ours_exclude": flagged,
        "ours_top_q": first_rows(ranked=ranked, count=counts_cj["q"], n=clean.n) & in_fit,
        "cleanlab_drop": cleanlab_flag,
    }
    fit = np.flatnonzero(in_fit)
    # one fold assignment for every candidate, so their cv scores differ only by the policy
    fold_of = np.full(clean.n, -1)
    fold_of[fit] = np.random.default_rng(0).permutation(len(fit)) % CV_FOLDS

    def scores(tv) -> dict:
        trained = train_head(tv=tv, head="logreg", seed=0)
        result = {"test": float(np.mean(trained.predict(test_values) == truth[test]))}
        if heldout is not None:
            result["heldout"] = float(np.mean(trained.predict(heldout[0]) == heldout[1]))
        return result

    def cross_validated(exclude: np.ndarray) -> dict:
        given = right = 0
        scored = 0
        for fold in range(args.cv_folds_used):
            held = fold_of == fold
            splits = np.asarray(noisy.splits).copy()
            splits[held] = TEST  # held-out rows only predicted, never trained or tuned on
            keep = in_fit & ~(exclude & ~held)
            tv = without(noisy, keep=keep, splits=splits)
            predicted = train_head(tv=tv, head="logreg", seed=0).predict(
                np.asarray(noisy.values[held], dtype=np.float32))
            given += int(np.sum(predicted == noisy_labels[held]))
            right += int(np.sum(predicted == truth[held]))
            scored += int(held.sum())
        return {"cv_given": given / scored, "cv_clean": right / scored}

    results = {"noisy": scores(noisy), "clean": scores(clean)}
    for name in wanted:
        exclude = masks[name]
        results[name] = {"excluded": int(exclude.sum()), "relabelled": 0, "fixed": 0,
                         "removed": int((exclude & is_planted).sum()),
                         "wrong_changes": int((exclude & ~is_planted).sum()),
                         **scores(without(noisy, keep=~exclude)),
                         **({} if args.no_cv or name in REFERENCES else cross_validated(exclude))}
        print(name, results[name], flush=True)
    emit({"noise": args.noise, "seed": args.seed, "planted": int(len(planted)),
          "n_test": int(len(test)), "n_heldout": 0 if heldout is None else int(len(heldout[1])),
          "confident_joint_counts": counts_cj, "results": results})


if __name__ == "__main__":
    main()
