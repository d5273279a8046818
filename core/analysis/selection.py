"""Which points of a 2-D map a box or lasso selects, resolved over every point on the server.

Streamlit returns a plotly selection's geometry (box corners, lasso vertices) with the event,
so a map drawn as an aggregated image — where the browser holds only a sample of the points —
is still selected exactly. A lasso that crosses itself follows the even-odd rule, as plotly's
own lasso does (`matplotlib.path.Path.contains_points`, a crossing-number test).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def points_in_box(coords: np.ndarray, *, x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    """Indices of the points inside the axis-aligned box spanned by x = [x0, x1], y = [y0, y1]
    (corners in any order, edges included)."""
    xs, ys = np.asarray(coords[:, 0]), np.asarray(coords[:, 1])
    (x0, x1), (y0, y1) = sorted(map(float, x)), sorted(map(float, y))
    return np.flatnonzero((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1))


def points_in_lasso(coords: np.ndarray, *, x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    """Indices of the points inside the closed polygon with vertices (x[i], y[i])."""
    from matplotlib.path import Path

    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"a lasso needs at least 3 vertices with x and y each, got "
                         f"{len(x)} x and {len(y)} y")
    vertices = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    xy = np.asarray(coords[:, :2])
    # only points in the lasso's bounding box go through the polygon test
    candidates = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0])
                                & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    inside = Path(vertices, closed=False).contains_points(xy[candidates])
    return candidates[inside]


def select_points(coords: np.ndarray, *, boxes: Iterable[dict] = (),
                  lassos: Iterable[dict] = ()) -> np.ndarray:
    """Sorted indices of the points any of the boxes or lassos selects; each shape is a dict
    with "x" and "y" lists, as in a Streamlit plotly selection event."""
    parts = [points_in_box(coords, x=box["x"], y=box["y"]) for box in boxes]
    parts += [points_in_lasso(coords, x=lasso["x"], y=lasso["y"]) for lasso in lassos]
    if not parts:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(parts)).astype(np.int64)
