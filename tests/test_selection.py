"""Box and lasso selection resolved on the server over every point of a map."""

import numpy as np
import pytest

from core.analysis.selection import points_in_box, points_in_lasso, select_points
from tests.support.geometry import even_odd


@pytest.fixture
def coords():
    return np.random.default_rng(0).uniform(-2, 2, size=(3000, 2)).astype(np.float32)


def test_box_in_any_corner_order(coords):
    got = points_in_box(coords, x=[1.0, -0.5], y=[0.75, -1.0])
    want = np.flatnonzero((coords[:, 0] >= -0.5) & (coords[:, 0] <= 1)
                          & (coords[:, 1] >= -1) & (coords[:, 1] <= 0.75))
    np.testing.assert_array_equal(got, want)
    assert 0 < len(got) < len(coords)


@pytest.mark.parametrize("shape", ["square", "bowtie", "pentagram", "wiggle"])
def test_lasso_matches_an_even_odd_test_even_when_it_crosses_itself(coords, shape):
    t = np.linspace(0, 2 * np.pi, 5, endpoint=False) + np.pi / 2
    xs, ys = {
        "square": ([-1, 1, 1, -1], [-1, -1, 1, 1]),
        "bowtie": ([-1.5, 1.5, 1.5, -1.5], [-1, 1, -1, 1]),  # crosses itself at the origin
        "pentagram": (1.8 * np.cos(t[[0, 2, 4, 1, 3]]), 1.8 * np.sin(t[[0, 2, 4, 1, 3]])),
        "wiggle": (1.5 * np.cos(np.linspace(0, 2 * np.pi, 72)),
                   1.5 * np.sin(3 * np.linspace(0, 2 * np.pi, 72))),
    }[shape]
    got = points_in_lasso(coords, x=list(xs), y=list(ys))
    want = np.flatnonzero(even_odd(coords, list(xs), list(ys)))
    np.testing.assert_array_equal(got, want)
    assert 0 < len(got) < len(coords)
    if shape == "pentagram":  # the centre pentagon is crossed twice: outside, as in plotly
        centre = np.flatnonzero(np.hypot(coords[:, 0], coords[:, 1]) < 0.3)
        assert len(centre) and not np.isin(centre, got).any()


def test_select_points_unites_shapes_and_rejects_a_broken_lasso(coords):
    box = {"x": [-2, 0], "y": [-2, 0]}
    lasso = {"x": [0, 2, 2, 0], "y": [0, 0, 2, 2]}
    both = select_points(coords, boxes=[box], lassos=[lasso])
    np.testing.assert_array_equal(both, np.union1d(points_in_box(coords, **box),
                                                   points_in_lasso(coords, **lasso)))
    assert len(select_points(coords)) == 0
    with pytest.raises(ValueError, match="at least 3 vertices"):
        select_points(coords, lassos=[{"x": [0, 1], "y": [0, 1]}])


FORGED = {  # what a hand-written websocket message can put in a chart's selection event
    "a number": 5,
    "text as the selection": {"selection": "abc"},
    "points as text": {"selection": {"points": "abc"}},
    "a point that is a number": {"selection": {"points": [5]}},
    "a row past the data": {"selection": {"points": [{"customdata": [1e12]}]}},
    "a negative row": {"selection": {"points": [{"customdata": [-5]}]}},
    "NaN": {"selection": {"points": [{"customdata": [float("nan")]}]}},
    "null (NaN in plotly's JSON)": {"selection": {"points": [{"customdata": {"0": None}}]}},
    "infinity": {"selection": {"points": [{"customdata": [float("inf")]}]}},
    "an int too large for a float": {"selection": {"points": [{"customdata": [10 ** 400]}]}},
    "text as a row": {"selection": {"points": [{"customdata": ["7"]}]}},
    "an object as a row": {"selection": {"points": [{"customdata": [{"a": 1}]}]}},
    "keys that are not positions": {"selection": {"points": [{"customdata": {"x": 1}}]}},
    "too few numbers": {"selection": {"points": [{"customdata": [1]}]}},
    "too many points": {"selection": {"points": [{"customdata": [1, 1]}] * 300_001}},
    "a box of one corner": {"selection": {"box": [{"x": [1], "y": [1, 2]}]}},
    "a box of text": {"selection": {"box": [{"x": ["a", "b"], "y": [0, 1]}]}},
    "a two-vertex lasso": {"selection": {"lasso": [{"x": [1, 2], "y": [1, 2]}]}},
    "a lasso of NaN": {"selection": {"lasso": [{"x": [1, 2, float("nan")], "y": [1, 2, 3]}]}},
    "too many shapes": {"selection": {"box": [{"x": [0, 1], "y": [0, 1]}] * 101}},
    "too many vertices": {"selection": {"lasso": [{"x": list(range(20_001)),
                                                   "y": list(range(20_001))}]}},
}


@pytest.mark.parametrize("name", FORGED)
def test_forged_chart_events_are_refused_with_a_message(name):
    """Every bad event is a ChartEventError (a clear message, never an unexpected error),
    whose text repeats nothing the sender wrote."""
    from core.analysis.chart_events import ChartEventError, checked_selection

    with pytest.raises(ChartEventError, match="The chart sent a selection") as refused:
        checked_selection(FORGED[name], limits=(600, 10))
    assert "abc" not in str(refused.value) and "{" not in str(refused.value)


def test_chart_events_as_plotly_sends_them():
    """Rows as lists, typed-array rows ({"0": a, "1": b}) and scalars; points without
    customdata left out; later columns may be null; shapes kept as finite floats."""
    from core.analysis.chart_events import checked_selection

    event = {"selection": {
        "points": [{"customdata": [3.0, 2, None]}, {"customdata": {"1": 1.0, "0": 599}},
                   {"point_index": 10 ** 9}, {"customdata": 7, "x": 1}],
        "point_indices": [10 ** 9], "box": [{"x": [1, 2.5], "y": [0, 5], "xref": "x"}],
        "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}]}}
    picked = checked_selection(event, limits=(600,))
    assert picked.rows.tolist() == [3, 599, 7]
    assert picked.boxes == ({"x": [1.0, 2.5], "y": [0.0, 5.0]},) and len(picked.lassos) == 1
    cells = checked_selection({"selection": {"points": [{"customdata": [3, 2, 1]}]}},
                              limits=(10, 10))
    assert cells.values.tolist() == [[3, 2]]
    assert not len(checked_selection(None, limits=(5,)).rows)
    assert not len(checked_selection({"selection": {"points": [], "box": [], "lasso": []}},
                                     limits=(5,)).rows)
