"""EfficientNet-Lite written straight to ONNX (issue 31): the same model Keras' export makes,
bit for bit, at sizes where "SAME" padding splits evenly and where it does not; and a first
extraction on ONNX Runtime or OpenVINO from an empty cache that imports neither TensorFlow
nor tf2onnx."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.backbones.lite_specs import LITE_ONNX_VERSION
from core.backbones.registry import get_backbone

ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow  # a real backbone, and a fresh Python process


def _run(model: bytes, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def test_the_written_model_is_the_exported_model(tmp_path):
    from core.backbones.converted import ANY_SIZE, backbone_fields
    from core.backbones.onnx_runtime import converted_onnx

    spec = get_backbone("efficientnet_lite0")
    fields = {**backbone_fields(spec, 96), "image_size": ANY_SIZE}
    exported = converted_onnx(fields=fields, build=lambda: spec.build(input_size=96),
                              image_size=None, cache_dir=tmp_path)  # Keras' export, tf2onnx
    written = spec.onnx_writer.write(image_size=None)
    assert written != exported
    rng = np.random.default_rng(0)
    for size in (33, 96, 97):  # odd sizes pad a stride-2 convolution unevenly
        images = rng.uniform(0, 255, (4, size, size, 3)).astype(np.float32)
        expected = _run(exported, images)
        assert expected.shape == (4, 1280)
        assert np.array_equal(_run(written, images), expected), size
    fixed = spec.onnx_writer.write(image_size=64)
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    assert np.array_equal(_run(fixed, images), _run(exported, images))
    with pytest.raises(Exception):  # a fixed size is a fixed size
        _run(fixed, images[:, :32, :32])


def test_a_first_extraction_on_either_runtime_needs_no_tensorflow(tmp_path):
    from core.backbones.runtime import OPENVINO, installed

    runtimes = ["onnxruntime"] + (["openvino"] if installed(OPENVINO) else [])
    code = ("import json, sys; from core.datasets import load_dataset; "
            "from core.features.transfer_values import compute_transfer_values; "
            "digits = load_dataset(name='digits').limited(limit=40); "
            f"runs = [compute_transfer_values(dataset=digits, backbone='efficientnet_lite0', "
            f"image_size=32, runtime=r, cache_dir={str(tmp_path)!r} + '/' + r) "
            f"for r in {runtimes!r}]; "
            "print(json.dumps([[tv.runtime.label, tv.images_computed] for tv in runs] + "
            "[[m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert json.loads(out.stdout.splitlines()[-1]) == [
        *([f"{r} f32", 40] for r in runtimes), []], out.stderr[-2000:]
    from core.base.cache import ArrayCache

    for runtime in runtimes:
        cache = ArrayCache(kind="converted_models", root=tmp_path / runtime)
        (key,) = cache.keys()
        fields = cache.manifest(key)["key_fields"]
        assert fields["converter"] == "onnx_writer" and fields["image_size"] == "any"
        assert fields["writer_version"] == LITE_ONNX_VERSION and "tf2onnx" not in fields
        assert fields["runtime"] == runtime
