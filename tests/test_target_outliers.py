"""Target outliers: values that both an out-of-sample head and the neighbours contradict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analysis.target_outliers import find_target_outliers, robust_z, target_outliers
from core.datasets.builtin import find_fashion_mnist
from core.datasets.targets import Target
from core.features.feature_sets import from_arrays


def _grid(n_side: int = 30):
    """Points on a 2-D grid whose target is a smooth function of the position."""
    xs, ys = np.meshgrid(np.arange(n_side), np.arange(n_side))
    values = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    tv = from_arrays(values=values, labels=(xs.ravel() > n_side // 2).astype(int),
                     class_names=("left", "right"), name="grid")
    y = 0.1 * values[:, 0] + 0.05 * values[:, 1]
    return tv, y


def test_robust_z_is_in_units_of_the_typical_residual():
    z = robust_z(np.array([1.0, -1.0, 1.0, -1.0, 10.0]))
    np.testing.assert_allclose(z[:4], 1 / 1.4826)
    assert z[4] == pytest.approx(10 / 1.4826)


def test_only_values_both_witnesses_contradict_rank_first():
    tv, y = _grid()
    rng = np.random.default_rng(0)
    given = y + rng.normal(0, 0.05, len(y))
    wrong, model_only = 100, 200
    given[wrong] += 3.0  # a wrong value: model and neighbours both disagree
    predictions = y.copy()
    predictions[model_only] += 3.0  # a bad prediction alone: the neighbours back the value
    target = Target(name="t", values=given, sample_ids=tv.sample_ids)
    ranked = find_target_outliers(tv=tv, target=target, predictions=predictions,
                                  n_neighbors=8, include_all=True)
    assert ranked.iloc[0]["index"] == wrong and ranked.iloc[0]["flagged"]
    row = ranked.set_index("index").loc[model_only]
    assert row["z_model"] > 10 and not row["flagged"]
    flagged = find_target_outliers(tv=tv, target=target, predictions=predictions, n_neighbors=8)
    # the wrong value first; a few 3-sigma noise draws may follow, the bad prediction never
    assert flagged.iloc[0]["index"] == wrong and model_only not in set(flagged["index"])
    assert len(flagged) < 10
    assert set(flagged.columns) >= {"sample_id", "given", "predicted", "neighbours", "suggested",
                                    "score", "class"}
    assert flagged.iloc[0]["suggested"] == pytest.approx(y[wrong], abs=0.3)


@pytest.mark.slow  # EfficientNet-Lite0 on 3,000 images
@pytest.mark.skipif(find_fashion_mnist() is None, reason="needs the Fashion-MNIST IDX files")
def test_planted_wrong_scales_rank_in_the_top_4_percent():
    """The issue's test: 2 % of fashion_mnist_scale's targets replaced by 1.35 − v (a gross
    error, except near 0.675 where it barely moves); ≥ 60 % of them in the top 4 %."""
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    dataset = load_dataset(name="fashion_mnist_scale").limited(limit=3000, seed=0)
    tv = compute_transfer_values(dataset=dataset, backbone="efficientnet_lite0", image_size=96)
    clean = dataset.target("scale")
    planted = np.random.default_rng(1).choice(tv.n, size=60, replace=False)
    values = clean.values.copy()
    values[planted] = 1.35 - values[planted]
    target = Target(name="scale-planted", values=values, sample_ids=clean.sample_ids)
    ranked = target_outliers(tv=tv, target=target, include_all=True)
    top = ranked["index"].to_numpy()[:120]
    found = np.isin(planted, top).sum()
    assert found >= 36, f"{found} of 60 planted values in the top 120"
    assert isinstance(ranked, pd.DataFrame) and len(ranked) == tv.n
