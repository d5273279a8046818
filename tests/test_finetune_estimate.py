"""core.finetune.estimate: fine-tuning time from real steps timed here, scaled by the schedule."""

from __future__ import annotations

import math

import pytest

from core.finetune import estimate as estimate_module
from core.finetune.config import FineTuneConfig
from core.finetune.estimate import _scale, estimate_fine_tune


@pytest.fixture
def digits():
    from core.datasets.builtin import load_digits

    return load_digits()


def test_scaling_follows_the_schedule_and_the_pixels(digits):
    """Steps at 48 and 88 px measured as 1 s and 3 s: a + b·size² through both, every
    epoch's steps at its own size, validation and extraction from the forward pass."""
    config = FineTuneConfig(epochs=3, image_size=88, start_size=48, batch_size=100)
    timings = {"step_seconds": {"48": 1.0, "88": 3.0}, "forward_seconds_per_image": 0.01}
    sizes = config.epoch_sizes()
    assert sizes[0] == 48 and sizes[-1] == 88 and len(set(sizes)) == 3
    b = 2.0 / (88 ** 2 - 48 ** 2)
    a = 1.0 - b * 48 ** 2
    step = {size: a + b * size ** 2 for size in sizes}
    n_train, n_val = len(digits.split_indices("train")), len(digits.split_indices("val"))
    per_epoch = math.ceil(n_train / 100)

    found = _scale(timings, dataset=digits, config=config, values_cached=False)
    assert found.steps_per_epoch == per_epoch and found.epochs == 3
    assert found.train_seconds == pytest.approx(sum(per_epoch * step[s] for s in sizes))
    assert found.validation_seconds == pytest.approx(
        sum(n_val * 0.01 * step[s] / 3.0 for s in sizes))
    assert found.extraction_seconds == pytest.approx(2 * len(digits) * 0.01)
    cached = _scale(timings, dataset=digits, config=config, values_cached=True)
    assert cached.extraction_seconds == pytest.approx(len(digits) * 0.01)
    assert found.total_seconds == pytest.approx(
        found.train_seconds + found.validation_seconds + found.extraction_seconds)
    assert "3 epochs" in found.describe() and "at 88 px" in found.describe()


def test_measures_real_steps_once_then_reads_the_cache(digits, tiny_backbone, monkeypatch):
    config = FineTuneConfig(epochs=2, image_size=32, start_size=0, batch_size=32,
                            unfreeze="all", head_epochs=1)
    assert estimate_fine_tune(dataset=digits, backbone=tiny_backbone, config=config,
                              measure=False) is None
    seen = []
    first = estimate_fine_tune(dataset=digits, backbone=tiny_backbone, config=config,
                               progress=seen.append)
    assert set(first.step_seconds) == {32} and first.step_seconds[32] > 0
    assert first.forward_seconds_per_image > 0 and first.total_seconds > 0
    assert seen and seen[-1].done == seen[-1].total  # progress while measuring

    def no_measuring(**kwargs):
        raise AssertionError("measured again although the timings are cached")

    monkeypatch.setattr(estimate_module, "_measure", no_measuring)
    again = estimate_fine_tune(dataset=digits, backbone=tiny_backbone, config=config)
    assert again == first
    # another schedule on the same set-up reuses the timings: only the scaling changes
    longer = estimate_fine_tune(dataset=digits, backbone=tiny_backbone,
                                config=FineTuneConfig(**{**config.__dict__, "epochs": 4}))
    assert longer.train_seconds == pytest.approx(2 * first.train_seconds)


def test_invalid_settings_are_refused_before_measuring(digits, tiny_backbone):
    from core.base.params import ParameterError

    with pytest.raises(ParameterError, match="batch_size"):
        estimate_fine_tune(dataset=digits, backbone=tiny_backbone,
                           config=FineTuneConfig(batch_size=0))
