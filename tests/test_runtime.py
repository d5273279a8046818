"""Inference runtimes (issue 31): choosing one, falling back, cache keys, converted models,
the CLI flags, and batch prediction on OpenVINO (a tiny backbone: seconds)."""

import json

import numpy as np
import pytest

from core.backbones import runtime as rt
from core.backbones.runtime import RuntimeChoice, resolve_runtime
from core.base.errors import ParameterError
from core.datasets import load_dataset
from core.features.transfer_values import compute_transfer_values, transfer_values_key

from tests.support.runtimes import digits, fail as _fail, fresh_extractors  # noqa: F401

openvino = pytest.importorskip("openvino")  # requirements.txt installs it, so this runs


def test_auto_picks_the_first_installed_of_the_preference(monkeypatch):
    assert resolve_runtime() == RuntimeChoice("tensorflow", "f32")  # conftest's variable
    monkeypatch.setenv(rt.AUTO_ENV, "openvino, tensorflow")
    assert resolve_runtime() == RuntimeChoice("openvino", "f32")
    monkeypatch.setenv(rt.AUTO_ENV, "onnx")
    with pytest.raises(ParameterError, match="TRANSFER_LENS_AUTO_RUNTIME='onnx': 'onnx' is not"):
        resolve_runtime()
    monkeypatch.delenv(rt.AUTO_ENV)
    assert resolve_runtime() == RuntimeChoice(rt.PREFERENCE[0], "f32")
    assert resolve_runtime(precision="bf16") == RuntimeChoice("openvino", "bf16")
    monkeypatch.setattr(rt, "PREFERENCE", ("openvino", "tensorflow"))
    assert resolve_runtime() == RuntimeChoice("openvino", "f32")
    assert resolve_runtime(runtime="tensorflow") == RuntimeChoice("tensorflow", "f32")
    monkeypatch.setattr(rt, "installed", lambda name: name == "tensorflow")
    assert resolve_runtime() == RuntimeChoice("tensorflow", "f32")
    missing = resolve_runtime(runtime="openvino")
    assert (missing.runtime, missing.precision) == ("tensorflow", "f32")
    assert "OpenVINO is not installed" in missing.note and "pip install" in missing.note
    reduced = resolve_runtime(precision="bf16")
    assert (reduced.runtime, reduced.precision) == ("tensorflow", "f32")
    assert "bf16 needs OpenVINO" in reduced.note


def test_bad_choices_are_refused_naming_the_bound():
    with pytest.raises(ParameterError, match="runtime must be one of 'auto', 'tensorflow'"):
        resolve_runtime(runtime="onnx")
    with pytest.raises(ParameterError, match="precision must be one of 'f32', 'bf16', 'int8'"):
        resolve_runtime(precision="int4")
    with pytest.raises(ParameterError, match="bf16 needs --runtime openvino"):
        resolve_runtime(runtime="tensorflow", precision="bf16")


def test_key_fields_only_at_reduced_precision():
    assert RuntimeChoice("openvino", "f32").key_fields() == {}
    assert RuntimeChoice("tensorflow", "f32").key_fields() == {}
    assert RuntimeChoice("openvino", "bf16").key_fields() == {"runtime": "openvino",
                                                              "precision": "bf16"}
    assert RuntimeChoice("openvino", "bf16mix").key_fields() == {
        "runtime": "openvino", "precision": "bf16mix", "f32_convolutions": 3}


def test_f32_runtimes_share_one_key_and_values_bf16_gets_its_own(tiny_backbone, digits,
                                                                  isolated_cache, tmp_path):
    tf_values = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                        runtime="tensorflow")
    ov_values = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                        runtime="openvino", cache_dir=tmp_path / "other")
    assert tf_values.runtime == RuntimeChoice("tensorflow", "f32")
    assert ov_values.runtime == RuntimeChoice("openvino", "f32")
    assert tf_values.key == ov_values.key == transfer_values_key(
        dataset=digits, backbone=tiny_backbone, image_size=32)
    a, b = np.asarray(tf_values.values), np.asarray(ov_values.values)
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()
    assert ov_values.manifest["runtime"] == "openvino"
    # the TensorFlow entry is a hit for an OpenVINO run: caches stay valid
    again = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                    runtime="openvino")
    assert again.cache == "hit" and again.key == tf_values.key and again.runtime is None

    reduced = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                      precision="bf16")
    assert reduced.runtime == RuntimeChoice("openvino", "bf16")
    assert reduced.key != tf_values.key
    assert reduced.key == transfer_values_key(dataset=digits, backbone=tiny_backbone,
                                              image_size=32, precision="bf16")
    assert reduced.manifest["key_fields"]["precision"] == "bf16"
    cosine = (a * reduced.values).sum(1) / (np.linalg.norm(a, axis=1)
                                            * np.linalg.norm(reduced.values, axis=1) + 1e-12)
    assert cosine.min() > 0.98  # close, not equal: hence its own key

    # bf16mix keeps the first 3 convolutions in f32: all of the tiny net's 2, so f32's values
    mixed = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                    precision="bf16mix")
    assert mixed.runtime == RuntimeChoice("openvino", "bf16mix")
    assert mixed.key not in (tf_values.key, reduced.key)
    assert mixed.key == transfer_values_key(dataset=digits, backbone=tiny_backbone,
                                            image_size=32, precision="bf16mix")
    assert mixed.manifest["key_fields"]["f32_convolutions"] == 3
    assert np.abs(np.asarray(mixed.values) - a).max() <= 1e-4 * np.abs(a).max()


def test_converted_model_is_cached_per_backbone_size_and_runtime(tiny_backbone, digits,
                                                                isolated_cache, monkeypatch):
    from core.base.cache import ArrayCache

    compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                            runtime="openvino")
    cache = ArrayCache(kind="converted_models")
    (key,) = cache.keys()
    fields = cache.manifest(key)["key_fields"]
    assert {k: fields[k] for k in ("backbone", "weights", "image_size", "runtime")} == {
        "backbone": tiny_backbone, "weights": "seed7", "image_size": 32, "runtime": "openvino"}
    assert fields["openvino"] == openvino.__version__
    assert not list(cache.dir.glob("*.npy")) and not list(cache.dir.rglob("*.pkl"))

    # a second process would not convert again: converting now fails, the entry serves
    from core.features.extractor import _cached_extractor

    _cached_extractor.cache_clear()
    monkeypatch.setattr(openvino, "convert_model", _fail)
    tv = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=40,
                                 runtime="openvino")
    assert tv.runtime.runtime == "tensorflow"  # 40 px was never converted: falls back
    _cached_extractor.cache_clear()
    other = load_dataset(name="digits").limited(limit=64)
    tv = compute_transfer_values(dataset=other, backbone=tiny_backbone, image_size=32,
                                 runtime="openvino")
    assert tv.runtime == RuntimeChoice("openvino", "f32")  # 32 px came from the cache


def test_failed_conversion_falls_back_to_tensorflow_with_one_line(tiny_backbone, digits,
                                                                  monkeypatch):
    monkeypatch.setattr(openvino, "convert_model", _fail)
    tv = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                 runtime="openvino")
    assert tv.runtime.runtime == "tensorflow" and tv.runtime.precision == "f32"
    assert tv.runtime.note == (f"OpenVINO could not run {tiny_backbone} at 32 px (RuntimeError: "
                               f"converter exploded); running TensorFlow f32 instead")
    assert tv.key == transfer_values_key(dataset=digits, backbone=tiny_backbone, image_size=32)
    assert tv.manifest["runtime_note"] == tv.runtime.note
    # bf16 cannot run: its values would be f32's, so they go under the f32 key
    reduced = compute_transfer_values(dataset=digits, backbone=tiny_backbone, image_size=32,
                                      precision="bf16")
    assert reduced.key == tv.key and reduced.cache == "hit"


def test_cli_flags_and_json_say_what_ran(tiny_backbone, isolated_cache, capsys, monkeypatch):
    from core.cli.main import main

    base = ["extract", "--dataset", "digits", "--backbone", tiny_backbone, "--image-size", "32",
            "--limit", "64", "--json"]
    assert main([*base, "--runtime", "openvino"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert (summary["runtime"], summary["precision"]) == ("openvino", "f32")
    assert "openvino f32" in captured.err  # the progress line names it
    assert main([*base, "--runtime", "tensorflow"]) == 0
    hit = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert hit["cache"] == "hit" and hit["key"] == summary["key"]
    assert hit["runtime"] == "openvino"  # the run that wrote the entry

    assert main([*base, "--runtime", "tensorflow", "--precision", "bf16"]) == 2
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert error["type"] == "ParameterError" and "bf16 needs --runtime openvino" in error["error"]
    with pytest.raises(SystemExit):
        main([*base, "--runtime", "onnx"])
    capsys.readouterr()

    monkeypatch.setattr(openvino, "convert_model", _fail)  # 24 px was never converted
    assert main([*base, "--image-size", "24", "--runtime", "openvino"]) == 0
    captured = capsys.readouterr()
    fallback = json.loads(captured.out.strip().splitlines()[-1])
    assert fallback["runtime"] == "tensorflow" and "converter exploded" in fallback["runtime_note"]
    assert "Traceback" not in captured.err and "converter exploded" in captured.err


def test_batch_prediction_on_openvino_equals_tensorflow(tiny_backbone, tmp_path, monkeypatch):
    from PIL import Image

    from core.heads import train_head
    from core.serving.batch_predict import BatchPredictor
    from core.serving.export import export_end_to_end_model

    data = load_dataset(name="digits").limited(limit=200)
    tv = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=32)
    trained = train_head(tv=tv, head="logreg", params={"C": 10.0})
    model = export_end_to_end_model(head=trained, backbone=tiny_backbone, image_size=32,
                                    path=tmp_path / "digits.keras")
    images = [data.images.get(i) for i in range(24)]
    images.append(np.asarray(Image.fromarray(images[0][..., 0]).resize((20, 13)))[..., None])
    reference = BatchPredictor(model_path=model, runtime=RuntimeChoice("tensorflow"))
    fast = BatchPredictor(model_path=model, runtime=RuntimeChoice("openvino"))
    assert fast.runtime == RuntimeChoice("openvino") and reference.runtime.runtime == "tensorflow"
    expected, got = reference.outputs(images), fast.outputs(images)
    assert got.shape == expected.shape == (25, 10)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)

    monkeypatch.setattr(openvino, "convert_model", _fail)
    fallback = BatchPredictor(model_path=model, runtime=RuntimeChoice("openvino"),
                              cache_dir=tmp_path / "empty")
    assert fallback.runtime.runtime == "tensorflow" and "converter exploded" in fallback.runtime.note
    np.testing.assert_array_equal(fallback.outputs(images), expected)
