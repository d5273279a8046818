"""Regression heads: ridge (closed form, penalty on validation) and the Keras MLP regressor;
metrics, cross-fitting, caching, save/load, history, export; classification unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from core.base.errors import CancelledError, TransferLensError
from core.base.splits import TRAIN
from core.datasets.targets import Target
from core.features.feature_sets import from_arrays
from core.heads import (HEADS, best_head, head_names, is_degenerate, list_heads, load_head,
                        train_head)

FAST_MLP = {"epochs": 30, "patience": 5, "learning_rate": 3e-3, "hidden": 64, "batch_size": 32}


def _synthetic(n: int = 1200, dim: int = 20, noise: float = 0.05, seed: int = 0,
               nonlinear: bool = False):
    """Features, a target that depends on them (linearly or not), 3 classes (the tercile of
    the third feature) as labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    w = rng.normal(size=dim)
    y = x @ w / np.sqrt(dim)
    if nonlinear:
        y = np.abs(x[:, 0]) + np.sin(2 * x[:, 1]) + 0.3 * y
    y = y + noise * rng.normal(size=n)
    labels = np.digitize(x[:, 2], [-0.43, 0.43])
    tv = from_arrays(values=x, labels=labels, class_names=("a", "b", "c"), name=f"syn{seed}"
                     f"{'n' if nonlinear else ''}{n}")
    return tv, Target(name="y", values=y, sample_ids=tv.sample_ids)


def test_regression_heads_are_registered_apart_from_classification():
    assert {"ridge", "mlp_regressor"} <= set(HEADS)
    assert "ridge" not in head_names() and "logreg" in head_names()  # default: classification
    assert head_names(task="regression") == ["ridge", "mlp_regressor"]


@pytest.mark.parametrize("scaling", ["none", "standardize"])
def test_ridge_matches_scikit_learn_for_a_fixed_penalty(scaling):
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    tv, target = _synthetic()
    trained = train_head(tv=tv, head="ridge", target=target,
                         params={"alpha": 3.0, "scaling": scaling})
    train = np.flatnonzero(tv.splits == TRAIN)
    x = np.asarray(tv.values, np.float64)
    x_fit = x[train]
    if scaling == "standardize":
        scaler = StandardScaler().fit(x_fit)
        x, x_fit = scaler.transform(x), scaler.transform(x_fit)
    reference = Ridge(alpha=3.0).fit(x_fit, target.values[train])
    np.testing.assert_allclose(trained.predictions, reference.predict(x), atol=1e-4)


def test_ridge_chooses_the_penalty_on_validation_and_reports_the_metrics():
    tv, target = _synthetic(noise=0.3)
    trained = train_head(tv=tv, head="ridge", target=target)
    m = trained.metrics
    tried = m["details"]["tried"]
    assert len(tried) > 10
    best = min(tried, key=lambda t: t["val_rmse"])
    assert m["details"]["alpha"] == best["alpha"]
    assert abs(m["val_rmse"] - best["val_rmse"]) < 1e-5
    assert 0.8 < m["r2"] < 1.0 and m["r2"] == m["test_r2"]
    assert m["mae"] < m["baseline_mae"] and m["rmse"] < m["baseline_rmse"]
    assert m["n_train"] + m["n_val"] + m["n_test"] == tv.n
    assert [row["class"] for row in m["per_class"]] == ["a", "b", "c"]
    assert sum(row["n"] for row in m["per_class"]) == m["n_test"]
    assert trained.task == "regression" and trained.target == "y"
    assert trained.predictions.shape == (tv.n,) and trained.probabilities.shape == (tv.n, 0)
    assert is_degenerate(trained) is None


def test_a_head_on_an_unpredictable_target_is_degenerate():
    tv, _ = _synthetic()
    noise = Target(name="noise", values=np.random.default_rng(5).normal(size=tv.n),
                   sample_ids=tv.sample_ids)
    trained = train_head(tv=tv, head="ridge", target=noise, params={"alpha": 1e-6})
    assert "no better than always predicting the training mean" in is_degenerate(trained)


def test_mlp_regressor_fits_a_nonlinear_target_better_than_ridge():
    tv, target = _synthetic(n=2000, dim=8, nonlinear=True)
    ridge = train_head(tv=tv, head="ridge", target=target)
    epochs = []
    mlp = train_head(tv=tv, head="mlp_regressor", target=target, params=FAST_MLP,
                     on_epoch=epochs.append)
    assert mlp.metrics["r2"] > ridge.metrics["r2"] + 0.2 and mlp.metrics["r2"] > 0.8
    assert len(epochs) == len(mlp.history) >= 3
    assert epochs[0].accuracy is None and epochs[0].mae > 0 and epochs[0].val_mae > 0
    assert mlp.history[-1].val_mae < mlp.history[0].val_mae


def test_mlp_regressor_huber_and_cancel():
    tv, target = _synthetic(n=600)
    trained = train_head(tv=tv, head="mlp_regressor", target=target,
                         params={**FAST_MLP, "loss": "huber", "epochs": 5}, use_cache=False)
    assert trained.params["loss"] == "huber" and np.isfinite(trained.predictions).all()

    def stop(progress):
        raise CancelledError("stop")

    with pytest.raises(CancelledError):
        train_head(tv=tv, head="mlp_regressor", target=target, params=FAST_MLP, progress=stop,
                   use_cache=False)


@pytest.mark.parametrize("head, params, message", [
    ("ridge", {"alpha": -1}, "alpha must be a number above 0"),
    ("ridge", {"scaling": "minmax"}, "scaling must be one of"),
    ("mlp_regressor", {"loss": "mae"}, "loss must be one of 'mse', 'huber'"),
    ("mlp_regressor", {"huber_delta": 0}, "huber_delta must be a number above 0"),
])
def test_parameters_are_checked_against_their_bounds(head, params, message):
    tv, target = _synthetic(n=200)
    with pytest.raises(ValueError, match=message):
        train_head(tv=tv, head=head, target=target, params=params)


def test_the_task_and_the_target_must_match():
    tv, target = _synthetic(n=200)
    with pytest.raises(ValueError, match="predicts a number: choose a numeric target"):
        train_head(tv=tv, head="ridge")
    with pytest.raises(ValueError, match="predicts classes, not the target 'y'"):
        train_head(tv=tv, head="logreg", target=target)
    shuffled = Target(name="y", values=target.values, sample_ids=target.sample_ids[::-1])
    with pytest.raises(ValueError, match="not the 200 samples of these transfer values"):
        train_head(tv=tv, head="ridge", target=shuffled)
    one_class = from_arrays(values=np.asarray(tv.values), labels=np.zeros(tv.n, int),
                            class_names=(), name="no-classes")
    with pytest.raises(TransferLensError, match="needs at least two classes"):
        train_head(tv=one_class, head="logreg")
    no_classes = Target(name="y", values=target.values, sample_ids=one_class.sample_ids)
    assert train_head(tv=one_class, head="ridge", target=no_classes).metrics["per_class"] == []


def test_cross_fit_gives_out_of_fold_predictions_and_caching_keys_on_the_target():
    tv, target = _synthetic(noise=0.3)
    plain = train_head(tv=tv, head="ridge", target=target)
    crossed = train_head(tv=tv, head="ridge", target=target, cross_fit_folds=4)
    train = tv.splits == TRAIN
    np.testing.assert_array_equal(crossed.predictions[~train], plain.predictions[~train])
    assert not np.allclose(crossed.predictions[train], plain.predictions[train])
    m = crossed.metrics
    assert m["train_r2_out_of_fold"] < m["train_r2"]
    assert train_head(tv=tv, head="ridge", target=target).cache == "hit"
    changed = Target(name="y", values=target.values * 2, sample_ids=target.sample_ids)
    assert train_head(tv=tv, head="ridge", target=changed).cache == "miss"


def test_classification_cache_keys_are_unchanged():
    from core.base.hashing import hash_key
    from core.heads.training import HEADS_VERSION

    tv, _ = _synthetic(n=300)
    trained = train_head(tv=tv, head="logreg")
    fields = {"tv": tv.key, "head": "logreg", "params": trained.params, "seed": 0,
              "cross_fit_folds": 0, "augmented": [], "version": HEADS_VERSION}
    assert trained.key == hash_key(fields)  # heads cached before regression are found again


@pytest.mark.parametrize("head, params", [("ridge", None), ("mlp_regressor", {"epochs": 3})])
def test_save_load_round_trip_and_history(tmp_path, head, params):
    tv, target = _synthetic(n=600)
    trained = train_head(tv=tv, head=head, target=target, params=params)
    loaded = load_head(trained.save(tmp_path / "saved"))
    assert (loaded.task, loaded.target, loaded.target_key) == ("regression", "y", target.key)
    np.testing.assert_array_equal(loaded.predictions, trained.predictions)
    X = np.asarray(tv.values[:32])
    np.testing.assert_allclose(loaded.predict(X), trained.predict(X), rtol=1e-6)
    assert loaded.history == trained.history
    classifier = train_head(tv=tv, head="logreg")
    assert [s.key for s in list_heads(tv_key=tv.key)] == [classifier.key]
    listed = list_heads(tv_key=tv.key, task="regression")
    assert [s.key for s in listed] == [trained.key] and listed[0].val_r2 is not None
    assert best_head(tv_key=tv.key).key == classifier.key
    assert best_head(tv_key=tv.key, target=target).key == trained.key
    other = Target(name="y", values=target.values + 1, sample_ids=target.sample_ids)
    assert best_head(tv_key=tv.key, target=other) is None


def test_regression_export_outputs_the_number(tiny_backbone, tmp_path):
    import keras

    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values
    from core.serving.export import export_end_to_end_model

    data = load_dataset(name="digits").limited(limit=300)
    tv = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=16)
    target = Target(name="digit", values=data.labels.astype(float), sample_ids=data.sample_ids)
    for head, params in (("ridge", None), ("mlp_regressor", {"epochs": 2})):
        trained = train_head(tv=tv, head=head, target=target, params=params)
        path = export_end_to_end_model(head=trained, backbone=tiny_backbone, image_size=16,
                                       path=tmp_path / f"{head}.keras")
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
        images = data.images.batch(np.arange(8))
        out = model.predict(images, verbose=0)
        assert out.shape == (8, 1)
        np.testing.assert_allclose(out[:, 0], trained.predictions[:8], atol=1e-4)
