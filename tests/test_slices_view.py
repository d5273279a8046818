"""The Error slices view (issue 30) driven headless with AppTest on digits and the tiny test
backbone: no head yet, the slices of a cross-fitted head, a map selection scored as a slice,
class activation maps in its gallery, Failures and Inspect, and the public bounds."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import (APP, TIMEOUT, all_captions, assert_clean,  # noqa: E402
                                   metric, select_on_chart, show, show_path, shown, texts)

pytestmark = pytest.mark.slow  # the whole app (AppTest)


def test_error_slices_view(app: AppTest, tiny_backbone, monkeypatch, tmp_path) -> None:
    from core.analysis.projections import compute_projection
    from core.base import public
    from core.base.errors import TransferLensError
    from dashboard.state.selection import Selection
    from dashboard.ui.map_figures import display_coords

    # no head yet: say so, with a button to the Train view
    show_path(app, "slices")
    assert "Train a head first: error slices needs a classifier" in texts(app)
    app.button(key="goto_train_slices").click().run()
    assert shown(app) == "Train a head"

    show(app, "Data quality")
    app.button(key="find_issues").click().run()  # a 5-fold cross-fitted logreg, made active
    assert_clean(app)
    show_path(app, "slices")
    page = texts(app)
    assert "all 1,797 images (the head was cross-fitted" in page
    tv_key = app.session_state["tv_key"]
    head = app.session_state["results"][tv_key].head.head
    # the view lists what core finds for the same head
    tv, given, expected = _core_slices(tiny_backbone, head)
    assert tv.key == tv_key and len(expected) > 0
    found = re.search(r"\*\*(\d+) error slices?\*\* among ([\d,]+) candidate groups", page)
    assert found and int(found.group(1)) == len(expected)
    top = expected.slices[0]
    # the top slice is shown first: its accuracy next to the rest's, its images (ids + labels)
    assert app.segmented_control(key="slice_focus").value == "1"
    assert metric(app, "Accuracy in it") == f"{top.accuracy:.1%}"
    assert metric(app, "Accuracy elsewhere") == f"{top.rest_accuracy:.1%}"
    assert top.description in page
    captions = all_captions(app)
    assert len(captions) == min(top.size, 24)
    assert all(re.fullmatch(r"digits/\d{4} · \d (✓|→ \d)", c) for c in captions), captions[:3]
    assert _highlighted(app) == top.size  # its members drawn over the map

    # class activation maps over the gallery: the same images, blended
    app.toggle(key="slice_gallery_cam").set_value(True).run()
    assert_clean(app)
    assert "Maps of the predicted class" in texts(app)
    assert all_captions(app) == captions
    app.segmented_control(key="slice_gallery_cam_which").set_value("given").run()
    assert "Maps of the given class" in texts(app)

    # a selection on the map (here: every image of class 8) is scored as a slice
    eights = np.flatnonzero(given == 8)
    app.session_state["selection"] = Selection(tv_key=tv_key, indices=eights)
    app.run()  # (as a box on the map does, see the browser test) now offered, then chosen
    app.segmented_control(key="slice_focus").set_value("selection").run()
    assert_clean(app)
    right = head.predictions == given
    assert metric(app, "Accuracy in it") == f"{right[eights].mean():.1%}"
    assert metric(app, "Accuracy elsewhere") == f"{np.delete(right, eights).mean():.1%}"
    assert (f"**Your selection** · {len(eights)} images, {int((~right[eights]).sum())} wrong"
            in texts(app))
    assert _highlighted(app) == len(eights)

    # the selection and the group shown are in the link: a selection set as points goes as
    # its stored ids, a box drawn on this map as its shape (the Projections map's grid)
    assert app.query_params["slice"] == "selection"
    assert app.query_params["sel"].startswith("ids:")
    grid = display_coords(np.asarray(compute_projection(tv=tv, method="pca").coords))
    left = np.flatnonzero(grid[:, 0] <= 30000)
    select_on_chart(app, "slice_chart", box=[{"x": [-10.0, 30000.5], "y": [0.0, 65535.0]}],
                    points=[{"customdata": [int(i), 0]} for i in left])
    assert app.query_params["sel"] == "box:0,30000,0,65535"
    linked = AppTest.from_file(APP, default_timeout=TIMEOUT)
    linked.query_params.update(dict(app.query_params))
    linked.run()
    show_path(linked, "slices")
    assert linked.segmented_control(key="slice_focus").value == "selection"
    assert f"**Your selection** · {len(left)} images" in texts(linked)
    assert np.array_equal(linked.session_state["selection"].indices, left)
    bad = AppTest.from_file(APP, default_timeout=TIMEOUT)
    bad.query_params.update({**dict(app.query_params), "slice": "99", "sel": "box:1,2"})
    bad.run()
    show_path(bad, "slices")
    notes = " ".join(w.value for w in bad.warning)
    assert "`sel=box:1,2`: a box is box:x0,x1,y0,y1, got 2 numbers; nothing is" in notes
    assert (f"`slice=99`: the slices here are 1 to {len(expected)}, and nothing is "
            "selected; showing Slice #1") in notes
    assert bad.segmented_control(key="slice_focus").value == "1"
    # a selection cleared (on Projections) leaves the link with neither
    show(app, "Projections")
    app.button(key="clear_selection").click().run()
    assert not {"sel", "slice"} & set(app.query_params)

    # Failures and Inspect have the same maps; a backbone without a conv map says so
    show(app, "Failures")
    app.toggle(key="fail_gallery_cam").set_value(True).run()
    assert_clean(app)
    assert "Maps of the predicted class" in texts(app)
    show(app, "Inspect")
    app.toggle(key="inspect_cam").set_value(True).run()
    assert_clean(app)
    strips = [list(i.captions) for i in app.image if list(i.captions)[:1] == ["image"]]
    assert len(strips) == 1 and [c.split(":")[0] for c in strips[0]] == ["image", "predicted",
                                                                          "given"]

    def no_conv_map(*_, **__):
        raise TransferLensError("backbone custom does not end in a global average pool")

    # a context, not monkeypatch.undo(): undo would also drop conftest's
    # TRANSFER_LENS_AUTO_RUNTIME, and the sidebar's "auto: …" option would change mid-test
    with monkeypatch.context() as patch:
        patch.setattr("core.serving.cam._dual_function", no_conv_map)
        app.number_input(key="inspect_index").set_value(5).run()
        assert ("This backbone cannot give class activation maps: backbone custom does not"
                in texts(app))

    # public: at most max_cam_images maps at once (a gallery page of 24 is over 4)
    policy = public.PublicPolicy(enabled=True, allow_fine_tuning=False, max_cam_images=4)
    monkeypatch.setattr(public, "policy", lambda: policy)
    # the maps above are cached: a fresh cache folder makes the page compute them under it
    monkeypatch.setenv("TRANSFER_LENS_CACHE", str(tmp_path / "public-cache"))
    show_path(app, "slices")
    app.segmented_control(key="slice_focus").set_value("1").run()
    warned = "\n".join(str(w.value) for w in app.warning)
    assert "not available in this public Transfer Lens" in warned and "limit of 4" in warned
    assert len(all_captions(app)) > 4  # the images still show, without maps


def _core_slices(backbone: str, head):
    """(tv, labels, core's slices of `head`) as `python -m core slices` finds them."""
    from core.analysis.slices import find_error_slices, image_statistics, out_of_sample_rows
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    dataset = load_dataset(name="digits")
    tv = compute_transfer_values(dataset=dataset, backbone=backbone, image_size=32)
    stats = image_statistics([dataset.images.get(i) for i in range(len(dataset))])
    rows = out_of_sample_rows(splits=tv.splits, cross_fit_folds=head.cross_fit_folds)
    return tv, np.asarray(tv.labels), find_error_slices(
        tv=tv, probabilities=head.probabilities, evaluated=rows, image_stats=stats)


def _highlighted(app: AppTest) -> int:
    """Points drawn large on the slices map (the highlighted group)."""
    import json

    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    return sum(_count(t["customdata"]) for t in spec["data"]
               if t["name"].startswith(("slice #", "your selection")))


def _count(data) -> int:
    """Items in a plotly array: a list, or a typed array {"dtype": "u4", "bdata": base64}."""
    import base64

    if isinstance(data, dict):
        return len(base64.b64decode(data["bdata"])) // 4
    return len(data)
