"""Public-mode caps on heavy work, enforced by core (issue 27): extraction of at most the
bundle's 10,000 images at most 224 px, built-in datasets up to 100,000 images, and a head's
training bounded by its estimated cost (core.heads.cost)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.base import public as public_module
from core.base.public import PublicModeError, policy


@pytest.fixture
def public(monkeypatch):
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC_FINETUNE", raising=False)


def small_limits(monkeypatch, **limits):
    rules = dataclasses.replace(policy(), **limits)
    monkeypatch.setattr(public_module, "policy", lambda: rules)


def test_the_stated_caps():
    rules = policy()
    assert (rules.max_extract_images, rules.max_image_size, rules.max_dataset_images,
            rules.max_head_seconds) == (10_000, 224, 100_000, 3_600)


def test_a_dataset_above_the_cap_is_refused_before_loading(public, monkeypatch):
    from core.datasets import registry

    def load():
        raise AssertionError("loaded in a public app")

    info = registry.DATASETS["fashion_mnist_1m"]
    monkeypatch.setitem(registry.DATASETS, "fashion_mnist_1m", dataclasses.replace(info, loader=load))
    with pytest.raises(PublicModeError, match=r"The dataset fashion_mnist_1m is not available in "
                                              r"this public Transfer Lens: it has 1,000,000 "
                                              r"images, over the limit of 100,000"):
        registry.load_dataset(name="fashion_mnist_1m")
    assert registry.load_dataset(name="digits").name == "digits"


def test_locally_the_big_dataset_is_not_refused(monkeypatch):
    from core.datasets import registry

    monkeypatch.delenv("TRANSFER_LENS_PUBLIC", raising=False)
    info = registry.DATASETS["fashion_mnist_1m"]
    monkeypatch.setitem(registry.DATASETS, "fashion_mnist_1m",
                        dataclasses.replace(info, loader=lambda: "loaded"))
    assert registry.load_dataset(name="fashion_mnist_1m") == "loaded"


def _digits(n: int):
    from core.datasets.builtin import load_digits

    return load_digits().limited(limit=n)


def test_extraction_over_the_caps_is_refused_before_work(public, monkeypatch, tiny_backbone):
    from core.features import transfer_values
    from core.features.transfer_values import compute_transfer_values

    def never(**kwargs):
        raise AssertionError("extraction started")

    small_limits(monkeypatch, max_extract_images=100, max_image_size=32)
    monkeypatch.setattr(transfer_values, "heavy_job", never)  # the refusal comes first
    with pytest.raises(PublicModeError, match=r"Extracting 101 images at 32 px is not available"
                                              r".*101 images, over the limit of 100 \(the "
                                              r"published bundle's size\).*Fix: choose a subset "
                                              r"of at most 100 images"):
        compute_transfer_values(dataset=_digits(101), backbone=tiny_backbone, image_size=32)
    with pytest.raises(PublicModeError, match=r"48 px input, over the limit of 32 px"):
        compute_transfer_values(dataset=_digits(50), backbone=tiny_backbone, image_size=48)


def test_cached_values_above_the_caps_still_open(monkeypatch, tiny_backbone):
    from core.features.transfer_values import compute_transfer_values

    monkeypatch.delenv("TRANSFER_LENS_PUBLIC", raising=False)
    made = compute_transfer_values(dataset=_digits(120), backbone=tiny_backbone, image_size=32)
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    small_limits(monkeypatch, max_extract_images=100)
    opened = compute_transfer_values(dataset=_digits(120), backbone=tiny_backbone, image_size=32)
    assert opened.cache == "hit" and opened.key == made.key  # the operator's cache opens
    within = compute_transfer_values(dataset=_digits(60), backbone=tiny_backbone, image_size=32)
    assert within.n == 60 and within.cache == "miss"


# --- heads ---

ABUSE = {"hidden": 100_000, "epochs": 1_000, "batch_size": 1}


def test_the_issues_mlp_is_refused_with_its_estimate_and_the_limit(public):
    from core.heads.cost import check_public_head_cost
    from core.heads.registry import get_head_class

    params = get_head_class("mlp").resolve_params(ABUSE)
    with pytest.raises(PublicModeError) as caught:
        check_public_head_cost(head="mlp", params=params, n_rows=7_837, dim=1_280, classes=10,
                               folds=10)
    message = str(caught.value)
    assert message.startswith("Training the mlp head (epochs 1000, batch_size 1, ")
    assert "hidden 100000" in message and "with 10 cross-fit folds on 7,837 rows × 1,280" in message
    assert "it would take about 550h46m (an upper bound: 1.1e+16 multiply-adds and " \
           "86,207,000 gradient steps" in message
    assert "over the limit of 1h00m" in message


def test_default_heads_fit_the_budget_with_cross_fitting(public):
    """What a visitor trains on the bundle (7,837 training rows of 1,280 values): every
    head's defaults, with 5 cross-fit folds, stay under the hour."""
    from core.heads.cost import check_public_head_cost
    from core.heads.registry import HEADS

    for name, cls in HEADS.items():
        if cls.fine_tunes_backbone:
            continue
        cost = check_public_head_cost(head=name, params=cls.resolve_params({}), n_rows=7_837,
                                      dim=1_280, folds=5,
                                      classes=1 if cls.task == "regression" else 10)
        assert cost is not None and cost.seconds < 3_600, (name, cost)


def test_logreg_with_c_auto_and_5_folds_is_ordinary_use(public):
    """Logistic regression with C="auto" (3 values of C, 300 L-BFGS iterations each at
    most) and 5 cross-fit folds on the bundle is accepted, and its bound counts what the
    code does: every fit × C × iteration × line-search evaluation × rows·features·classes;
    10 folds of it go over the hour and are refused with the estimate."""
    from core.heads import cost
    from core.heads.registry import get_head_class

    params = get_head_class("logreg").resolve_params({"C": "auto"})
    accepted = cost.check_public_head_cost(head="logreg", params=params, n_rows=7_837,
                                           dim=1_280, classes=10, folds=5)
    units = 6 * 3 * 300 * cost.LBFGS_EVALUATIONS_PER_ITERATION * 7_837 * 1_280 * 10
    assert accepted.multiply_adds == pytest.approx(2 * units)
    assert accepted.seconds == pytest.approx(units * cost.LOGREG_SECONDS_PER_UNIT)
    assert 600 < accepted.seconds < 3_600  # minutes, not seconds: an upper bound
    with pytest.raises(PublicModeError, match=r"with 10 cross-fit folds .* it would take "
                                              r"about 1h\d\dm .* over the limit of 1h00m"):
        cost.check_public_head_cost(head="logreg", params=params, n_rows=7_837, dim=1_280,
                                    classes=10, folds=10)


def test_cost_grows_with_every_parameter():
    from core.heads.cost import KERAS_MACS_PER_SECOND, KERAS_STEP_SECONDS, estimate_head_cost

    base = dict(epochs=10, batch_size=64, hidden=100)
    cost = lambda **kw: estimate_head_cost(head="mlp", params={**base, **kw}, n_rows=1_000,  # noqa: E731
                                           dim=50, classes=10).seconds
    one = estimate_head_cost(head="mlp", params=base, n_rows=1_000, dim=50, classes=10)
    assert one.multiply_adds == 10 * 1_000 * (50 * 100 + 100 * 10)
    assert one.steps == 10 * 16
    assert one.seconds == pytest.approx(one.multiply_adds / KERAS_MACS_PER_SECOND
                                        + 160 * KERAS_STEP_SECONDS)
    assert cost(epochs=20) > cost() and cost(hidden=1_000) > cost() and cost(batch_size=1) > cost()
    folds = estimate_head_cost(head="mlp", params=base, n_rows=1_000, dim=50, classes=10, folds=4)
    assert folds.multiply_adds == 5 * one.multiply_adds
    assert estimate_head_cost(head="no_such_head", params={}, n_rows=1, dim=1, classes=2) is None


def test_train_head_refuses_before_training(public, monkeypatch):
    from core.features.feature_sets import from_arrays
    from core.heads import train_head
    from core.heads import training

    def never(**kwargs):
        raise AssertionError("trained in a public app")

    monkeypatch.setattr(training, "_train_now", never)
    rng = np.random.default_rng(0)
    tv = from_arrays(values=rng.standard_normal((2_000, 64)).astype(np.float32),
                     labels=rng.integers(0, 3, 2_000))
    with pytest.raises(PublicModeError, match=r"Training the mlp head .* over the limit of 1h00m"):
        train_head(tv=tv, head="mlp", params=ABUSE, cross_fit_folds=10)
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC")
    with pytest.raises(AssertionError, match="trained in a public app"):  # locally: no cap
        train_head(tv=tv, head="mlp", params=ABUSE, cross_fit_folds=10, use_cache=False)


def test_allowed_fine_tuning_is_still_bounded(public, monkeypatch):
    """With the operator's permission, fine-tuning keeps the extraction caps and the time
    budget, refused before a run folder or a model exists."""
    from core.datasets.registry import load_dataset
    from core.finetune import FineTuneConfig, fine_tune
    from core.finetune import trainer

    monkeypatch.setenv("TRANSFER_LENS_PUBLIC_FINETUNE", "1")
    monkeypatch.setattr(trainer, "Trainer", None)  # never reached
    digits = load_dataset(name="digits")
    n_train = len(digits.split_indices("train"))
    with pytest.raises(PublicModeError, match=rf"Fine-tuning 1000 epochs on {n_train:,} images "
                                              rf"at 88 px is not available.*it would take about "
                                              rf".*\(an estimate: 1000 epochs of {n_train:,} "
                                              rf"images at 48–88 px.*over the limit of 1h00m"):
        fine_tune(dataset=digits, config=FineTuneConfig(epochs=1000))
    with pytest.raises(PublicModeError, match=r"256 px input, over the limit of 224 px"):
        fine_tune(dataset=digits, config=FineTuneConfig(image_size=256))


def test_the_default_fine_tuning_fits_the_budget():
    from core.finetune import FineTuneConfig
    from core.heads.cost import estimate_fine_tune_cost

    cost = estimate_fine_tune_cost(epoch_sizes=FineTuneConfig().epoch_sizes(), n_train=8_000)
    assert 60 < cost.seconds < 600  # 8 epochs over the bundle-sized train split: minutes
