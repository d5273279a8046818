"""ONNX Runtime as a third runtime (issue 31): the same key and values as TensorFlow in f32,
its converted model cached, a failed conversion falling back in one line, and batch
prediction (a tiny backbone: seconds). Real images at every size: test_runtime_equality.py."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.backbones.runtime import RuntimeChoice, resolve_runtime
from core.features.transfer_values import compute_transfer_values, transfer_values_key
from tests.support.runtimes import digits, fail, fresh_extractors  # noqa: F401 (fixtures)

pytest.importorskip("onnxruntime")  # requirements.txt installs it, so this runs
pytest.importorskip("tf2onnx")


def _fail_export(monkeypatch):
    """Keras' ONNX export raises from now on: what a model tf2onnx cannot convert does."""
    import keras

    monkeypatch.setattr(keras.Model, "export", fail)


def test_onnxruntime_is_chosen_by_name_and_runs_int8_not_bf16(monkeypatch):
    from core.backbones import runtime as rt
    from core.base.errors import ParameterError

    assert resolve_runtime(runtime="onnxruntime") == RuntimeChoice("onnxruntime", "f32")
    assert resolve_runtime(precision="int8") == RuntimeChoice("onnxruntime", "int8")
    with pytest.raises(ParameterError, match="bf16 needs --runtime openvino"):
        resolve_runtime(runtime="onnxruntime", precision="bf16")
    with pytest.raises(ParameterError, match="int8 needs --runtime onnxruntime"):
        resolve_runtime(runtime="openvino", precision="int8")
    monkeypatch.delenv(rt.AUTO_ENV)  # conftest keeps auto on TensorFlow
    monkeypatch.setattr(rt, "PREFERENCE", ("onnxruntime", "tensorflow"))
    assert resolve_runtime() == RuntimeChoice("onnxruntime", "f32")
    monkeypatch.setattr(rt, "installed", lambda name: name == "tensorflow")
    missing = resolve_runtime(runtime="onnxruntime")
    assert missing.runtime == "tensorflow" and "ONNX Runtime is not installed" in missing.note
    assert "pip install 'onnxruntime" in missing.note and "'tf2onnx" in missing.note


def test_f32_values_equal_tensorflow_under_the_same_key_and_the_model_is_cached(
        tiny_backbone, digits, isolated_cache, tmp_path, monkeypatch):
    import keras
    import tf2onnx

    from core.base.cache import ArrayCache
    from core.features.extractor import _cached_extractor

    reference = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                        runtime="tensorflow", cache_dir=tmp_path / "tf")
    fast = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                   runtime="onnxruntime")
    assert fast.runtime == RuntimeChoice("onnxruntime", "f32") and fast.cache == "miss"
    assert fast.key == reference.key == transfer_values_key(dataset=digits,
                                                            backbone=tiny_backbone, image_size=32)
    a, b = np.asarray(reference.values), np.asarray(fast.values)
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()
    assert fast.manifest["runtime"] == "onnxruntime"

    # the app hands back ONNX Runtime's arena when an extraction ends: the session closes,
    # and the next run opens it again and gives the same values
    from core.backbones.registry import get_backbone
    from core.features.extractor import FeatureExtractor, release_run_memory

    extractor = FeatureExtractor.for_backbone(spec=get_backbone(tiny_backbone), image_size=32,
                                              runtime=fast.runtime)
    assert extractor._forward.session is not None
    release_run_memory()
    assert extractor._forward.session is None
    again = extractor.features(digits.images.batch(np.arange(8)),
                               crop_fraction=digits.crop_fraction)
    assert np.abs(again - b[:8]).max() <= 1e-5 * np.abs(b).max()

    cache = ArrayCache(kind="converted_models")
    (key,) = cache.keys()
    fields = cache.manifest(key)["key_fields"]
    assert {k: fields[k] for k in ("backbone", "weights", "image_size", "runtime")} == {
        "backbone": tiny_backbone, "weights": "seed7", "image_size": 32, "runtime": "onnxruntime"}
    assert (fields["tf2onnx"], fields["keras"]) == (tf2onnx.__version__, keras.__version__)
    assert [p.name for p in cache.entry_path(key).glob("*.npy")] == ["onnx.npy"]
    assert not list(cache.dir.rglob("*.pkl"))
    # with the model converted, extraction needs no TensorFlow (its import alone takes seconds)
    code = ("import sys; from tests.support.tiny_backbone import register_tiny; "
            "from core.datasets import load_dataset; "
            "from core.features.transfer_values import compute_transfer_values; "
            "tv = compute_transfer_values(dataset=load_dataset(name='digits').limited(limit=20), "
            "backbone=register_tiny(), image_size=32, runtime='onnxruntime'); "
            "print(tv.runtime.label, tv.images_computed, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["onnxruntime", "f32", "20", "False"], out.stderr[-2000:]

    # a failed conversion: TensorFlow f32 in one line, under the same key
    _fail_export(monkeypatch)
    fallback = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=24,
                                       runtime="onnxruntime")
    assert fallback.runtime.runtime == "tensorflow"
    assert fallback.runtime.note == (f"ONNX Runtime could not run {tiny_backbone} at 24 px "
                                     f"(RuntimeError: converter exploded); running TensorFlow "
                                     f"f32 instead")
    assert fallback.key == transfer_values_key(dataset=digits, backbone=tiny_backbone,
                                               image_size=24)
    # the 32 px model comes from the cache: no conversion, so no fallback
    _cached_extractor.cache_clear()
    again = compute_transfer_values(dataset=digits.limited(limit=50), backbone=tiny_backbone,
                                    image_size=32, runtime="onnxruntime")
    assert again.runtime == RuntimeChoice("onnxruntime", "f32")


def test_int8_is_calibrated_on_the_dataset_under_its_own_key_and_predict_uses_it(
        tiny_backbone, digits, isolated_cache):
    from core.backbones.runtime import CALIBRATION
    from core.base.cache import ArrayCache
    from core.serving.predict import image_features

    f32 = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                  runtime="tensorflow")
    low = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                  precision="int8")
    assert low.runtime == RuntimeChoice("onnxruntime", "int8", calibration=digits.fingerprint)
    assert low.key != f32.key and low.key == transfer_values_key(
        dataset=digits, backbone=tiny_backbone, image_size=32, precision="int8")
    assert low.manifest["key_fields"]["calibration"] == CALIBRATION
    assert low.manifest["calibration"] == digits.fingerprint
    a, b = np.asarray(f32.values), np.asarray(low.values)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    assert cosine.min() > 0.98 and not np.array_equal(a, b)  # close, not equal: its own key
    cache = ArrayCache(kind="converted_models")
    precisions = sorted(cache.manifest(k)["key_fields"].get("precision", "f32")
                        for k in cache.keys())
    assert precisions == ["f32", "int8"]  # the f32 export, then its quantised model
    # new images get the int8 model the values came from (found in the cache)
    new = image_features(images=[digits.images.get(i) for i in range(6)],
                         backbone=tiny_backbone, image_size=32, tv=low)
    np.testing.assert_allclose(new, b[:6], rtol=1e-5, atol=1e-6)


def test_batch_prediction_on_onnxruntime_equals_tensorflow(tiny_backbone, tmp_path,
                                                           monkeypatch):
    from core.heads import train_head
    from core.serving.batch_predict import BatchPredictor
    from core.serving.export import export_end_to_end_model

    from core.datasets import load_dataset

    data = load_dataset(name="digits").limited(limit=120)
    tv = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=32,
                                 cache_dir=tmp_path)
    trained = train_head(tv=tv, head="logreg", params={"C": 10.0})
    model = export_end_to_end_model(head=trained, backbone=tiny_backbone, image_size=32,
                                    path=tmp_path / "digits.keras")
    images = [data.images.get(i) for i in range(12)]
    reference = BatchPredictor(model_path=model, runtime=RuntimeChoice("tensorflow"))
    fast = BatchPredictor(model_path=model, runtime=RuntimeChoice("onnxruntime"),
                          cache_dir=tmp_path)
    assert fast.runtime == RuntimeChoice("onnxruntime")
    np.testing.assert_allclose(fast.outputs(images), reference.outputs(images),
                               rtol=1e-4, atol=1e-6)
    _fail_export(monkeypatch)
    fallback = BatchPredictor(model_path=model, runtime=RuntimeChoice("onnxruntime"),
                              cache_dir=tmp_path / "empty")
    assert fallback.runtime.runtime == "tensorflow"
    assert fallback.runtime.note.startswith("ONNX Runtime could not run digits.keras")
