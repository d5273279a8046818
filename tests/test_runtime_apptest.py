"""The sidebar's runtime choice (issue 31) with AppTest: what is installed is offered, the
chosen runtime runs the extraction, and the progress line names runtime and precision; a
cold start to UMAP compiles UMAP while it extracts, and draws a first map of the images
extracted so far."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("onnxruntime")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import APP, TIMEOUT, assert_clean, settle  # noqa: E402


def _sidebar_progress(at: AppTest) -> str:
    return "\n".join(element.proto.text for element in at.sidebar.get("progress"))


@pytest.mark.slow  # the whole app (AppTest)
def test_runtime_choice_runs_the_extraction_and_the_progress_line_names_it(
        app: AppTest, tiny_backbone) -> None:
    import core.features.transfer_values as tv_module
    from core.features.transfer_values import load_transfer_values
    from dashboard.state import TV_KEY

    choice = app.selectbox(key="runtime_choice")
    assert choice.value == "auto f32"
    assert choice.options[0] == "auto: TensorFlow f32"  # AppTest lists the labels
    assert {"TensorFlow f32", "OpenVINO f32", "ONNX Runtime f32",
            "bf16 on OpenVINO (slightly different values, cached apart)",
            "bf16mix on OpenVINO (bf16 with its first block in f32, nearer f32's values, "
            "cached apart)"} <= set(choice.options)

    # hold the real extraction once it has run a batch, so the running line can be read
    ran, gate, original = threading.Event(), threading.Event(), tv_module.compute_transfer_values

    def held(**kwargs):
        report = kwargs["progress"]

        def progress(snapshot):
            report(snapshot)
            if snapshot.done > 0 and not ran.is_set():
                ran.set()
                gate.wait(TIMEOUT)

        return original(**{**kwargs, "progress": progress})

    tv_module.compute_transfer_values = held
    try:
        choice.set_value("onnxruntime f32")
        app.selectbox(key="image_size").set_value(48).run()
        assert_clean(app)
        assert ran.wait(TIMEOUT)
        app.run()
        line = _sidebar_progress(app)
        assert f"extract {tiny_backbone}@48px, onnxruntime f32" in line, line
    finally:
        gate.set()
        tv_module.compute_transfer_values = original
    settle(app)
    tv = load_transfer_values(key=app.session_state[TV_KEY])
    assert tv.manifest["runtime"] == "onnxruntime" and tv.n == 1797


def test_the_server_sets_the_runtime_and_a_value_out_of_bounds_is_ignored(monkeypatch) -> None:
    from dashboard.services.runtimes import server_runtime

    monkeypatch.setenv("TRANSFER_LENS_RUNTIME", "onnxruntime")
    monkeypatch.setenv("TRANSFER_LENS_PRECISION", "int4")
    assert server_runtime() == ("onnxruntime", "f32")
    monkeypatch.setenv("TRANSFER_LENS_PRECISION", "int8")
    assert server_runtime() == ("onnxruntime", "int8")


def test_the_server_sets_the_first_maps_rows_and_a_value_out_of_bounds_is_ignored(
        monkeypatch) -> None:
    from dashboard.services.preview import PREVIEW_ROWS, ROWS_ENV, preview_rows, wanted

    for value, rows in (("0", 0), ("20000", 20000), ("12", PREVIEW_ROWS),
                        ("many", PREVIEW_ROWS), ("²", PREVIEW_ROWS), ("", PREVIEW_ROWS)):
        monkeypatch.setenv(ROWS_ENV, value)
        assert preview_rows() == rows, value
    assert wanted(70_000) and not wanted(20_000)
    monkeypatch.setenv(ROWS_ENV, "0")
    assert not wanted(70_000)


def test_a_link_to_umap_compiles_umap_while_the_values_are_extracted(tiny_backbone,
                                                                     monkeypatch) -> None:
    """Cold start (issue 31): UMAP's numba kernels start compiling with the extraction, not
    after the kNN graph, where the first map waited for them; and a first map of the rows
    extracted so far is drawn while the rest are extracted."""
    import core.analysis.projections as projections
    import core.features.transfer_values as tv_module
    import dashboard.services.preview as preview
    import dashboard.ui.extraction as extraction_ui
    from core.features.local_engine import LocalEngine
    from core.features.transfer_values import load_transfer_values
    from dashboard.state import TV_KEY
    from dashboard.ui.preview_map import preview_caption

    calls = []
    monkeypatch.setattr(projections, "warm_up_umap_in_background",
                        lambda: calls.append("compile UMAP"))

    pca = projections.compute_projection

    def projection(*, tv, dims, **kwargs):  # PCA's map: UMAP's would compile numba here
        calls.append("projection")
        return pca(tv=tv, method="pca", dims=dims)

    monkeypatch.setattr(projections, "compute_projection", projection)
    # a first map once 64 of these 300 images are on disk (chunks of 32)
    monkeypatch.setattr(preview, "PREVIEW_ROWS", 64)
    monkeypatch.setattr(preview, "PREVIEW_FOR_MORE_THAN", 100)
    monkeypatch.setattr(LocalEngine, "default_chunk", 32)
    drawn, draw = [], extraction_ui.draw_preview
    monkeypatch.setattr(extraction_ui, "draw_preview",
                        lambda found, slot, **kw: (drawn.append(found), draw(found, slot, **kw)))
    extract = tv_module.compute_transfer_values

    def held(**kwargs):  # the rest waits until the first map is drawn
        report = kwargs["progress"]

        def progress(snapshot):
            report(snapshot)
            if snapshot.done > 96 and not drawn:
                deadline = time.monotonic() + TIMEOUT
                while not drawn and time.monotonic() < deadline:
                    time.sleep(0.05)

        return extract(**{**kwargs, "progress": progress})

    monkeypatch.setattr(tv_module, "compute_transfer_values", held)
    monkeypatch.delenv("TRANSFER_LENS_DATASET", raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"ds": "digits", "bb": tiny_backbone, "px": "32", "n": "300",
                            "m": "umap"})
    at.run()
    assert_clean(at)
    assert calls[:2] == ["compile UMAP", "projection"], calls
    assert len(drawn) == 1, drawn
    first, whole = drawn[0], load_transfer_values(key=at.session_state[TV_KEY])
    assert (first.method, first.rows, first.total) == ("umap", 64, 300)
    assert first.coords.shape == (64, 2) and np.isfinite(first.coords).all()
    assert list(first.sample_ids) == list(whole.sample_ids[:64])
    assert list(first.labels) == list(whole.labels[:64])
    assert "UMAP of the first 64 of 300 images" in preview_caption(first)
    assert calls.count("projection") == 2  # the first map's, then the whole one's
