"""Data quality on digits pixels: label ranking vs cleanlab, outliers, duplicates + leakage,
the `quality` command's JSON and CSV."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analysis.duplicates import find_duplicates, split_leakage
from core.analysis.label_issues import WITNESSES, find_label_issues
from core.analysis.outliers import find_outliers
from core.base.splits import TEST, TRAIN
from core.cli import main
from core.features.feature_sets import from_arrays
from core.heads import train_head
from tests.support.data import digits_pixels, with_flipped_labels


@pytest.mark.parametrize("seed", [0, 1])
def test_label_ranking_at_least_cleanlabs(seed):
    from cleanlab.rank import get_label_quality_scores

    noisy, flipped = with_flipped_labels(digits_pixels(), fraction=0.03, seed=seed)
    probabilities = train_head(tv=noisy, head="logreg", cross_fit_folds=5).probabilities
    k = len(flipped)
    ours = find_label_issues(tv=noisy, probabilities=probabilities, include_all=True)
    theirs = np.argsort(get_label_quality_scores(noisy.labels, probabilities), kind="stable")
    hits_ours = np.isin(ours["index"].to_numpy()[:k], flipped).sum()
    hits_theirs = np.isin(theirs[:k], flipped).sum()
    assert hits_ours >= hits_theirs, (hits_ours, hits_theirs)
    flagged = ours[ours["flagged"]]
    assert set(flagged["witness"]) <= set(WITNESSES) and (ours.loc[~ours["flagged"], "witness"] == "").all()


def _with_planted(extra_values, *, extra_splits, name, extra_labels=None):
    base = digits_pixels()
    values = np.vstack([np.asarray(base.values), extra_values]).astype(np.float32)
    if extra_labels is None:
        extra_labels = np.arange(len(extra_values)) % 10
    labels = np.concatenate([base.labels, extra_labels])
    splits = np.concatenate([base.splits, extra_splits]).astype(np.uint8)
    return base, from_arrays(values=values, labels=labels, splits=splits,
                             class_names=base.class_names, name=name)


def test_isolated_samples_rank_first():
    rng = np.random.default_rng(0)
    planted = 40
    base, tv = _with_planted(rng.uniform(0, 1, size=(planted, 64)),
                             extra_splits=np.zeros(planted), name="outliers")
    ranked = find_outliers(tv=tv, top=planted)
    assert np.isin(ranked["index"], np.arange(base.n, tv.n)).mean() >= 0.9
    assert len(ranked["neighbors"][0]) == 5


def test_duplicates_across_splits_are_found_and_counted():
    base = digits_pixels()
    rng = np.random.default_rng(1)
    originals = rng.choice(np.flatnonzero(base.splits == TRAIN), size=40, replace=False)
    copies = np.asarray(base.values)[originals].copy()
    copies[20:] += rng.normal(0, 0.002, size=copies[20:].shape)  # near, not exact
    _, tv = _with_planted(copies, extra_splits=np.full(40, TEST), name="dups",
                          extra_labels=base.labels[originals])
    dups = find_duplicates(tv=tv)
    planted = np.arange(base.n, tv.n)
    grouped = dups.set_index("index")["group"]
    found = [c in grouped.index and o in grouped.index and grouped[c] == grouped[o]
             for c, o in zip(planted, originals)]
    assert np.mean(found) >= 0.95
    probabilities = np.eye(10)[tv.labels]
    leak = split_leakage(tv=tv, duplicates=dups, probabilities=probabilities)
    assert np.isin(planted, leak.leaked_test).mean() >= 0.95
    assert leak.test_accuracy == 1.0


def test_quality_cli_json_and_csv(capsys, tmp_path):
    out = tmp_path / "flagged.csv"
    assert main(["quality", "--dataset", "digits", "--backbone", "pixels", "--json", "--top", "3",
                 "--csv", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["counts"]) >= {"label", "outlier", "duplicate", "leakage"}
    assert len(result["top"]["label"]) == 3 and "witness" in result["top"]["label"][0]
    assert len(result["balance"]) == 10 and {"train", "val", "test", "flagged_share"} <= set(
        result["balance"][0])
    assert result["leakage"]["n_test"] > 0
    frame = pd.read_csv(out)
    assert {"sample_id", "issue", "score", "suggested_class"} <= set(frame.columns)
    assert (frame["issue"] == "label").sum() == result["counts"]["label"]


def _digits_with_planted_copies(per_kind: int = 20, seed: int = 0):
    """300 digits upscaled to 28×28 (like a small Fashion-MNIST) with `per_kind` copies of
    train images of each kind added to test; raw pixels stand in for transfer values."""
    from benchmarks.workers.outliers_worker import upscaled_digits
    from benchmarks.planted_copies import KINDS, plant_copies
    from core.datasets.base import make_array_dataset, stratified_splits

    n = 300
    digits = digits_pixels()
    rng = np.random.default_rng(seed)
    images = upscaled_digits(count=n, shape=(28, 28, 1), seed=seed)
    labels = rng.integers(0, 10, n)  # labels do not matter to duplicates
    splits = stratified_splits(labels, val_fraction=0.1, test_fraction=0.2, seed=seed)
    originals = rng.choice(np.flatnonzero(splits == TRAIN), size=per_kind * len(KINDS),
                           replace=False)
    copies, kinds = plant_copies(images=images, originals=originals, seed=seed)
    all_images = np.concatenate([images, copies])
    all_labels = np.concatenate([labels, labels[originals]])
    all_splits = np.concatenate([splits, np.full(len(copies), TEST)]).astype(np.uint8)
    ids = np.array([f"d/{i}" for i in range(len(all_images))])
    dataset = make_array_dataset(name="digits-28-copies", images=all_images, labels=all_labels,
                                 class_names=digits.class_names, splits=all_splits,
                                 sample_ids=ids, source="test")
    tv = from_arrays(values=all_images.reshape(len(all_images), -1) / 255.0, labels=all_labels,
                     splits=all_splits, sample_ids=ids, class_names=digits.class_names,
                     name="digits-28-copies")
    return dataset, tv, originals, np.arange(n, len(all_images)), kinds


def test_resized_jpeg_and_shifted_copies_across_splits_are_found_on_the_pixels():
    from benchmarks.planted_copies import KINDS

    dataset, tv, originals, copies, kinds = _digits_with_planted_copies()
    dups = find_duplicates(tv=tv, dataset=dataset)
    group = pd.Series(-1, index=range(tv.n))
    group[dups["index"].to_numpy()] = dups["group"].to_numpy()
    copy_group, original_group = group[copies].to_numpy(), group[originals].to_numpy()
    together = (copy_group >= 0) & (copy_group == original_group)
    for kind in KINDS:
        assert together[kinds == kind].mean() >= 0.95, (kind, together[kinds == kind].mean())
    # the copies' groups are copy + original, not a flood of look-alikes
    copy_groups = dups[dups["index"].isin(copies)]
    assert (copy_groups["group_size"] == 2).mean() >= 0.9
    assert set(dups["match"]) <= {"pixels", "features", "both"}
    shifted = copies[np.isin(kinds, ["shifted", "shifted_both"])]
    assert (dups.loc[dups["index"].isin(shifted), "match"] != "features").all()
    leak = split_leakage(tv=tv, duplicates=dups, probabilities=np.eye(10)[tv.labels])
    assert np.isin(copies, leak.leaked_test).mean() >= 0.95
    # the transfer values (here: raw pixels) alone miss the shifted copies
    alone = find_duplicates(tv=tv)
    found = np.isin(shifted, alone["index"]).mean()
    assert found < 0.5, found


def test_duplicates_refuse_images_of_other_samples():
    from core.base.errors import DatasetError

    dataset, tv, *_ = _digits_with_planted_copies(per_kind=2)
    with pytest.raises(DatasetError, match="Fix: pass the dataset"):
        find_duplicates(tv=tv, dataset=dataset.subset(np.arange(10)))
