"""Neighbour preservation of a map: kNN recall of the map against its input."""

import numpy as np
import pytest

from core.analysis.projection_quality import knn_recall


def test_recall_is_one_for_an_isometry_and_near_chance_for_noise():
    rng = np.random.default_rng(0)
    high = rng.normal(size=(600, 2))
    rotated = high @ np.array([[0.0, -1.0], [1.0, 0.0]]) * 3 + 7
    assert knn_recall(high=high, low=rotated) == pytest.approx(1.0)
    noise = rng.normal(size=(600, 2))
    assert knn_recall(high=high, low=noise) < 0.1  # chance: 10 of 599


def test_recall_on_a_seeded_subsample_and_bad_input():
    rng = np.random.default_rng(1)
    high = rng.normal(size=(900, 5))
    first = knn_recall(high=high, low=high[:, :2], sample=300, seed=3)
    assert first == knn_recall(high=high, low=high[:, :2], sample=300, seed=3)
    assert 0 < first < 1
    with pytest.raises(ValueError, match="rows"):
        knn_recall(high=high, low=high[:10, :2])
