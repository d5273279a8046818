"""Fine-tuning's moving average of the weights: what validation scores, what the run keeps."""

import json
import math

import numpy as np
import pytest

from core.finetune.config import FineTuneConfig, FineTuneEpoch


def _epoch(val: float, ema: float) -> FineTuneEpoch:
    return FineTuneEpoch(epoch=1, loss=0.5, accuracy=0.8, val_loss=0.4, val_accuracy=val,
                         seconds=1.0, images_per_second=10.0, learning_rate=1e-4,
                         ema_val_accuracy=ema)


def test_the_run_keeps_whichever_weights_validate_better():
    from core.finetune.trainer import _choose_weights

    assert _choose_weights([_epoch(0.90, 0.91)], ema=0.999) == "ema"
    assert _choose_weights([_epoch(0.91, 0.90)], ema=0.999) == "raw"
    assert _choose_weights([_epoch(0.90, 0.90)], ema=0.999) == "ema"  # a tie: the average
    assert _choose_weights([_epoch(0.95, math.nan)], ema=0.0) == "raw"  # off
    # no validation split: nothing tells them apart, so the average the user asked for
    assert _choose_weights([_epoch(math.nan, math.nan)], ema=0.99) == "ema"
    # only the last epoch counts
    assert _choose_weights([_epoch(0.99, 0.5), _epoch(0.90, 0.92)], ema=0.99) == "ema"


def test_averaged_weights_hold_the_moving_average_and_give_the_raw_weights_back():
    from core.base.tf_env import import_tensorflow

    import_tensorflow()
    import keras

    from core.finetune.trainer import _averaged_weights

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    momentum = 0.8
    optimizer = keras.optimizers.AdamW(learning_rate=0.1, use_ema=True, ema_momentum=momentum)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    expected = None
    for _ in range(5):
        grads = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        now = [v.numpy().copy() for v in model.trainable_variables]
        # the first step copies the weights; later steps move the average towards them
        expected = now if expected is None else [momentum * e + (1 - momentum) * n
                                                 for e, n in zip(expected, now)]
    raw = [v.numpy().copy() for v in model.trainable_variables]
    with _averaged_weights(model, optimizer):
        for variable, average in zip(model.trainable_variables, expected):
            np.testing.assert_allclose(variable.numpy(), average, rtol=1e-5, atol=1e-6)
        assert not np.allclose(model.trainable_variables[0].numpy(), raw[0])
    for variable, value in zip(model.trainable_variables, raw):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_ema_must_be_below_one():
    from core.base.errors import TransferLensError

    with pytest.raises(TransferLensError, match="ema"):
        FineTuneConfig(ema=1.0).validate()


@pytest.mark.slow
def test_a_run_with_the_average_scores_it_every_epoch_and_records_its_choice(tmp_path):
    from core.datasets import load_dataset
    from core.finetune import fine_tune

    data = load_dataset(name="digits").limited(limit=240)
    config = FineTuneConfig(epochs=2, image_size=32, batch_size=32, head_epochs=2, ema=0.9,
                            unfreeze="top-2")
    result = fine_tune(dataset=data, config=config, cache_dir=tmp_path)
    assert all(0 <= h.ema_val_accuracy <= 1 for h in result.history)
    last = result.history[-1]
    assert result.weights == ("ema" if last.ema_val_accuracy >= last.val_accuracy else "raw")
    saved = json.loads((result.run_dir / "result.json").read_text())
    assert saved["weights"] == result.weights
    assert fine_tune(dataset=data, config=config, cache_dir=tmp_path).weights == result.weights
