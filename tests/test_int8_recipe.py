"""int8 recipes (issue 31): which convolutions a recipe keeps in float32, and that quantising
keeps exactly those (a hand-built three-conv ONNX graph: well under a second)."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from core.backbones.onnx_runtime import Int8Recipe, OnnxForward, quantize  # noqa: E402


def _three_convs() -> bytes:
    """stem (3→4, 3x3) → depthwise (4 groups, 3x3) → projection (4→2, 1x1), NCHW."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"w_stem": rng.normal(size=(4, 3, 3, 3)), "w_dw": rng.normal(size=(4, 1, 3, 3)),
               "w_last": rng.normal(size=(2, 4, 1, 1))}
    nodes = [helper.make_node("Conv", ["images", "w_stem"], ["a"], name="stem", pads=[1] * 4),
             helper.make_node("Conv", ["a", "w_dw"], ["b"], name="dw", group=4, pads=[1] * 4),
             helper.make_node("Conv", ["b", "w_last"], ["out"], name="last")]
    graph = helper.make_graph(
        nodes, "three", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                       [None, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 2, 8, 8])],
        [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_recipe_names_the_convolutions_it_keeps_in_float32():
    model = _three_convs()
    assert Int8Recipe().nodes_kept(model) == []
    assert Int8Recipe(keep_f32=("depthwise",)).nodes_kept(model) == ["dw"]
    assert Int8Recipe(keep_f32=("first", "last")).nodes_kept(model) == ["last", "stem"]
    # bf16mix's start: its first three convolutions (here all of them)
    assert Int8Recipe(keep_f32=("start",)).nodes_kept(model) == ["dw", "last", "stem"]
    assert Int8Recipe(keep_f32=("depthwise", "last"), method="percentile").name == \
        "qdq-u8s8-percentile-f32depthwise-f32last"


def test_quantising_keeps_the_recipes_convolutions_in_float32():
    model = _three_convs()
    images = np.random.default_rng(1).uniform(-1, 1, (16, 3, 8, 8)).astype(np.float32)
    quantised = onnx.load_from_string(quantize(model, images=images,
                                               recipe=Int8Recipe(keep_f32=("depthwise",))))
    # a quantised conv reads its weight through DequantizeLinear; a float32 one directly
    dequantised = {node.output[0] for node in quantised.graph.node
                   if node.op_type == "DequantizeLinear"}
    weight_of = {node.name: node.input[1] for node in quantised.graph.node
                 if node.op_type == "Conv"}
    assert weight_of["dw"] == "w_dw"
    assert weight_of["stem"] in dequantised and weight_of["last"] in dequantised
    outputs = OnnxForward(model=quantised.SerializeToString(), threads=1)(images)
    reference = OnnxForward(model=model, threads=1)(images)
    assert outputs.shape == reference.shape
    assert np.corrcoef(outputs.ravel(), reference.ravel())[0, 1] > 0.99
