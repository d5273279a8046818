"""One preprocessing everywhere: the same transfer values and probabilities for a non-square
image through extraction (folder), prediction, the exported head model and the exported
fine-tuned model; square array datasets extract as before."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.features.preprocessing import (Preprocessing, preprocess_batch, preprocess_batch_numpy,
                                         preprocess_image)

WIDE = np.random.default_rng(1).integers(0, 256, (40, 64, 3), dtype=np.uint8)  # H×W, not square
GREY = np.random.default_rng(2).integers(0, 256, (64, 40), dtype=np.uint8)  # tall, grey


def test_description_is_data_and_importing_it_is_cheap():
    p = Preprocessing(size=96, crop_fraction=0.875)
    assert Preprocessing.from_fields(p.fields()) == p
    assert p.fields()["crop_fraction"] == 0.875 and "crop=0.875" in p.id
    assert Preprocessing.from_fields(None) is None
    assert Preprocessing.from_fields({"preprocessing": "rgb;crop=1;bilinear;0-255"}) is None
    with pytest.raises(ValueError):
        Preprocessing(size=96, crop_fraction=0)
    code = ("import sys, core.features.preprocessing, core.features.transfer_values; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert out.stdout.strip() == "False False", out.stderr[-2000:]


def test_centre_square_then_crop_then_resize():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 90:110] = 255  # a bright vertical bar in the middle survives the centre crop
    out = preprocess_image(image, preprocessing=Preprocessing(size=32, crop_fraction=0.875))
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert out[:, 16].mean() > 200 and out[:, 0].mean() < 10
    # the centred square is not stretched: a 40×64 image keeps its 40×40 middle
    wide = preprocess_image(WIDE, preprocessing=Preprocessing(size=40))
    np.testing.assert_allclose(wide, WIDE[:, 12:52].astype(np.float32))
    grey = preprocess_image(GREY, preprocessing=Preprocessing(size=24))
    assert (grey[..., 0] == grey[..., 2]).all()
    np.testing.assert_array_equal(grey, preprocess_image(np.repeat(GREY[..., None], 3, -1),
                                                         preprocessing=Preprocessing(size=24)))
    rgba = np.concatenate([WIDE, np.zeros((40, 64, 1), np.uint8)], axis=-1)
    p = Preprocessing(size=24, crop_fraction=0.875)
    np.testing.assert_array_equal(preprocess_image(rgba, preprocessing=p),
                                  preprocess_image(WIDE, preprocessing=p))
    batch = preprocess_batch(np.stack([WIDE, WIDE[::-1]]), preprocessing=p).numpy()
    np.testing.assert_array_equal(batch[0], preprocess_image(WIDE, preprocessing=p))


def test_numpy_preprocessing_gives_tensorflows_values():
    """What converted runtimes feed their model: TensorFlow's pixels, without TensorFlow;
    a shrinking crop (antialiased) is left to TensorFlow."""
    rng = np.random.default_rng(3)
    batches = [rng.integers(0, 256, (5, 28, 28, 1), dtype=np.uint8),  # Fashion-MNIST-like
               rng.integers(0, 256, (3, 8, 8, 1), dtype=np.uint8),  # digits
               rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8),  # CIFAR
               np.stack([WIDE, WIDE[::-1]]),
               rng.integers(0, 256, (2, 50, 30, 4), dtype=np.uint8),  # tall RGBA
               rng.integers(0, 256, (2, 30, 50, 2), dtype=np.uint8)]  # wide grey + alpha
    compared = 0
    for images in batches:
        for size in (24, 28, 40, 96, 224):
            for crop in (1.0, 0.875):
                p = Preprocessing(size=size, crop_fraction=crop)
                ours = preprocess_batch_numpy(images, preprocessing=p)
                side = min(images.shape[1:3])
                if round(side * crop) > size:
                    assert ours is None
                    continue
                expected = preprocess_batch(images, preprocessing=p).numpy()
                assert ours.shape == expected.shape and ours.dtype == np.float32
                np.testing.assert_array_equal(ours, expected)
                compared += 1
    assert compared > 30


def test_square_array_extraction_is_unchanged(tiny_backbone):
    """Array datasets (crop 1.0): the values the in-graph resize gave before, within 1e-5."""
    from core.backbones.registry import get_backbone
    from core.base.tf_env import import_tensorflow
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    tf = import_tensorflow()
    data = load_dataset(name="digits").limited(limit=64)
    tv = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=16)
    assert tv.manifest["key_fields"]["crop_fraction"] == 1.0
    model = get_backbone(tiny_backbone).build(input_size=16)
    before = tf.image.resize(tf.image.grayscale_to_rgb(tf.cast(data.images.batch(np.arange(64)),
                                                               tf.float32)),
                             (16, 16), method="bilinear")  # the old extraction graph
    np.testing.assert_allclose(tv.values, model(before, training=False).numpy(), atol=1e-5)


def _folder(root):
    rng = np.random.default_rng(0)
    for c, name in enumerate(["cats", "dogs", "owls"]):
        (root / name).mkdir(parents=True)
        for i in range(10):
            w, h = rng.integers(30, 90, 2)
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            pixels[..., c] = 255
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    Image.fromarray(WIDE).save(root / "cats" / "wide.png")
    Image.fromarray(GREY).save(root / "dogs" / "grey.png")


def _row(tv, sample_id: str) -> int:
    return int(np.flatnonzero(np.asarray(tv.sample_ids) == sample_id)[0])


def _probabilities(model, image: np.ndarray) -> np.ndarray:
    batch = image[None, ..., None] if image.ndim == 2 else image[None]
    return model(batch, training=False).numpy()[0]


@pytest.mark.slow
def test_non_square_images_agree_everywhere(tiny_backbone, tmp_path):
    import keras

    import core.backbones.layers  # noqa: F401  (registers PreprocessImages)
    from core.datasets import load_dataset
    from core.features.extractor import FeatureExtractor
    from core.backbones.registry import get_backbone
    from core.features.transfer_values import compute_transfer_values
    from core.finetune import FineTuneConfig, fine_tune
    from core.heads import train_head
    from core.heads.base import softmax
    from core.serving.export import export_end_to_end_model
    from core.serving.predict import image_features

    _folder(tmp_path / "pets")
    data = load_dataset(name=str(tmp_path / "pets"))
    assert data.crop_fraction == 0.875
    tv = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=32,
                                 batch_size=7, cache_dir=tmp_path / "cache")
    wide, grey = _row(tv, "cats/wide.png"), _row(tv, "dogs/grey.png")

    # (a) extraction of the folder == prediction's path for the same images given as arrays
    fresh = image_features(images=[WIDE, GREY], backbone=tiny_backbone, image_size=32,
                           crop_fraction=0.875)
    np.testing.assert_allclose(fresh, tv.values[[wide, grey]], atol=1e-5)

    # (b) the exported head model: its features and its probabilities
    trained = train_head(tv=tv, head="logreg", use_cache=False)
    assert trained.preprocessing == Preprocessing(size=32, crop_fraction=0.875)
    path = export_end_to_end_model(head=trained, backbone=tiny_backbone, image_size=None,
                                   path=tmp_path / "head.keras")
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    preprocess, backbone = model.get_layer("preprocess"), model.layers[-2]
    np.testing.assert_allclose(backbone(preprocess(WIDE[None])).numpy()[0], tv.values[wide],
                               atol=1e-5)
    for image, row in ((WIDE, wide), (GREY, grey)):
        np.testing.assert_allclose(_probabilities(model, image),
                                   trained.predict_proba(tv.values[[row]])[0], atol=1e-5)
    for image in (np.zeros((28, 28), np.uint8), np.full((50, 30, 3), 99, np.uint8)):
        assert _probabilities(model, image).shape == (3,)

    # (c) a tiny fine-tuning run on the folder: its exported model == its head on the
    # fine-tuned backbone's transfer values
    config = FineTuneConfig(epochs=1, image_size=32, start_size=0, batch_size=8,
                            head_epochs=1, unfreeze="all")
    result = fine_tune(dataset=data, backbone=tiny_backbone, config=config,
                       cache_dir=tmp_path / "cache")
    after = compute_transfer_values(dataset=data, backbone=result.backbone_name, image_size=32,
                                    cache_dir=tmp_path / "cache")
    finetuned = keras.saving.load_model(result.model_path, safe_mode=True, compile=False)
    kernel, bias = result.head_weights
    extractor = FeatureExtractor.for_backbone(spec=get_backbone(result.backbone_name),
                                              image_size=32)
    for image, row in ((WIDE, wide), (GREY, grey)):
        want = softmax(np.asarray(after.values[[row]]) @ kernel + bias)[0]
        np.testing.assert_allclose(_probabilities(finetuned, image), want, atol=1e-5)
        np.testing.assert_allclose(extractor.image_features([image], crop_fraction=0.875)[0],
                                   after.values[row], atol=1e-5)
    for image in (np.zeros((28, 28), np.uint8), np.full((50, 30, 3), 99, np.uint8)):
        assert _probabilities(finetuned, image).shape == (3,)
