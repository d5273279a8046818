"""Planted label flips, then four training sets for one head: the noisy labels, the noisy
labels corrected by accepting every suggestion of ours (no human: relabel, exclude or keep,
as `find_label_issues`' action column says), Cleanlab's
documented flow (`cleanlab.filter.find_label_issues`, drop the flagged) on the same values
and out-of-fold probabilities, and the clean labels (the ceiling).

Flips go to a random other class on `--noise` of the train+validation samples; test labels
stay clean. Both cleaners act on train+validation only. Every head is scored on the subset's
clean test split and on the held-out yardstick (`benchmarks.heldout`: the dataset's other
test images, never seen). Prints per method: planted errors fixed (relabelled to the true
class) or removed (excluded), correct labels wrongly changed (relabelled or excluded), and
the accuracy of each head on each yardstick.
"""

from __future__ import annotations

import dataclasses
import tempfile

import numpy as np

from benchmarks.common import emit, input_parser, peak_rss_mb, timer
from benchmarks.heldout import heldout_test


def planted_flips(*, clean, noise: float, seed: int):
    """(noisy tv, planted rows, planted mask, train+validation mask): `noise` of the
    train+validation labels moved to a random other class, the test labels left clean."""
    from core.base.hashing import hash_array, hash_key
    from core.base.splits import TEST

    truth = np.asarray(clean.labels, dtype=np.int64)
    num_classes = len(clean.class_names)
    rng = np.random.default_rng(seed)
    in_fit = np.asarray(clean.splits) != TEST
    fit_rows = np.flatnonzero(in_fit)
    planted = np.sort(rng.choice(fit_rows, size=max(1, int(round(noise * len(fit_rows)))),
                                 replace=False))
    noisy_labels = truth.copy()
    noisy_labels[planted] = (truth[planted] + rng.integers(1, num_classes, len(planted))) % num_classes
    # same values, other labels: a key of its own, nothing written or re-extracted
    noisy = dataclasses.replace(clean, labels=noisy_labels, key=hash_key(
        {"tv": clean.key, "labels": hash_array(noisy_labels)}))
    is_planted = np.zeros(clean.n, dtype=bool)
    is_planted[planted] = True
    return noisy, planted, is_planted, in_fit


def noisy_inputs(args):
    """(clean tv, true labels, noisy tv, planted rows, planted mask, train+validation mask,
    noisy labels) for the worker's --dataset/--backbone/--size/--limit, --noise and --seed."""
    from core.datasets import load_dataset
    from core.features.feature_sets import feature_values

    dataset = load_dataset(name=args.dataset).limited(limit=args.limit or None)
    clean = feature_values(dataset=dataset, backbone=args.backbone, image_size=args.size or None)
    noisy, planted, is_planted, in_fit = planted_flips(clean=clean, noise=args.noise,
                                                       seed=args.seed)
    return (clean, np.asarray(clean.labels, dtype=np.int64), noisy, planted, is_planted,
            in_fit, np.asarray(noisy.labels))


def without(tv, *, keep: np.ndarray, splits: np.ndarray | None = None):
    """`tv` restricted to the `keep` rows (same values and labels), with `splits` in place of
    its own when given: a key of its own, nothing written or re-extracted."""
    from core.base.hashing import hash_array, hash_key

    fields = {"tv": tv.key, "drop": hash_array(keep)}  # the key section 12 always gave
    if splits is not None:
        fields["splits"] = hash_array(splits)
    splits = np.asarray(tv.splits if splits is None else splits)
    return dataclasses.replace(
        tv, values=np.asarray(tv.values[keep]), labels=np.asarray(tv.labels)[keep],
        splits=splits[keep], sample_ids=np.asarray(tv.sample_ids)[keep], key=hash_key(fields))


def main() -> None:
    parser = input_parser()
    parser.add_argument("--noise", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--heads", default="logreg,mlp", help="heads scored, comma separated")
    args = parser.parse_args()

    from cleanlab.filter import find_label_issues as cleanlab_filter

    from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS, find_label_issues
    from core.corrections import corrected, open_corrections
    from core.heads import train_head

    clean, truth, noisy, planted, is_planted, in_fit, noisy_labels = noisy_inputs(args)

    with timer() as probability_time:
        p = train_head(tv=noisy, head="logreg", cross_fit_folds=DEFAULT_CROSS_FIT_FOLDS).probabilities

    # ours: accept every suggestion on train+val, as each row's action says (no human)
    with timer() as ours_time:
        issues = find_label_issues(tv=noisy, probabilities=p, include_all=True)
        issues = issues[in_fit[issues["index"].to_numpy()]]
    with tempfile.TemporaryDirectory() as scratch:
        overlay = open_corrections(tv=noisy, namespace=f"bench-{args.seed}", cache_dir=scratch)
        overlay.accept_suggestions(issues=issues, flagged_only=False, source="benchmark")
        ours_tv = corrected(noisy, overlay)
        ours_labels, kept = overlay.labels_and_kept()
    if np.array_equal(ours_labels, noisy_labels):  # exclusions only: the study's key, its head
        assert np.array_equal(np.asarray(ours_tv.sample_ids),
                              np.asarray(without(noisy, keep=kept).sample_ids))
        ours_tv = without(noisy, keep=kept)
    relabelled = kept & (ours_labels != noisy_labels)
    excluded = ~kept
    ours = {"touched": int((relabelled | excluded).sum()),
            "relabelled": int(relabelled.sum()), "excluded": int(excluded.sum()),
            "fixed": int((relabelled & is_planted & (ours_labels == truth)).sum()),
            "removed": int((excluded & is_planted).sum()),
            "planted_touched_wrongly": int((relabelled & is_planted & (ours_labels != truth)).sum()),
            "correct_excluded": int((excluded & ~is_planted).sum()),
            "wrong_changes": int(((relabelled | excluded) & ~is_planted).sum())}

    # cleanlab's documented flow: flag, then drop the flagged (train+val only)
    with timer() as cleanlab_time:
        flagged = np.asarray(cleanlab_filter(labels=noisy_labels, pred_probs=p), dtype=bool)
    flagged &= in_fit
    cleanlab_tv = without(noisy, keep=~flagged)
    cleanlab = {"touched": int(flagged.sum()), "relabelled": 0, "excluded": int(flagged.sum()),
                "fixed": 0, "removed": int((flagged & is_planted).sum()),
                "planted_touched_wrongly": 0, "correct_excluded": int((flagged & ~is_planted).sum()),
                "wrong_changes": int((flagged & ~is_planted).sum())}

    test = np.flatnonzero(~in_fit)
    # every set scored on the same clean images: the subset's test split, and the yardstick
    yardsticks = {"test": (np.asarray(clean.values[test], dtype=np.float32), truth[test])}
    heldout = heldout_test(dataset=args.dataset, backbone=args.backbone, size=args.size,
                           limit=args.limit)
    if heldout is not None:
        yardsticks["heldout"] = heldout
    sets = {"noisy": noisy, "ours": ours_tv, "cleanlab": cleanlab_tv, "clean": clean}
    accuracy: dict[str, dict[str, dict[str, float]]] = {name: {} for name in yardsticks}
    seconds: dict[str, float] = {}
    for head in args.heads.split(","):
        for name in yardsticks:
            accuracy[name][head] = {}
        with timer() as head_time:
            for name, tv in sets.items():
                trained = train_head(tv=tv, head=head, seed=0)
                for yardstick, (values, labels) in yardsticks.items():
                    accuracy[yardstick][head][name] = float(np.mean(trained.predict(values) == labels))
        seconds[head] = head_time["seconds"]
    emit({"dataset": args.dataset, "noise": args.noise, "seed": args.seed, "n": clean.n,
          "planted": int(len(planted)), "n_fit": int(in_fit.sum()), "n_test": int(len(test)),
          "n_heldout": 0 if heldout is None else int(len(heldout[1])),
          "methods": {"ours": ours, "cleanlab": cleanlab}, "accuracy": accuracy,
          "seconds": {"probabilities": probability_time["seconds"],
                      "ours_flagging": ours_time["seconds"],
                      "cleanlab_flagging": cleanlab_time["seconds"], "heads": seconds},
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
