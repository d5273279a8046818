"""Datasets generated on the fly: deterministic augmentations of a base array dataset."""

import numpy as np
import pytest

from core.datasets import DATASETS, load_dataset
from core.datasets import builtin
from core.datasets.augmented import augment, augmented_dataset
from core.features.feature_sets import pixel_values
from tests.support.cli import cli_json


@pytest.fixture
def digits_x3():
    return augmented_dataset(base=load_dataset(name="digits"), n=3 * 1797, name="digits_x3")


def test_originals_first_then_deterministic_augmentations(digits_x3):
    base = load_dataset(name="digits")
    assert len(digits_x3) == 5391 and digits_x3.images.uniform_shape == (8, 8, 1)
    np.testing.assert_array_equal(digits_x3.images.get(7), base.images.get(7))
    copy = digits_x3.images.get(1797 + 7)
    assert copy.dtype == np.uint8 and copy.shape == (8, 8, 1)
    np.testing.assert_array_equal(copy, digits_x3.images.get(1797 + 7))  # same every call
    np.testing.assert_array_equal(copy, augment(base.images.get(7), 1797 + 7))
    assert not np.array_equal(copy, base.images.get(7))
    # the resampler: the identity grid keeps the image, a shifted grid moves it
    from core.datasets.augmented import _bilinear

    image = base.images.array[7:8].astype(np.float32)
    grid = np.arange(8, dtype=np.float64)[None, :]
    np.testing.assert_allclose(_bilinear(image, grid, grid), image, atol=1e-4)
    moved = _bilinear(image, grid - 1, grid + 2)[0]  # down 1, left 2
    np.testing.assert_allclose(moved[1:, :6], image[0, :7, 2:], atol=1e-4)
    assert not moved[0].any() and not moved[:, 6:].any()
    # every copy differs from its source, and the batch path equals the one-image path
    copies = digits_x3.images.batch(np.arange(1797, 1797 + 50))
    assert all(not np.array_equal(copies[i], base.images.get(i)) for i in range(50))
    np.testing.assert_array_equal(copies[7], copy)
    # each copy its own augmentation
    assert not np.array_equal(digits_x3.images.get(1797 + 7), digits_x3.images.get(2 * 1797 + 7))


def test_labels_splits_ids_follow_the_source(digits_x3):
    base = load_dataset(name="digits")
    np.testing.assert_array_equal(digits_x3.labels[1797:3594], base.labels)
    np.testing.assert_array_equal(digits_x3.splits[2 * 1797:], base.splits)
    assert digits_x3.sample_ids[0] == base.sample_ids[0]
    assert digits_x3.sample_ids[1797 + 3] == f"{base.sample_ids[3]}~1"
    assert len(set(digits_x3.sample_ids.tolist())) == len(digits_x3)
    again = augmented_dataset(base=base, n=3 * 1797, name="digits_x3")
    assert again.fingerprint == digits_x3.fingerprint != base.fingerprint
    other = augmented_dataset(base=base, n=2 * 1797, name="digits_x2")
    assert other.fingerprint != digits_x3.fingerprint


def test_subsets_and_batches_generate_the_same_pixels(digits_x3, isolated_cache):
    subset = digits_x3.limited(limit=300, seed=1)
    rows = np.flatnonzero(np.isin(digits_x3.sample_ids, subset.sample_ids))
    np.testing.assert_array_equal(subset.images.batch(np.arange(5)),
                                  digits_x3.images.batch(rows[:5]))
    values = pixel_values(dataset=subset)  # the batched path extraction uses
    assert values.n == 300 and np.isfinite(np.asarray(values.values)).all()


def test_too_few_images_is_an_error():
    with pytest.raises(ValueError, match="at least"):
        augmented_dataset(base=load_dataset(name="digits"), n=100, name="x")


@pytest.mark.skipif(builtin.find_fashion_mnist() is None, reason="Fashion-MNIST not installed")
def test_fashion_mnist_1m_is_listed_and_generated_on_the_fly(capsys, monkeypatch):
    # listed as available by `python -m core datasets`, and missing once its files are gone
    rows = {row["name"]: row for row in cli_json(capsys, "datasets")["datasets"]}
    assert rows["fashion_mnist_1m"]["status"] == "available" and rows["fashion_mnist_1m"]["offline"]
    with monkeypatch.context() as gone:
        gone.setattr(builtin, "find_fashion_mnist", lambda: None)
        assert DATASETS["fashion_mnist_1m"].status() == "missing"
    data = load_dataset(name="fashion_mnist_1m")
    base = load_dataset(name="fashion_mnist")
    assert len(data) == 1_000_000 and data.class_names == base.class_names
    np.testing.assert_array_equal(data.images.get(140_005), augment(
        base.images.get(5), 140_005))
    assert data.sample_ids[999_999] == f"{base.sample_ids[999_999 % 70_000]}~14"
    assert data.images.base is base.images.array  # no copy of the pixels
