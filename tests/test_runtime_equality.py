"""OpenVINO's and ONNX Runtime's f32 values equal TensorFlow's within 1e-4 relative on real
images with the real EfficientNet-Lite0 at every size the app offers and every registered
native size: the condition for writing them under the same cache key (issue 31). Each
runtime converts Lite0 once, for any size, and that one model serves every size."""

import numpy as np
import pytest

from core.backbones.lite_specs import LITE_SIZES
from core.backbones.registry import get_backbone
from core.backbones.runtime import ONNXRUNTIME, OPENVINO, RuntimeChoice, installed
from core.datasets import load_dataset

pytestmark = pytest.mark.slow
# requirements.txt installs both, so both run
RUNTIMES = [pytest.param(name, marks=pytest.mark.skipif(not installed(name),
                                                        reason=f"{name} is not installed"))
            for name in (OPENVINO, ONNXRUNTIME)]

# the app's input sizes (dashboard/ui/sidebar.py SIZES) and the Lite family's native ones
SIZES = sorted({32, 48, 64, 96, 128, 160, 192, 224, 240, 260, 299, *LITE_SIZES.values()})


@pytest.fixture(scope="module")
def images():
    from core.datasets.builtin import find_fashion_mnist

    dataset = load_dataset(name="fashion_mnist" if find_fashion_mnist() else "digits")
    rows = np.random.default_rng(0).choice(len(dataset), size=48, replace=False)
    return dataset.images.batch(np.sort(rows))


@pytest.fixture(scope="module")
def conversions(tmp_path_factory):
    """A cache folder per runtime, shared by every size: one conversion serves them all."""
    return {runtime: tmp_path_factory.mktemp(f"converted-{runtime}")
            for runtime in (OPENVINO, ONNXRUNTIME)}


@pytest.fixture(scope="module")
def tensorflow_values(images):
    """TensorFlow's values per size, computed once for every runtime compared with them."""
    from core.features.extractor import build_extractor

    spec, values = get_backbone("efficientnet_lite0"), {}

    def at(size: int) -> np.ndarray:
        if size not in values:
            reference = build_extractor(spec=spec, image_size=size,
                                        runtime=RuntimeChoice("tensorflow"))
            values[size] = np.concatenate([reference.features(b) for b in _batches(images)])
        return values[size]

    return at


def _batches(images):
    return [images[:32], images[32:]]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("size", SIZES)
def test_f32_equals_tensorflow_on_real_images(images, tensorflow_values, size, runtime,
                                              conversions):
    from core.base.cache import ArrayCache
    from core.features.extractor import build_extractor

    spec = get_backbone("efficientnet_lite0")
    fast = build_extractor(spec=spec, image_size=size, runtime=RuntimeChoice(runtime),
                           cache_dir=conversions[runtime])
    assert fast.runtime == RuntimeChoice(runtime, "f32")
    cache = ArrayCache(kind="converted_models", root=conversions[runtime])
    (key,) = cache.keys()  # the one conversion, whichever size came first
    assert cache.manifest(key)["key_fields"]["image_size"] == "any"
    expected = tensorflow_values(size)
    got = np.concatenate(list(fast._uniform(_batches(images), 1.0)))
    scale = np.abs(expected).max()
    assert scale > 0 and np.isfinite(got).all()
    assert np.abs(got - expected).max() <= 1e-4 * scale, (runtime, size,
                                                         np.abs(got - expected).max() / scale)


@pytest.mark.skipif(not installed(OPENVINO), reason="openvino is not installed")
def test_bf16mix_runs_the_start_in_f32_and_stays_closer_to_f32_than_bf16(
        images, tensorflow_values, conversions):
    """bf16mix: the input's scaling and the first 3 convolutions in f32, the rest in bf16 (on a
    CPU with bf16 units), and values nearer TensorFlow's than bf16's (issue 31: the 10,000- and
    70,000-image figures are in docs/runtimes.md)."""
    import openvino as ov

    from core.features.extractor import build_extractor

    spec, size = get_backbone("efficientnet_lite0"), 96
    expected = tensorflow_values(size)
    errors = {}
    for precision in ("bf16", "bf16mix"):
        fast = build_extractor(spec=spec, image_size=size,
                               runtime=RuntimeChoice(OPENVINO, precision),
                               cache_dir=conversions[OPENVINO])
        got = np.concatenate(list(fast._uniform(_batches(images), 1.0)))
        assert got.shape == expected.shape
        errors[precision] = np.linalg.norm(got - expected, axis=1) / np.linalg.norm(expected,
                                                                                     axis=1)
    cosine = 1 - errors["bf16mix"] ** 2 / 2  # a lower bound of the cosine
    assert cosine.min() > 0.99 and errors["bf16mix"].mean() < 0.8 * errors["bf16"].mean()

    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return  # no bf16 units: OpenVINO runs it all in f32
    layers = fast._forward.layers()
    first = next(i for i, layer in enumerate(layers) if layer[0] == "Convolution")
    assert {precision for kind, _, precision, _ in layers[:first] if kind == "Eltwise"} == {"f32"}
    precisions = [precision for kind, _, precision, _ in layers if kind == "Convolution"]
    assert precisions[:3] == ["f32"] * 3 and set(precisions[3:]) == {"bf16"}, layers
    assert fast._forward.compiled.outputs[0].get_partial_shape()[1] == 1280  # the features stay output 0
