"""ONNX Runtime session recipes (issue 31): every candidate the ort_options worker times gives
the default recipe's values within 1e-4, its model edits apply where the graph allows and
are skipped where it does not, and a pre-optimised graph is cached. A hand-built graph shaped
like the converted Lite (NHWC input, scalar normalisation, Transpose, convs with ReLU6, a
residual Add, global pooling): well under a second."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from core.backbones.onnx_runtime import OnnxForward  # noqa: E402
from core.backbones.onnx_session import (SESSION_RECIPE, SESSION_RECIPES,  # noqa: E402
                                         prepared_model, recipe_named,
                                         without_input_transpose)


def _lite_like(*, normalise_per_channel: bool = False) -> bytes:
    """images (B, H, W, 3) → ·s + o → NCHW → stem (3→8, 3x3 /2, SAME_UPPER) → ReLU6 →
    depthwise 3x3 → ReLU6 → 1x1 → + stem → global average → (B, 8)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    scale = rng.uniform(0.005, 0.01, (3,)) if normalise_per_channel else np.array(1 / 128)
    arrays = {"scale": scale, "offset": np.array(-0.99), "low": np.array(0.0),
              "high": np.array(6.0), "w_stem": rng.normal(size=(8, 3, 3, 3)),
              "b_stem": rng.normal(size=(8,)), "w_dw": rng.normal(size=(8, 1, 3, 3)),
              "w_pw": rng.normal(size=(8, 8, 1, 1)) / 3, "axes": np.array([2, 3])}
    conv = dict(op_type="Conv")
    nodes = [helper.make_node("Mul", ["images", "scale"], ["scaled"]),
             helper.make_node("Add", ["scaled", "offset"], ["normalised"]),
             helper.make_node("Transpose", ["normalised"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node(**conv, inputs=["nchw", "w_stem", "b_stem"], outputs=["stem"],
                              strides=[2, 2], auto_pad="SAME_UPPER"),
             helper.make_node("Clip", ["stem", "low", "high"], ["stem6"]),
             helper.make_node(**conv, inputs=["stem6", "w_dw"], outputs=["dw"], group=8,
                              pads=[1] * 4),
             helper.make_node("Clip", ["dw", "low", "high"], ["dw6"]),
             helper.make_node(**conv, inputs=["dw6", "w_pw"], outputs=["pw"]),
             helper.make_node("Add", ["pw", "stem6"], ["residual"]),
             helper.make_node("GlobalAveragePool", ["residual"], ["pooled"]),
             helper.make_node("Squeeze", ["pooled", "axes"], ["features"])]
    initializers = [numpy_helper.from_array(
        a.astype(np.int64 if name == "axes" else np.float32), name)
        for name, a in arrays.items()]
    graph = helper.make_graph(
        nodes, "lite_like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [None, None, None, 3])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 8])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_every_session_recipe_gives_the_default_values(tmp_path):
    model = _lite_like()
    images = np.random.default_rng(1).uniform(0, 255, (5, 12, 12, 3)).astype(np.float32)
    assert SESSION_RECIPE in SESSION_RECIPES
    reference = OnnxForward(model=model, recipe=recipe_named("default"))(images)
    assert reference.shape == (5, 8)
    for name, recipe in SESSION_RECIPES.items():
        forward = OnnxForward(model=model, recipe=recipe, image_size=12, cache_dir=tmp_path)
        for values in (forward(images), np.concatenate(list(forward.map([images[:2],
                                                                         images[2:]])))):
            assert np.abs(values - reference).max() <= 1e-4 * np.abs(reference).max(), name

    # the edits: the input transpose is gone (batches go in NCHW), the size fixed, the
    # optimised graph cached and opened without optimising again
    edited, _, nchw = prepared_model(model, recipe=recipe_named("nchw_input"), image_size=None)
    assert nchw and "Transpose" not in {n.op_type for n in onnx.load_from_string(edited)
                                        .graph.node}
    fixed, _, _ = prepared_model(model, recipe=recipe_named("fixed_size"), image_size=12)
    dims = onnx.load_from_string(fixed).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1:] == [12, 12, 3]
    optimised, opened_with, _ = prepared_model(model, recipe=recipe_named("pre_optimised"),
                                               image_size=12, cache_dir=tmp_path)
    assert opened_with.level == "disabled" and optimised != model
    entries = list((tmp_path / "converted_models").glob("*/manifest.json"))
    assert len(entries) == 1 and '"optimised_onnx"' in entries[0].read_text()


def test_the_nchw_edit_is_skipped_where_the_graph_does_not_allow_it():
    model = _lite_like(normalise_per_channel=True)  # a (3,) scale only broadcasts over NHWC
    assert without_input_transpose(model) is None
    same, _, nchw = prepared_model(model, recipe=recipe_named("nchw_input"), image_size=12)
    assert same == model and not nchw
    images = np.random.default_rng(2).uniform(0, 255, (3, 12, 12, 3)).astype(np.float32)
    assert OnnxForward(model=model, recipe=recipe_named("nchw_input"))(images).shape == (3, 8)


def test_data_parallel_runs_cut_each_batch_into_parts_and_keep_the_order(monkeypatch):
    """The adopted recipe: a batch runs as parts of `part_images` side by side on a
    one-thread session, one per worker; the outputs come back in the batches' order."""
    model = _lite_like()
    images = np.random.default_rng(3).uniform(0, 255, (37, 12, 12, 3)).astype(np.float32)
    reference = OnnxForward(model=model, recipe=recipe_named("default"))(images)
    recipe = recipe_named("data_parallel")
    forward = OnnxForward(model=model, recipe=recipe, threads=2)
    assert forward.session.get_session_options().intra_op_num_threads == 1
    runs: list[tuple[int, str]] = []
    run = forward._run

    def spy(batch):
        import threading

        runs.append((len(batch), threading.current_thread().name))
        return run(batch)

    monkeypatch.setattr(forward, "_run", spy)
    whole = forward(images)
    assert sorted(size for size, _ in runs) == sorted([recipe.part_images] * 2 + [5])
    assert all(name.startswith("onnxruntime") for _, name in runs)
    streamed = np.concatenate(list(forward.map([images[:20], images[20:33], images[33:]])))
    for values in (whole, streamed):
        assert values.shape == reference.shape
        assert np.abs(values - reference).max() <= 1e-5 * np.abs(reference).max()
    assert list(forward.map([])) == []
    assert forward(images[:0]).shape == (0, 8)  # an empty batch, as the default recipe gives
