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
