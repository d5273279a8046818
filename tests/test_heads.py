"""Heads: train on train, tune on val, report on test; cross-fitting; save/load; export."""

from dataclasses import dataclass

import numpy as np
import pytest

from core.base.params import Params, param

from core.base.errors import CancelledError
from core.base.splits import TEST, TRAIN, VAL
from core.features.feature_sets import from_arrays
from core.heads import (HEADS, HeadModel, default_head_params, describe_head, load_head,
                        register_head, train_head)
from core.heads.base import softmax
from tests.support.data import digits_pixels

FAST_KERAS = {"epochs": 6, "learning_rate": 1e-2}  # enough to learn digits in seconds


def test_registry_lists_the_heads():
    assert {"logreg", "softmax", "mlp"} <= set(HEADS)
    assert list(HEADS)[0] == "logreg"  # the default comes first
    # each head describes itself, and the numbers its description quotes are its defaults
    assert describe_head("logreg").startswith("Logistic regression (scikit-learn, L-BFGS)")
    for name in ("softmax", "mlp"):
        defaults = default_head_params(name)
        assert f"batch {defaults['batch_size']}" in describe_head(name)
    mlp = default_head_params("mlp")
    assert f"Dense({mlp['hidden']}, relu)" in describe_head("mlp")
    assert f"dropout {mlp['dropout']} after the hidden layer" in describe_head("mlp")
    assert describe_head("softmax").startswith("One softmax layer")
    assert default_head_params("mlp")["hidden"] == 1024
    assert default_head_params("mlp")["batch_size"] == 64
    with pytest.raises(ValueError, match="unknown head"):
        describe_head("nope")


def test_logreg_beats_chance_with_full_report(tv):
    trained = train_head(tv=tv, head="logreg")
    m = trained.metrics
    assert m["chance_accuracy"] < 0.15 and "majority class" in m["chance_rule"]
    assert m["test_accuracy"] > 0.9 and m["val_accuracy"] > 0.9
    assert (m["n_train"], m["n_val"], m["n_test"]) == (int((tv.splits == TRAIN).sum()),
                                                      int((tv.splits == VAL).sum()),
                                                      int((tv.splits == TEST).sum()))
    assert m["train_seconds"] > 0 and len(m["per_class"]) == 10
    assert {"class", "precision", "recall", "f1", "support"} <= set(m["per_class"][0])
    assert sum(row["support"] for row in m["per_class"]) == m["n_test"]
    assert trained.probabilities.shape == (tv.n, 10)
    np.testing.assert_allclose(trained.probabilities.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(trained.predictions, trained.probabilities.argmax(axis=1))
    assert trained.classes == tv.class_names


def test_logreg_auto_C_tunes_on_validation(tv):
    trained = train_head(tv=tv, head="logreg", params={"C": "auto"})
    tried = trained.metrics["details"]["tried"]
    assert [t["C"] for t in tried] == [0.001, 0.01, 0.1][:len(tried)] and len(tried) >= 2
    best = max(tried, key=lambda t: t["val_accuracy"])
    assert trained.metrics["details"]["C"] == best["C"]
    assert trained.metrics["val_accuracy"] == best["val_accuracy"]


def test_logreg_reports_each_solver_iteration_and_stops_mid_solve(tv):
    """Not only "fitting…": one report per L-BFGS iteration, and Cancel stops the solver."""
    progress = []
    trained = train_head(tv=tv, head="logreg", progress=progress.append, use_cache=False)
    steps = [p for p in progress if p.stage == "train logreg, L-BFGS iteration"]
    assert [p.done for p in steps] == list(range(1, len(steps) + 1)) and len(steps) >= 5
    assert steps[0].total == trained.params["max_iter"]

    def cancel_at_iteration_3(p):
        if p.stage.endswith("iteration") and p.done == 3:
            raise CancelledError("stop")
        seen.append(p)

    seen = []
    with pytest.raises(CancelledError):
        train_head(tv=tv, head="logreg", progress=cancel_at_iteration_3, use_cache=False)
    assert seen[-1].done == 2


@pytest.mark.parametrize("head", ["softmax", "mlp"])
def test_keras_head_beats_chance_and_logs_epochs(tv, head):
    epochs = []
    progress = []
    trained = train_head(tv=tv, head=head, params=FAST_KERAS, on_epoch=epochs.append,
                         progress=progress.append)
    assert trained.metrics["test_accuracy"] > 0.85
    assert len(epochs) == len(trained.history) >= 1
    first = epochs[0]
    assert first.epoch == 1 and first.val_accuracy is not None and first.seconds > 0
    assert progress[-1].stage == f"train {head}"


@pytest.mark.parametrize("head", ["logreg", "mlp"])
def test_a_progress_callback_stops_training(tv, head):
    def stop(progress):
        raise CancelledError("stop")

    with pytest.raises(CancelledError):
        train_head(tv=tv, head=head, params=FAST_KERAS if head == "mlp" else None,
                   progress=stop, use_cache=False)


def test_cross_fit_gives_out_of_fold_probabilities(tv):
    plain = train_head(tv=tv, head="logreg")
    stages = []
    crossed = train_head(tv=tv, head="logreg", cross_fit_folds=4,
                         progress=lambda p: stages.append(p.stage))
    train = tv.splits == TRAIN
    # val/test come from the same final model either way
    np.testing.assert_array_equal(crossed.probabilities[~train], plain.probabilities[~train])
    # train rows now come from models that did not see them: less optimistic
    assert not np.allclose(crossed.probabilities[train], plain.probabilities[train])
    m = crossed.metrics
    assert m["train_accuracy_out_of_fold"] < m["train_accuracy"]
    assert m["train_accuracy_out_of_fold"] > 0.9
    assert {s.split(":")[0] for s in stages if s.startswith("cross-fit")} == {
        f"cross-fit {i}/4" for i in range(1, 5)}


def test_out_of_fold_probabilities_do_not_memorise_flipped_labels(isolated_cache):
    # weakly regularised (C=100), logistic regression on 64 pixels fits most flipped training
    # labels in-sample; out-of-fold probabilities must not be fooled by them
    base = digits_pixels()
    labels = np.asarray(base.labels).copy()
    train = np.flatnonzero(base.splits == TRAIN)
    flipped = train[:15]
    labels[flipped] = (labels[flipped] + 1) % 10
    noisy = from_arrays(values=np.asarray(base.values), labels=labels, splits=base.splits,
                        class_names=base.class_names, name="noisy")
    in_sample = train_head(tv=noisy, head="logreg", params={"C": 100.0})
    out_of_fold = train_head(tv=noisy, head="logreg", params={"C": 100.0}, cross_fit_folds=5)
    p_in = in_sample.probabilities[flipped, labels[flipped]].mean()
    p_oof = out_of_fold.probabilities[flipped, labels[flipped]].mean()
    assert p_oof < 0.2 < p_in


@pytest.mark.parametrize("head,params", [("logreg", None), ("mlp", {"epochs": 2})])
def test_save_load_round_trip(tv, tmp_path, head, params):
    trained = train_head(tv=tv, head=head, params=params, use_cache=False)
    folder = trained.save(tmp_path / "my_head")
    names = {p.name for p in folder.iterdir()}
    assert names == {"manifest.json", "outputs.npz",
                     "weights.npz" if head == "logreg" else "model.keras"}
    loaded = load_head(folder)
    X = np.asarray(tv.values[:64])
    np.testing.assert_array_equal(loaded.predict_proba(X), trained.predict_proba(X))
    np.testing.assert_array_equal(loaded.probabilities, trained.probabilities)
    assert loaded.metrics["test_accuracy"] == trained.metrics["test_accuracy"]
    assert loaded.history == trained.history and loaded.params == trained.params
    # saving over an existing folder replaces it
    trained.save(folder)
    assert load_head(folder).head == head


def test_training_is_cached(tv):
    first = train_head(tv=tv, head="logreg", cross_fit_folds=3)
    second = train_head(tv=tv, head="logreg", cross_fit_folds=3)
    assert (first.cache, second.cache) == ("miss", "hit")
    np.testing.assert_array_equal(first.probabilities, second.probabilities)
    assert train_head(tv=tv, head="logreg", params={"C": 0.5}).cache == "miss"


def test_augmented_views_add_training_rows(tv):
    rng = np.random.default_rng(0)
    jittered = from_arrays(values=np.asarray(tv.values) + rng.normal(0, 0.01, (tv.n, tv.dim)),
                           labels=tv.labels, splits=tv.splits, sample_ids=tv.sample_ids,
                           class_names=tv.class_names, name="jittered")
    trained = train_head(tv=tv, head="logreg", augmented=[jittered])
    assert trained.metrics["n_augmented_views"] == 1 and trained.metrics["test_accuracy"] > 0.9
    other = from_arrays(values=np.asarray(tv.values)[:100], labels=tv.labels[:100])
    with pytest.raises(ValueError, match="same samples"):
        train_head(tv=tv, head="logreg", augmented=[other])


def test_a_new_head_registers_and_trains(tv):
    @dataclass(frozen=True)
    class CentroidConfig(Params):
        temperature: float = param(1.0, min=0, min_exclusive=True, help="softmax temperature")

    @register_head
    class NearestCentroid(HeadModel):
        name = "test_centroid"
        description = "test-only nearest centroid"
        config = CentroidConfig

        def fit(self, data, *, progress=None, on_epoch=None):
            self.centroids_ = np.stack([data.x_train[data.y_train == c].mean(axis=0)
                                        for c in range(data.num_classes)])
            return self

        def predict_proba(self, X):
            d = ((np.asarray(X)[:, None, :] - self.centroids_[None]) ** 2).sum(-1)
            return softmax(-d / self.params["temperature"]).astype(np.float32)

    try:
        trained = train_head(tv=tv, head="test_centroid", use_cache=False)
        assert trained.metrics["test_accuracy"] > 0.8
    finally:
        HEADS.pop("test_centroid", None)


def test_end_to_end_export_and_predict_images(tiny_backbone, tmp_path):
    import keras

    from core.datasets import load_dataset
    from core.serving.export import export_end_to_end_model
    from core.serving.predict import predict_images
    from core.features.transfer_values import compute_transfer_values

    data = load_dataset(name="digits").limited(limit=300)
    tv = compute_transfer_values(dataset=data, backbone=tiny_backbone)
    trained = train_head(tv=tv, head="logreg")
    path = export_end_to_end_model(head=trained, backbone=tiny_backbone, image_size=16,
                                   path=tmp_path / "model.keras")
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    images = data.images.batch(np.arange(8))  # raw uint8 8×8×1, resized inside the model
    np.testing.assert_allclose(model.predict(images, verbose=0),
                               trained.predict_proba(np.asarray(tv.values[:8])), atol=1e-5)

    results = predict_images(images=[images[0][..., 0], images[1]], head=trained,
                             backbone=tiny_backbone, image_size=16, tv=tv, top_k=3, n_neighbors=4)
    assert len(results) == 2
    probs = [row["probability"] for row in results[0]["top_k"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)
    assert len(results[0]["neighbors"]) == 4
    assert all(tv.splits[n["index"]] == 0 for n in results[0]["neighbors"])


def test_finetune_head_reads_a_finished_run_only(tv):
    from core.base.errors import TransferLensError

    assert "finetune" in HEADS and "Fine-tune the backbone" in describe_head("finetune")
    with pytest.raises(TransferLensError, match="reads a finished fine-tuning run"):
        train_head(tv=tv, head="finetune", use_cache=False)
    with pytest.raises(ValueError, match="once per fold"):
        train_head(tv=tv, head="finetune", cross_fit_folds=3)
