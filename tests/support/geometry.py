"""A point-in-polygon reference written independently of core.analysis.selection."""

from __future__ import annotations

import numpy as np


def even_odd(points: np.ndarray, xs, ys) -> np.ndarray:
    """Point in polygon by counting edge crossings of a ray to +x (the even-odd rule), so a
    self-crossing lasso leaves the doubly enclosed parts outside; a mask over `points`."""
    inside = np.zeros(len(points), dtype=bool)
    px, py = points[:, 0], points[:, 1]
    for i in range(len(xs)):
        x0, y0, x1, y1 = xs[i - 1], ys[i - 1], xs[i], ys[i]
        crosses = (y0 > py) != (y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            at_x = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < at_x)
    return inside
