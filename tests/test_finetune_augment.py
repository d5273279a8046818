"""Fine-tuning's augmentation: crops, flips and random erasing, seeded."""

import numpy as np
import pytest

from core.finetune.augment import ERASE_AREA, augment, random_crop, random_erase

tf = pytest.importorskip("tensorflow")

SEED = tf.constant([3, 7], dtype=tf.int64)


def _batch(n: int = 64, side: int = 28) -> np.ndarray:
    # random non-zero pixels: every window of the zero-padded batch differs from the others
    rng = np.random.default_rng(0)
    return rng.integers(1, 256, size=(n, side, side, 1), dtype=np.uint8)


def test_the_batch_is_a_window_of_itself_padded_at_one_random_offset():
    images = _batch()
    pad = 3  # round(28 * 0.1)
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    offsets = set()
    for step in range(12):
        out = random_crop(tf, tf.constant(images), seed=SEED + step, pad_fraction=0.1).numpy()
        found = [(r, c) for r in range(2 * pad + 1) for c in range(2 * pad + 1)
                 if np.array_equal(padded[:, r:r + 28, c:c + 28], out)]
        assert found, "a crop that is not one window of the padded batch"
        offsets.add(found[0])
    assert len(offsets) > 3  # the offset is drawn anew at every step


def test_erasing_replaces_one_rectangle_of_the_drawn_size_per_image():
    images = np.zeros((200, 28, 28, 1), np.uint8)
    out = random_erase(tf, tf.constant(images), seed=SEED, probability=1.0).numpy()[..., 0]
    for erased in out:
        rows, cols = np.nonzero(erased)
        assert len(rows), "probability 1 must erase every image"
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
        box = (bottom - top + 1) * (right - left + 1)
        # noise is 0 with chance 1/256 per pixel: the box is nearly all changed
        assert np.count_nonzero(erased[top:bottom + 1, left:right + 1]) >= box - max(3, box / 20)
        assert box <= ERASE_AREA[1] * 28 * 28 + 2 * 28 + 1  # rounding to whole pixels
    sizes = [np.count_nonzero(e) / 28 ** 2 for e in out]
    assert 0.1 < np.mean(sizes) < 0.3  # areas uniform in 2-40 %


def test_erasing_probability_is_per_image_and_zero_changes_nothing():
    images = np.zeros((1000, 28, 28, 1), np.uint8)
    out = random_erase(tf, tf.constant(images), seed=SEED, probability=0.3).numpy()
    share = np.mean([np.any(e) for e in out])
    assert 0.25 < share < 0.35
    same = random_erase(tf, tf.constant(images), seed=SEED, probability=0.0).numpy()
    assert np.array_equal(same, images)


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    images = tf.constant(_batch())
    settings = dict(pad_fraction=0.1, flip=True, erase=0.5)
    first = augment(tf, images, seed=SEED, **settings).numpy()
    again = augment(tf, images, seed=SEED, **settings).numpy()
    other = augment(tf, images, seed=SEED + 1, **settings).numpy()
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.slow
def test_a_run_with_erasing_trains_on_erased_images_under_its_own_key(tmp_path):
    from core.datasets import load_dataset
    from core.finetune import FineTuneConfig, fine_tune

    data = load_dataset(name="digits").limited(limit=240)
    common = dict(epochs=1, image_size=32, start_size=0, batch_size=32, head_epochs=2,
                  flip=False, unfreeze="top-2")
    plain = fine_tune(dataset=data, config=FineTuneConfig(**common), cache_dir=tmp_path)
    erased = fine_tune(dataset=data, config=FineTuneConfig(**common, erase=0.5),
                       cache_dir=tmp_path)
    assert erased.run_dir != plain.run_dir
    assert np.isfinite(erased.history[0].loss)
    # same seed, same batches and crops: only the erased rectangles change the training loss
    assert erased.history[0].loss != plain.history[0].loss


def test_runs_without_erasing_keep_the_key_they_had_before_the_setting():
    from dataclasses import asdict

    from core.base.hashing import hash_key
    from core.datasets import load_dataset
    from core.finetune.config import FINETUNE_VERSION, FineTuneConfig
    from core.finetune.run import run_key

    data = load_dataset(name="digits")
    before = {k: v for k, v in asdict(FineTuneConfig()).items() if k != "erase"}
    key = dict(dataset=data, backbone="efficientnet_lite0", weights_id="w")
    assert run_key(**key, config=FineTuneConfig()) == hash_key(
        {"dataset": data.fingerprint, "backbone": "efficientnet_lite0", "weights": "w",
         "config": before, "version": FINETUNE_VERSION})
    assert run_key(**key, config=FineTuneConfig(erase=0.5)) != run_key(**key,
                                                                      config=FineTuneConfig())
