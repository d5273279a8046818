"""The dashboard on a numeric target, headless (AppTest), with the tiny test backbone: a
folder of digit PNGs in class folders plus a targets.csv whose `ink` column is each image's
mean brightness (a number the head can read from the image)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import (APP, TIMEOUT, all_captions, assert_clean,  # noqa: E402
                                   open_app, select_on_chart, settle, show, texts)
from tests.support.data import write_folder  # noqa: E402

pytestmark = pytest.mark.slow  # the whole app (AppTest), each test from its first run


@pytest.fixture
def folder(tmp_path) -> Path:
    return write_folder(tmp_path / "inky")


def figure_spec(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def assert_continuous(spec: dict, title: str) -> None:
    """Every trace coloured by numbers (no class colours), one colour bar titled `title`,
    and no string per point on the wire."""
    traces = [t for t in spec["data"] if t.get("mode") == "markers"]
    assert traces and all(not isinstance(t["marker"]["color"], str) for t in traces)
    bars = [t for t in traces if t["marker"].get("showscale", True) is not False]
    assert len(bars) == 1 and bars[0]["marker"]["colorbar"]["title"]["text"] == title
    assert all(t["marker"]["colorscale"] for t in traces)
    assert not any(isinstance(t.get("text"), list) for t in traces)


def test_regression_session(folder, tiny_backbone, monkeypatch) -> None:
    from dashboard import state
    from dashboard.services import datasets, extraction
    from dashboard.state import results, selection

    at = open_app(dataset=str(folder), backbone=tiny_backbone, monkeypatch=monkeypatch)
    tv_key = at.session_state[state.TV_KEY]
    # the classes first, as before; the Target picker offers the two columns
    assert at.selectbox(key=state.TARGET_CHOICE).options == [
        "Classes (classification)", "ink (a number)", "width (a number)"]
    # pick the target: the same transfer values (no re-embedding), the header names it
    at.selectbox(key=state.TARGET_CHOICE).set_value("ink").run()
    assert_clean(at)
    assert at.session_state[state.TV_KEY] == tv_key
    assert not extraction._extractions.running()
    assert "target **ink**" in texts(at)
    assert at.query_params.get("t") in ("ink", ["ink"])
    # colour the projection by it: one continuous trace with a colour bar, not class colours
    at.segmented_control(key=state.PROJ_COLOUR).set_value("target").run()
    assert_clean(at)
    assert_continuous(figure_spec(at), "ink")
    # a residual needs a head first: said, and class colours meanwhile
    at.segmented_control(key=state.PROJ_COLOUR).set_value("residual").run()
    assert "needs a regression head on ink" in texts(at)
    # class-only views say so instead of breaking
    show(at, "Confusion")
    assert "is for classes" in texts(at)
    # train ridge: R², MAE against the mean baseline
    show(at, "Train a head")
    assert len(at.segmented_control(key=state.REGRESSION_HEAD_TYPE).options) == 2
    assert at.segmented_control(key=state.REGRESSION_HEAD_TYPE).value == "ridge"
    assert "Fine-tuning the backbone is for classes only" in texts(at)
    at.button(key="FormSubmitter:regression_form-Train").click().run()
    assert_clean(at)
    r2 = [m for m in at.metric if m.label.startswith("R²")]
    assert r2 and float(r2[0].value) > 0.3, [m.value for m in at.metric]
    assert "Heads on this target (1)" in texts(at)
    # residual colouring now works, diverging around zero
    show(at, "Projections")
    marker = figure_spec(at)["data"][0]["marker"]
    assert marker["colorscale"] and marker["cmin"] == -marker["cmax"]
    # predicted vs actual with the identity line; select the worst corner
    show(at, "Regression")
    spec = figure_spec(at)
    assert any(trace.get("name") == "identity" for trace in spec["data"])
    head = at.session_state[results.RESULTS][tv_key].regression[_target_key(folder)].head
    target = datasets.full_dataset(str(folder)).target("ink").values
    errors = np.asarray(head.predictions) - target
    worst = np.argsort(-np.abs(errors))[:3]
    at.session_state[selection.REGRESSION_SELECTION] = selection.Selection(
        tv_key=tv_key, indices=np.sort(worst))
    at.run()
    assert_clean(at)
    assert "Selection: 3 images" in texts(at)
    captions = all_captions(at)
    for index in worst:
        assert any(f"error {errors[index]:+.3g}" in c for c in captions), (index, captions[:5])
    assert "Error per class" in texts(at)
    _selection_in_the_link(at, actual=target, predicted=np.asarray(head.predictions))
    _head_in_the_link(at, folder)
    # the target outliers, ranked
    at.toggle(key="regression_outliers").set_value(True).run()
    assert_clean(at)
    assert "values flagged" in texts(at)
    # back to the classes: classification as before on the same dataset
    at.selectbox(key=state.TARGET_CHOICE).set_value("__classes__").run()
    assert_clean(at)
    show(at, "Confusion")
    assert "Train a head first" in texts(at)


def _selection_in_the_link(at: AppTest, *, actual: np.ndarray, predicted: np.ndarray) -> None:
    """Predicted against actual's selection is in the link (`rsel=`): points set as picked
    go as their stored ids, a box drawn on the chart as its shape on the chart's grid; a new
    session opened on the link selects the same images and draws the box; a bad value is
    named in a note."""
    from dashboard.state import selection

    assert at.query_params["rsel"].startswith("ids:")
    xs = np.unique(actual)[len(actual) // 4:-len(actual) // 4]
    gap = int(np.argmax(np.diff(xs)))  # a box edge halfway across the middle's widest gap
    edge = float(xs[gap] + xs[gap + 1]) / 2
    right = np.flatnonzero(actual > edge)
    low, high = float(min(actual.min(), predicted.min())), float(predicted.max()) + 1
    select_on_chart(at, "regression_chart", box=[{"x": [edge, actual.max() + 1],
                                                  "y": [low - 1, high]}],
                    points=[{"customdata": [int(i), 0.0]} for i in right])
    assert_clean(at)
    assert f"Selection: {len(right)} images" in texts(at)
    assert at.query_params["rsel"].startswith("box:")

    def opened(rsel: str, **more: str) -> AppTest:
        linked = AppTest.from_file(APP, default_timeout=TIMEOUT)
        linked.query_params.update({**dict(at.query_params), "rsel": rsel, **more})
        linked.run()
        return show(linked, "Regression")

    linked = opened(at.query_params["rsel"])
    assert f"Selection: {len(right)} images" in texts(linked)
    assert np.array_equal(linked.session_state[selection.REGRESSION_SELECTION].indices, right)
    drawn = figure_spec(linked)["layout"]["selections"][0]  # in the chart's own units
    assert drawn["x0"] == pytest.approx(edge, rel=1e-3, abs=1e-3)
    assert linked.query_params["rsel"] == at.query_params["rsel"]
    bad = opened("lasso:1,2,3,4", rh="0" * 20)
    notes = " ".join(w.value for w in bad.warning)
    assert "`rsel=lasso:1,2,3,4`: a lasso is lasso:x0,y0,x1,y1,... with 3 to" in notes
    assert "nothing is selected" in notes and "Selection:" not in texts(bad)
    # the link's regression head (rh=), unknown here: named, and the best one is shown
    assert (f"`rh={'0' * 20}`: no regression head on this target has this key here; the "
            "best one is shown") in notes
    assert bad.query_params["rh"] == at.query_params["rh"]


def _head_in_the_link(at: AppTest, folder: Path) -> None:
    """The regression head shown is in the link (`rh=`, as `h=` for classes): a second head
    is trained and the one that is not the best is chosen; a new session on the link shows
    that one, not the best."""
    from core.datasets.registry import load_dataset
    from core.heads import best_head
    from dashboard import state
    from dashboard.state import results

    show(at, "Train a head")
    at.selectbox(key="hp_ridge_scaling").set_value("standardize")  # sent with the form
    at.button(key="FormSubmitter:regression_form-Train").click().run()
    assert_clean(at)
    assert "Heads on this target (2)" in texts(at)
    tv_key = at.session_state[state.TV_KEY]
    target = load_dataset(name=str(folder)).target("ink")
    best = best_head(tv_key=tv_key, target=target).key
    other = next(key for key in (at.query_params["rh"], *[b.key.removeprefix("head_use_")
                                 for b in at.button if b.key.startswith("head_use_")])
                 if key != best)
    if at.query_params["rh"] != other:
        at.button(key=f"head_use_{other}").click().run()
    assert at.query_params["rh"] == other

    linked = AppTest.from_file(APP, default_timeout=TIMEOUT)
    linked.query_params.update(dict(at.query_params))
    linked.run()
    assert_clean(linked)
    show(linked, "Regression")
    shown = linked.session_state[results.RESULTS][tv_key].regression[target.key]
    assert shown.key == other != best
    assert linked.query_params["rh"] == other
    show(at, "Regression")


def _target_key(folder: Path) -> str:
    from core.datasets.registry import load_dataset

    return load_dataset(name=str(folder)).target("ink").key


@pytest.mark.parametrize("header, bad_row, words", [
    ("file,ink,width", None, "has no 'path' column"),
    ("path,ink,width", "digit_0/img_02.png,n/a,3", "'ink' is 'n/a', not a number"),
    ("path,ink,width", "digit_0/img_02.png,,3", "missing or not finite"),
    ("path,ink,width", "digit_0/nope.png,0.3,3", "nope.png"),
])
def test_bad_targets_file_is_a_message(tmp_path, tiny_backbone, monkeypatch, header, bad_row,
                                       words) -> None:
    folder = write_folder(tmp_path / "bad", bad_row=bad_row, header=header)
    monkeypatch.setenv("TRANSFER_LENS_DATASET", str(folder))
    monkeypatch.setenv("TRANSFER_LENS_BACKBONE", tiny_backbone)
    monkeypatch.setenv("TRANSFER_LENS_IMAGE_SIZE", "32")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    messages = [str(e.value) for e in at.error]
    assert any(words in m and "targets.csv" in m for m in messages), messages
    assert not any("Technical details" in str(e.label) for e in at.expander)
    # nothing else lost: the sidebar still offers every dataset, another one opens
    at.selectbox(key="dataset_choice").set_value("digits").run()
    settle(at)
    assert "**digits**" in texts(at)


def test_a_regression_head_in_every_view_export_inspect_sidebar_delete(
        folder, tiny_backbone, monkeypatch, tmp_path) -> None:
    """With a target chosen the regression head is the one the sidebar names, Inspect
    predicts with, Export writes (values with the target and the prediction, the head, the
    end-to-end model that outputs the number) and Train lists with a delete button."""
    import pandas as pd

    from core.datasets.registry import load_dataset
    from dashboard import state
    from dashboard.state import results

    at = open_app(dataset=str(folder), backbone=tiny_backbone, monkeypatch=monkeypatch)
    at.selectbox(key=state.TARGET_CHOICE).set_value("ink").run()
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Head on **ink**: none trained yet" in sidebar
    show(at, "Train a head")
    at.button(key="FormSubmitter:regression_form-Train").click().run()
    assert_clean(at)
    tv_key = at.session_state[state.TV_KEY]
    record = at.session_state[results.RESULTS][tv_key].regression[_target_key(folder)]
    head = record.head
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Head on **ink**: **ridge**" in sidebar and "R²" in sidebar

    # Inspect: the given value, the head's prediction and its error
    show(at, "Inspect")
    at.number_input(key=state.INSPECT_INDEX).set_value(5).run()
    assert_clean(at)
    data = load_dataset(name=str(folder))
    given = float(data.target("ink").values[5])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Given ink"] == f"{given:.4g}"
    assert metrics["Predicted (ridge)"] == f"{float(head.predictions[5]):.4g}"

    # Export: the values with the target and the prediction, and the end-to-end model
    show(at, "Export")
    assert "returns the predicted ink" in " ".join(c.value for c in at.caption)
    at.radio(key="export_values_fmt").set_value("parquet").run()
    at.button(key=f"create_values_parquet_{head.key}").click().run()
    assert_clean(at)
    written = list((tmp_path / "cache" / "exports").rglob("*.parquet"))
    assert len(written) == 1
    frame = pd.read_parquet(written[0])
    np.testing.assert_allclose(frame["predicted_ink"], head.predictions, rtol=1e-6)
    assert {"ink", "sample_id", "f0"} <= set(frame.columns)
    at.button(key=f"create_model_{record.token}").click().run()
    assert_clean(at)
    model_file = next((tmp_path / "cache" / "exports").rglob("*ink_ridge_model.keras"))
    import keras

    import core.backbones.layers  # noqa: F401  registers the preprocessing layer

    model = keras.saving.load_model(model_file, safe_mode=True)
    rows = np.arange(6)
    images = np.stack([data.images.get(int(i)) for i in rows])  # same-size PNGs
    out = np.asarray(model(images, training=False)).reshape(-1)
    np.testing.assert_allclose(out, np.asarray(head.predictions)[rows], rtol=1e-3, atol=1e-4)

    # Train: delete it (after the confirmation); nothing is shown for the target then
    show(at, "Train a head")
    at.button(key=f"head_delete_{head.key}").click().run()
    assert "Delete this head from the cache?" in texts(at)
    at.button(key=f"head_delete_yes_{head.key}").click().run()
    assert_clean(at)
    assert "Heads on this target (0)" in texts(at)
    assert "Deleted the head" in texts(at)
    show(at, "Regression")
    assert "Train a regression head on **ink** first" in texts(at)


def test_a_target_colouring_above_the_point_limit_is_a_density_image(
        folder, tiny_backbone, monkeypatch) -> None:
    """Above map_figures.POINTS_UP_TO a target colours the density picture (each pixel its
    points' mean) under a coloured sample, as the class colourings do, not every point."""
    from dashboard import state
    from dashboard.ui import map_figures

    monkeypatch.setattr(map_figures, "POINTS_UP_TO", 40)  # the folder holds 90 images
    monkeypatch.setattr(map_figures, "SAMPLE_POINTS", 20)
    at = open_app(dataset=str(folder), backbone=tiny_backbone, monkeypatch=monkeypatch)
    at.selectbox(key=state.TARGET_CHOICE).set_value("ink").run()
    at.segmented_control(key=state.PROJ_COLOUR).set_value("target").run()
    assert_clean(at)
    spec = figure_spec(at)
    assert spec["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    assert_continuous(spec, "ink")
    shown = sum(len(np.frombuffer(__import__("base64").b64decode(t["customdata"]["bdata"]),
                                  np.uint32)) for t in spec["data"])
    assert shown == 20  # the sample, not the 90 images
    at.segmented_control(key=state.PROJ_COLOUR).set_value("class").run()
    assert not figure_spec(at)["layout"]["images"][0]["source"] == \
        spec["layout"]["images"][0]["source"]  # the picture follows the colouring
