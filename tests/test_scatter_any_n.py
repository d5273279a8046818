"""The scatter at any N: the light wire format below map_figures.POINTS_UP_TO, the density image
above it (with a tiny threshold on digits), box and lasso selections resolved on the server
over every point, and zoom to selection."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import assert_clean, select_on_chart, texts  # noqa: E402
from tests.support.geometry import even_odd  # noqa: E402


# --- unit: aggregation and wire format ---

def test_categorical_image_counts_every_point_and_blends_per_class() -> None:
    from core.analysis.density_image import categorical_image

    # class 0 fills the left half, class 1 the right, both overlap in the middle column
    xs = np.repeat(np.array([0.5, 1.5, 2.5]), 100)
    coords = np.column_stack([xs, np.full_like(xs, 0.5)])
    codes = np.array([0] * 100 + [0] * 50 + [1] * 50 + [1] * 100)
    image = categorical_image(coords=coords, codes=codes, colours=["#ff0000", "#0000ff"],
                              x_range=(0, 3), y_range=(0, 1), width=3, height=1)
    assert image.points == 300 and image.rgba.shape == (1, 3, 4)
    left, middle, right = image.rgba[0]
    assert left[0] == 255 and left[2] == 0  # pure red
    assert right[2] == 255 and right[0] == 0  # pure blue
    assert 100 < middle[0] < 155 and 100 < middle[2] < 155  # an even blend
    # a point code -1 (a hidden entry) is not drawn
    hidden = categorical_image(coords=coords, codes=np.where(codes == 1, -1, codes),
                               colours=["#ff0000", "#0000ff"], x_range=(0, 3), y_range=(0, 1),
                               width=3, height=1)
    assert hidden.points == 150 and hidden.rgba[0, 2, 3] == 0


def test_continuous_image_is_the_mean_per_pixel_and_rows_run_top_down() -> None:
    from core.analysis.density_image import continuous_image

    coords = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 1.5]])
    image = continuous_image(coords=coords, values=np.array([0.0, 1.0, 1.0]),
                             colour_scale=["#000000", "#ffffff"], value_range=(0, 1),
                             x_range=(0, 1), y_range=(0, 2), width=1, height=2)
    top, bottom = image.rgba[0, 0], image.rgba[1, 0]
    assert tuple(top[:3]) == (255, 255, 255)  # y = 1.5, value 1, drawn in the top row
    assert 120 <= bottom[0] <= 135  # mean of 0 and 1


def test_light_wire_format_under_15_bytes_a_point() -> None:
    from dashboard.ui.map_figures import display_coords, projection_figure

    rng = np.random.default_rng(0)
    n = 20_000
    coords = rng.standard_normal((n, 2)).astype(np.float32)
    labels = rng.integers(0, 10, n)
    figure = projection_figure(coords=coords, labels=labels, splits=np.zeros(n, np.int8),
                               class_names=[str(i) for i in range(10)],
                               sample_ids=np.array([f"id{i}" for i in range(n)]),
                               colour="class", predictions=rng.integers(0, 10, n),
                               probabilities=rng.dirichlet(np.ones(10), n))
    wire = json.dumps(figure.to_dict())
    assert len(wire) / n <= 15, len(wire) / n
    assert "id17" not in wire  # no string per point
    # every point exactly once, its index in customdata[0], at its display position
    display = display_coords(coords)
    seen = []
    for trace in figure.data:
        index = np.asarray(trace.customdata)[:, 0]
        assert np.array_equal(np.column_stack([trace.x, trace.y]), display[index])
        assert np.all(labels[index] == labels[index[0]])
        seen.append(index)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(n))


def _hovers(figure) -> dict[int, str]:
    """Each point's hover as the browser writes it: {row: text}, from the trace's template
    with customdata (d3's `0Nd` zero-pads) or text filled in."""
    import re

    shown = {}
    for trace in figure.data:
        data = np.asarray(trace.customdata)
        for k in range(len(data)):
            row = data[k, 0] if data.ndim == 2 else data[k]
            text = trace.hovertemplate
            if trace.text is not None:
                text = text.replace("%{text}", trace.text[k])
            for slot in re.findall(r"%\{customdata\[1\](?::0\d+d)?\}", text):
                width = re.search(r"0(\d+)d", slot)
                text = text.replace(slot, f"{int(data[k, 1]):0{width.group(1) if width else 1}d}")
            assert "%{customdata" not in text, text
            shown.setdefault(int(row), text)
    return shown


def test_hover_names_each_point_by_its_sample_id() -> None:
    """The map's hover shows the id galleries and Inspect show (it said `sample #index`),
    for regular ids (a number in customdata) and file names (strings), on the scatter, the
    confidence colouring and a density map's sample."""
    from dashboard.ui.map_figures import density_figure, display_coords, projection_figure

    rng = np.random.default_rng(1)
    n = 400
    coords = rng.standard_normal((n, 2))
    labels = rng.integers(0, 3, n)
    regular = np.array([f"{'train' if i % 2 else 'test'}/{i * 7:05d}" for i in range(n)])
    files = np.array([f"cat {i}/IMG_{rng.integers(1e6)}<b>.jpg" if i % 3 else f"dog/{i}.png"
                      for i in range(n)])
    common = {"coords": coords, "labels": labels, "splits": np.zeros(n, np.int8),
              "class_names": ["a", "b", "c"], "predictions": rng.integers(0, 3, n),
              "probabilities": rng.dirichlet(np.ones(3), n)}
    from dashboard.ui.figures import escape

    for ids in (regular, files):
        for colour in ("class", "confidence"):
            shown = _hovers(projection_figure(sample_ids=ids, colour=colour, **common))
            assert sorted(shown) == list(range(n))
            for row, text in shown.items():
                assert f"<br>{escape(ids[row])}<" in text, (row, text)
                assert "#" not in text
    sample = np.arange(0, n, 3)
    display = display_coords(coords)
    figure = density_figure(image_png=b"", x_range=(0, 1), y_range=(0, 1),
                            full_range=((0, 1), (0, 1)), sample=sample,
                            sample_xy=display[sample], labels=labels,
                            splits=common["splits"], class_names=common["class_names"],
                            colour="class", n=n, sample_ids=regular)
    shown = _hovers(figure)
    assert sorted(shown) == sample.tolist()
    assert all(f"<br>{regular[row]}<" in text for row, text in shown.items())


def test_display_coords_span_the_grid() -> None:
    from dashboard.ui.map_figures import DISPLAY_STEPS, display_coords

    coords = np.array([[-2.0, 10.0], [2.0, 30.0], [0.0, 20.0]])
    display = display_coords(coords)
    assert display.dtype == np.uint16
    assert display.tolist() == [[0, 0], [DISPLAY_STEPS, DISPLAY_STEPS],
                                [round(DISPLAY_STEPS / 2), round(DISPLAY_STEPS / 2)]]


# --- AppTest: the density view with a tiny threshold ---

def _select(at: AppTest, *, box=(), lasso=(), points=()) -> AppTest:
    """Send a box, lasso or points selection event from the projection chart, then rerun."""
    return select_on_chart(at, "projection_chart", box=box, lasso=lasso, points=points)


def _figure(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def _display(tiny_backbone) -> np.ndarray:
    """The digits PCA map in display coordinates, as the app computed (cache hits)."""
    from core.analysis.projections import compute_projection
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values
    from dashboard.ui.map_figures import display_coords

    tv = compute_transfer_values(dataset=load_dataset(name="digits"), backbone=tiny_backbone,
                                 image_size=32)
    return display_coords(np.asarray(compute_projection(tv=tv, method="pca").coords))


@pytest.mark.slow  # the whole app (AppTest)
def test_density_view_selects_every_point_and_zooms(app: AppTest, tiny_backbone,
                                                    monkeypatch) -> None:
    from dashboard.ui import map_figures

    below = _figure(app)
    assert not below["layout"].get("images") and len(below["data"]) >= 10
    monkeypatch.setattr(map_figures, "POINTS_UP_TO", 500)
    monkeypatch.setattr(map_figures, "SAMPLE_POINTS", 200)
    app.run()
    assert_clean(app)
    figure = _figure(app)
    image = figure["layout"]["images"][0]
    assert image["source"].startswith("data:image/png;base64,")
    sampled = sum(len(trace["customdata"]["bdata"]) for trace in figure["data"])
    assert sampled < 1797 * 4  # a sample of points, not all 1,797
    assert "more than the browser draws smoothly" in texts(app)
    assert [t["name"] for t in figure["data"]] == [str(i) for i in range(10)]  # the legend

    display = _display(tiny_backbone).astype(float)
    # a box: exactly the points inside, edges included
    box = {"x": [20000.0, 45000.0], "y": [10000.0, 40000.0]}
    _select(app, box=[box])
    assert_clean(app)
    expected = np.flatnonzero((display[:, 0] >= 20000) & (display[:, 0] <= 45000)
                              & (display[:, 1] >= 10000) & (display[:, 1] <= 40000))
    assert 0 < len(expected) < 1797
    assert f"Selection: {len(expected):,} images" in texts(app)
    assert np.array_equal(app.session_state["selection"].indices, expected)

    # a self-intersecting lasso (a bow tie): the even-odd rule, as plotly's own lasso
    lasso = {"x": [5000.0, 60000.0, 60000.0, 5000.0], "y": [5000.0, 60000.0, 5000.0, 60000.0]}
    _select(app, lasso=[lasso])
    assert_clean(app)
    expected = np.flatnonzero(even_odd(display, lasso["x"], lasso["y"]))
    assert 0 < len(expected) < 1797
    assert np.array_equal(app.session_state["selection"].indices, expected)
    assert f"Selection: {len(expected):,} image" in texts(app)

    # zoom to the selection: the region re-aggregated at full detail, then back
    app.button(key="zoom_to_selection").click().run()
    assert_clean(app)
    zoomed = _figure(app)
    assert zoomed["layout"]["xaxis"]["range"] == [5000.0, 60000.0]
    assert zoomed["layout"]["images"][0]["source"] != image["source"]
    _zoom_in_the_link(app, zoomed)
    app.button(key="zoom_whole_map").click().run()
    assert _figure(app)["layout"]["xaxis"]["range"] == [0.0, float(map_figures.DISPLAY_STEPS)]
    assert "zoom" not in app.query_params

    # colour by split: the density picture and legend follow the colouring
    app.segmented_control(key="proj_colour").set_value("split").run()
    assert_clean(app)
    assert {t["name"] for t in _figure(app)["data"]} <= {"train", "val", "test"}


def _zoom_in_the_link(app: AppTest, zoomed: dict) -> None:
    """The density map's zoom is in the link (`zoom=`, on the map's grid): a new session on
    the link shows the same region, picture and selection; a bad value is named in a note
    and the whole map is shown."""
    from tests.support.apptest import APP, TIMEOUT

    assert app.query_params["zoom"] == "5000,60000,5000,60000"

    def opened(zoom: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update({**dict(app.query_params), "zoom": zoom})
        at.run()
        assert_clean(at)
        return at

    linked = opened(app.query_params["zoom"])
    shown = _figure(linked)
    for axis in ("xaxis", "yaxis"):
        assert shown["layout"][axis]["range"] == zoomed["layout"][axis]["range"]
    assert shown["layout"]["images"][0]["source"] == zoomed["layout"]["images"][0]["source"]
    assert linked.query_params["zoom"] == app.query_params["zoom"]
    assert np.array_equal(linked.session_state["selection"].indices,
                          app.session_state["selection"].indices)
    bad = opened("60000,5000,1,2")
    notes = " ".join(w.value for w in bad.warning)
    assert "`zoom=60000,5000,1,2`: a zoom needs x0 below x1" in notes
    assert "the whole map is shown" in notes and "zoom" not in bad.query_params
    assert _figure(bad)["layout"]["xaxis"]["range"] == [0.0, 65535.0]


@pytest.mark.slow  # the whole app (AppTest), four sessions
def test_selection_goes_in_the_link_and_a_link_opens_it(app: AppTest, tiny_backbone) -> None:
    """Issue 28 item 7: a box as its ranges, points picked one by one as stored ids; a link
    opens the selection (gallery and map), a bad value is named in a note, and clearing
    the selection clears it from the link."""
    from tests.support.apptest import APP, TIMEOUT

    display = _display(tiny_backbone).astype(float)
    expected = np.flatnonzero((display[:, 0] >= 20000) & (display[:, 0] <= 45000)
                              & (display[:, 1] >= 10000) & (display[:, 1] <= 40000))
    # with the points inside it, as the browser sends them: the box is in the link as its
    # shape only when it selects exactly those points
    _select(app, box=[{"x": [45000.4, 20000.0], "y": [10000.0, 40000.0]}],
            points=[{"customdata": [int(i), int(i)]} for i in expected])
    assert app.query_params["sel"] == "box:20000,45000,10000,40000"

    def opened(sel: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update({"ds": "digits", "bb": tiny_backbone, "px": "32", "sel": sel})
        at.run()
        assert_clean(at)
        return at

    linked = opened(app.query_params["sel"])
    assert f"Selection: {len(expected):,} images" in texts(linked)
    assert np.array_equal(linked.session_state["selection"].indices, expected)
    assert _figure(linked)["layout"]["selections"][0]["x0"] == 20000  # the map shows it
    assert linked.query_params["sel"] == "box:20000,45000,10000,40000"

    # points picked one by one: their ids stored server-side, the link holds the key
    _select(app, points=[{"customdata": [7, 7]}, {"customdata": [1500, 1500]}])
    key = app.query_params["sel"]
    assert key.startswith("ids:") and len(key) == 24
    linked = opened(key)
    assert linked.session_state["selection"].indices.tolist() == [7, 1500]
    assert "Selection: 2 images" in texts(linked)
    rings = [t for t in _figure(linked)["data"] if t["name"].startswith("selection from")]
    assert rings and "digits/" in rings[0]["hovertemplate"]

    # an unknown key, a hostile shape: a note names the value, nothing is selected
    for bad, says in (("ids:" + "0" * 20, "no selection is stored under this key"),
                      ("box:1,2,3,70000", "past the map's grid")):
        unknown = opened(bad)
        notes = " ".join(w.value for w in unknown.warning)
        assert f"`sel={bad}`" in notes and says in notes and "nothing is selected" in notes
        assert "Select points on the plot" in texts(unknown)
        assert "sel" not in unknown.query_params

    app.button(key="clear_selection").click().run()
    assert "sel" not in app.query_params
