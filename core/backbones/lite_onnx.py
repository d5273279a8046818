"""EfficientNet-Lite's feature extractor written straight to ONNX from its PyTorch weights.

The same network as `core.backbones.efficientnet_lite` builds in Keras with BatchNorm folded
(the same blocks, the same folded weights computed by the same float32 operations), as the
graph Keras' ONNX export makes of it (tf2onnx, opset 17): the input scaling (Mul, Add), one
Transpose to NCHW, each convolution with its bias and TensorFlow's "SAME" padding
(`auto_pad=SAME_UPPER`: a stride-2 convolution's extra pixel goes bottom/right), ReLU6 as
Clip, the residual Adds, GlobalAveragePool and Squeeze. Its values equal the exported
model's bit for bit (tests/test_lite_onnx.py), so it is cached under a key of its own
(`LITE_ONNX_VERSION`) but serves the same transfer values. Writing it takes under a second
and needs neither TensorFlow nor tf2onnx: a first extraction on ONNX Runtime or OpenVINO
skips the ~6 s export (importing TensorFlow, building and tracing the Keras model,
converting).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.backbones.efficientnet_lite import (HEAD_FILTERS, PIXEL_MEAN, PIXEL_STD, _blocks,
                                              _folded, _torch_arrays, _variant, _weights_file)
from core.backbones.lite_specs import LITE_ONNX_VERSION
from core.backbones.torch_pth import load_state_dict

INPUT = "images"  # the exported model's input name (core.backbones.onnx_runtime)


def lite_onnx(*, variant: str, image_size: int | None, opset: int) -> bytes:
    """EfficientNet-Lite `variant` ("lite0"…) → pooled 1280-d features as a serialised ONNX
    model taking float32 (B, S, S, 3) pixels in [0, 255]; S = `image_size`, or any height
    and width when None."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    key, spec = _variant(variant)
    path = _weights_file(key)
    blocks = _blocks(spec)
    arrays = _torch_arrays(blocks, load_state_dict(path), include_top=False, source=path.name)
    nodes: list[Any] = []
    initializers: list[Any] = []

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def conv(x: str, *, layer: str, kernel: int, stride: int = 1, depthwise: bool = False,
             activation: bool = True) -> str:
        # Keras' layout folded as the Keras port folds it, then ONNX's (O, I/groups, kH, kW)
        weights, bias = _folded(arrays[layer][0], *arrays[layer.removesuffix("_conv") + "_bn"])
        weights = weights.transpose(2, 3, 0, 1) if depthwise else weights.transpose(3, 2, 0, 1)
        inputs = [x, constant(f"{layer}/kernel", weights), constant(f"{layer}/bias", bias)]
        out = f"{layer}/out"
        nodes.append(helper.make_node(
            "Conv", inputs, [out], name=layer, kernel_shape=[kernel, kernel],
            strides=[stride, stride], dilations=[1, 1], auto_pad="SAME_UPPER",
            group=weights.shape[0] if depthwise else 1))
        if not activation:
            return out
        nodes.append(helper.make_node("Clip", [out, "relu6/min", "relu6/max"],
                                      [f"{layer}/relu6"], name=f"{layer}/relu6"))
        return f"{layer}/relu6"

    constant("relu6/min", np.float32(0.0))
    constant("relu6/max", np.float32(6.0))
    # Keras' Rescaling: x * (1/128) + (-127/128), both exact in float32
    nodes.append(helper.make_node("Mul", [INPUT, constant("normalize/scale",
                                                          np.float32(1.0 / PIXEL_STD))],
                                  ["normalize/scaled"], name="normalize/scale"))
    nodes.append(helper.make_node("Add", ["normalize/scaled", constant(
        "normalize/offset", np.float32(-PIXEL_MEAN / PIXEL_STD))], ["normalize/out"],
        name="normalize/offset"))
    nodes.append(helper.make_node("Transpose", ["normalize/out"], ["nchw"], name="nchw",
                                  perm=[0, 3, 1, 2]))
    x = conv("nchw", layer="stem_conv", kernel=3, stride=2)
    for block in blocks:
        b, inputs = block.name, x
        if block.expand != 1:
            x = conv(x, layer=f"{b}_expand_conv", kernel=1)
        x = conv(x, layer=f"{b}_dwconv", kernel=block.kernel, stride=block.stride,
                 depthwise=True)
        x = conv(x, layer=f"{b}_project_conv", kernel=1, activation=False)
        if block.has_skip:
            nodes.append(helper.make_node("Add", [x, inputs], [f"{b}_add"], name=f"{b}_add"))
            x = f"{b}_add"
    x = conv(x, layer="head_conv", kernel=1)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="avg_pool"))
    initializers.append(numpy_helper.from_array(np.array([2, 3], np.int64), "pooled/axes"))
    nodes.append(helper.make_node("Squeeze", ["pooled", "pooled/axes"], ["features"],
                                  name="features"))
    height, width = (image_size, image_size) if image_size else ("height", "width")
    graph = helper.make_graph(
        nodes, f"efficientnet_{key}_features",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", height, width, 3])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                       ["batch", HEAD_FILTERS])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="transfer-lens",
                              producer_version=str(LITE_ONNX_VERSION))
    model.ir_version = min(model.ir_version, 8)  # ONNX Runtime ≥ 1.14 reads IR 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
