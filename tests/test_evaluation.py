"""Confusion matrix, failure ranking, suspected label errors and separability."""

import numpy as np
import pytest

from core.base.splits import TEST
from core.heads.evaluation import cell_indices, confusion_matrix, failure_ranking, top_confusions
from core.features.feature_sets import concatenate, from_arrays
from core.heads import train_head
from core.analysis.label_issues import find_label_issues
from core.analysis.separability import separability
from tests.support.data import with_flipped_labels


def test_confusion_matrix_cells_and_normalisation(tv):
    trained = train_head(tv=tv, head="logreg")
    test = tv.splits == TEST
    matrix = confusion_matrix(labels=tv.labels, predictions=trained.predictions, num_classes=10,
                              mask=test)
    assert matrix.sum() == test.sum() == trained.metrics["n_test"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(trained.metrics["test_accuracy"])
    normalised = confusion_matrix(labels=tv.labels, predictions=trained.predictions,
                                  num_classes=10, mask=test, normalize=True)
    np.testing.assert_allclose(normalised.sum(axis=1), 1.0)
    for t, p in [(8, 1), (3, 3), (9, 8)]:
        cell = cell_indices(labels=tv.labels, predictions=trained.predictions, true_class=t,
                            predicted_class=p, mask=test)
        assert len(cell) == matrix[t, p]
        assert np.all(tv.labels[cell] == t) and np.all(trained.predictions[cell] == p)
        assert np.all(tv.splits[cell] == 2)
    worst = top_confusions(matrix=matrix, class_names=tv.class_names, top=3)
    counts = [row["count"] for row in worst]
    assert counts == sorted(counts, reverse=True) and all(r["true"] != r["predicted"] for r in worst)


def test_confusion_matrix_empty_row_stays_zero():
    m = confusion_matrix(labels=np.array([0, 0, 2]), predictions=np.array([0, 2, 2]),
                         num_classes=3, normalize=True)
    np.testing.assert_array_equal(m[1], 0)
    np.testing.assert_allclose(m[0], [0.5, 0, 0.5])


def test_failure_ranking_worst_first():
    labels = np.array([0, 1, 2, 0, 1])
    probabilities = np.array([[0.9, 0.05, 0.05],   # right
                              [0.6, 0.3, 0.1],     # wrong, 0.6
                              [0.05, 0.9, 0.05],   # wrong, 0.9
                              [0.2, 0.7, 0.1],     # wrong, 0.7
                              [0.1, 0.8, 0.1]])    # right
    ranking = failure_ranking(labels=labels, probabilities=probabilities)
    assert list(ranking.columns) == ["index", "true", "predicted", "confidence", "true_prob"]
    assert list(ranking["index"]) == [2, 3, 1]
    assert list(ranking["predicted"]) == [1, 1, 0]
    assert ranking["true_prob"].tolist() == pytest.approx([0.05, 0.2, 0.3])
    masked = failure_ranking(labels=labels, probabilities=probabilities,
                             mask=np.array([1, 1, 0, 0, 1], bool))
    assert list(masked["index"]) == [1]


def test_failure_ranking_on_a_trained_head(tv):
    trained = train_head(tv=tv, head="logreg")
    ranking = failure_ranking(labels=tv.labels, probabilities=trained.probabilities,
                              mask=tv.splits == TEST)
    assert len(ranking) == round((1 - trained.metrics["test_accuracy"]) * trained.metrics["n_test"])
    assert ranking["confidence"].is_monotonic_decreasing
    assert np.all(ranking["true"] != ranking["predicted"])


@pytest.mark.parametrize("seed", [0, 1])
def test_flipped_labels_rank_at_the_top(tv, seed):
    noisy, flipped = with_flipped_labels(tv, fraction=0.01, seed=seed)
    trained = train_head(tv=noisy, head="logreg", cross_fit_folds=5)
    ranked = find_label_issues(tv=noisy, probabilities=trained.probabilities, include_all=True)
    assert len(ranked) == tv.n and ranked["score"].is_monotonic_decreasing
    top = set(ranked["index"][: int(np.ceil(0.02 * tv.n))])
    found = np.mean([i in top for i in flipped])
    assert found >= 0.6, f"only {found:.0%} of flipped labels in the top 2%"
    # the suggested label is mostly the original one
    suggested = ranked.set_index("index").loc[flipped, "suggested"].to_numpy()
    assert np.mean(suggested == tv.labels[flipped]) >= 0.6
    flagged = find_label_issues(tv=noisy, probabilities=trained.probabilities)
    assert flagged["flagged"].all() and len(flagged) <= 3 * len(flipped)
    assert np.isin(flagged["index"], flipped).mean() >= 0.6
    assert list(flagged.columns[:6]) == ["index", "sample_id", "given", "suggested", "score",
                                         "knn_agreement"]
    assert len(find_label_issues(tv=noisy, probabilities=trained.probabilities, top=5)) <= 5


def test_label_issues_checks_shapes(tv):
    with pytest.raises(ValueError, match="probabilities"):
        find_label_issues(tv=tv, probabilities=np.zeros((3, 10)))


def test_separability_orders_feature_spaces(tv):
    real = separability(tv=tv, max_samples=800)
    assert real["cache"] == "miss" and real["n"] == 800
    assert real["knn_accuracy"] > 0.9 and 0 < real["silhouette"] < 1
    again = separability(tv=tv, max_samples=800)
    assert again["cache"] == "hit" and again["knn_accuracy"] == real["knn_accuracy"]
    noise = from_arrays(values=np.random.default_rng(0).normal(size=(tv.n, 16)),
                        labels=tv.labels, class_names=tv.class_names, name="noise")
    random = separability(tv=noise, max_samples=800)
    assert random["knn_accuracy"] < 0.3 and random["silhouette"] < 0.05


def test_feature_sets_from_arrays_and_concatenate(tv):
    same = from_arrays(values=np.asarray(tv.values), labels=tv.labels, splits=tv.splits,
                       sample_ids=tv.sample_ids, class_names=tv.class_names, name="copy")
    again = from_arrays(values=np.asarray(tv.values), labels=tv.labels, splits=tv.splits,
                        sample_ids=tv.sample_ids, class_names=tv.class_names, name="copy")
    assert (same.cache, again.cache) == ("miss", "hit") and same.key == again.key
    both = concatenate(parts=[tv, same])
    assert both.dim == 2 * tv.dim and both.n == tv.n
    np.testing.assert_array_equal(np.asarray(both.values)[:, tv.dim:], np.asarray(tv.values))
    drawn = from_arrays(values=np.zeros((50, 2)), labels=np.arange(50) % 5)
    assert set(np.unique(drawn.splits)) == {0, 1, 2}
