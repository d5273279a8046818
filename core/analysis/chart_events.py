"""A chart's selection event as the browser sends it, checked before any use.

A plotly chart's selection reaches the server as JSON the browser (or anyone with a
websocket) wrote: `{"selection": {"points": [...], "box": [...], "lasso": [...]}}`, each point
carrying its customdata (the app puts the sample's row, or a confusion cell's classes, there).
Everything is bounded here before the app uses it: the number of points, shapes and lasso
vertices, the types, every number finite, every row or class inside the chart's range. A
forged event is refused with a message that repeats none of its text (only numbers this
module formats), never an unexpected error. Plotly's own `point_index` and `point_indices`
are not read (the app's figures carry what they mean in customdata).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.base.errors import ParameterError

# twice the most points the app draws as a scatter (150,000: dashboard.ui.map_figures), as a
# point may lie in two traces (its class and a ring over it)
MAX_POINTS = 300_000
MAX_SHAPES = 100  # boxes and lassos of one event (shift adds one per drag)
MAX_VERTICES = 20_000  # of every lasso of one event (one per mouse move of a long drag)
MAX_CUSTOM = 64  # numbers in a point's customdata (the app's figures carry a handful)
_NUMBER = (int, float)


class ChartEventError(ParameterError):
    """A chart's selection event is not one the chart can send."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"The chart sent a selection this page cannot use ({problem}); "
                         "nothing was changed. Select again on the chart.")


@dataclass(frozen=True)
class ChartSelection:
    """A checked selection event: `values` (points, len(limits)) whole numbers, each column
    within its limit; boxes and lassos as {"x": [...], "y": [...]} of finite floats."""

    values: np.ndarray
    boxes: tuple[dict, ...] = ()
    lassos: tuple[dict, ...] = ()

    @property
    def rows(self) -> np.ndarray:
        """The first customdata number of every point (the sample's row on the maps)."""
        return self.values[:, 0]


def checked_selection(event: Any, *, limits: Sequence[int]) -> ChartSelection:
    """The selection in `event` (a Streamlit plotly chart's state; None: nothing selected).

    `limits`: the exclusive upper bound of each leading customdata number the chart puts on
    its points (a map: (rows,); the confusion matrix: (classes, classes)); points without
    customdata (a trace that carries none) are left out. Raises ChartEventError."""
    if event is None:
        return ChartSelection(np.zeros((0, len(limits)), np.int64))
    if not isinstance(event, dict):
        raise ChartEventError(f"the event is a {_kind(event)}, not an object")
    selection = event.get("selection", {})
    if not isinstance(selection, dict):
        raise ChartEventError(f"its selection is a {_kind(selection)}, not an object")
    points = _list(selection.get("points"), "points", MAX_POINTS)
    boxes = _list(selection.get("box"), "boxes", MAX_SHAPES)
    lassos = _list(selection.get("lasso"), "lassos", MAX_SHAPES)
    if len(boxes) + len(lassos) > MAX_SHAPES:
        raise ChartEventError(f"{len(boxes) + len(lassos):,} boxes and lassos, over the limit "
                              f"of {MAX_SHAPES}")
    shapes = [_shape(box, "box", exactly=2) for box in boxes]
    lasso_shapes = [_shape(lasso, "lasso", exactly=None) for lasso in lassos]
    vertices = sum(len(lasso["x"]) for lasso in lasso_shapes)
    if vertices > MAX_VERTICES:
        raise ChartEventError(f"lassos of {vertices:,} vertices, over the limit of "
                              f"{MAX_VERTICES:,}")
    return ChartSelection(_values(points, limits), tuple(shapes), tuple(lasso_shapes))


def _kind(value: Any) -> str:
    """A JSON value's kind in words (never its text: a forged event must not write the page)."""
    return {dict: "object", list: "list", str: "text", bool: "true/false", int: "number",
            float: "number", type(None): "null"}.get(type(value), "value")


def _list(value: Any, what: str, limit: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ChartEventError(f"its {what} are a {_kind(value)}, not a list")
    if len(value) > limit:
        raise ChartEventError(f"{len(value):,} {what}, over the limit of {limit:,}")
    return value


def _finite(values: Any, what: str) -> list[float]:
    if not isinstance(values, list) or not all(type(v) in _NUMBER for v in values):
        raise ChartEventError(f"a {what}'s coordinates are not a list of numbers")
    floats = _floats(values)
    if floats is None or not all(math.isfinite(v) for v in floats):
        raise ChartEventError(f"a {what} has a coordinate that is not a finite number")
    return floats


def _floats(values: list) -> list[float] | None:
    """Numbers as floats; None when one is an integer too large for a float."""
    try:
        return [float(v) for v in values]
    except OverflowError:
        return None


def _shape(shape: Any, what: str, *, exactly: int | None) -> dict:
    """A box ({"x": [x0, x1], "y": [y0, y1]}) or lasso (x and y of equal length, at least 3)."""
    if not isinstance(shape, dict):
        raise ChartEventError(f"a {what} is a {_kind(shape)}, not an object")
    x, y = _finite(shape.get("x"), what), _finite(shape.get("y"), what)
    if exactly is not None and not len(x) == len(y) == exactly:
        raise ChartEventError(f"a {what} has {len(x)} x and {len(y)} y corners, not {exactly} "
                              f"each")
    if exactly is None and (len(x) != len(y) or len(x) < 3):
        raise ChartEventError(f"a {what} has {len(x)} x and {len(y)} y vertices, not the same "
                              f"number of at least 3")
    return {"x": x, "y": y}


def _values(points: list, limits: Sequence[int]) -> np.ndarray:
    """The leading customdata numbers of every point that carries customdata, checked."""
    width = len(limits)
    rows = []
    for number, point in enumerate(points, start=1):
        if not isinstance(point, dict):
            raise ChartEventError(f"point {number:,} is a {_kind(point)}, not an object")
        custom = _customdata(point.get("customdata"), number)
        if custom is None:
            continue
        if len(custom) < width:
            raise ChartEventError(f"point {number:,} carries {len(custom)} numbers, not "
                                  f"{width}")
        # null is NaN in plotly's JSON: refused below with the other non-finite numbers
        lead = [math.nan if v is None else v for v in custom[:width]]
        floats = _floats(lead) if all(type(v) in _NUMBER for v in lead) else None
        if floats is None:
            raise ChartEventError(f"point {number:,} carries customdata that is not numbers")
        rows.append(floats)
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), width)
    if not np.isfinite(values).all():
        number = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0]) + 1
        raise ChartEventError(f"point {number:,} carries a number that is not finite")
    whole = np.rint(values)
    for column, limit in enumerate(limits):
        bad = np.flatnonzero((whole[:, column] < 0) | (whole[:, column] >= limit))
        if len(bad):
            value = whole[bad[0], column]
            shown = f"{value:,.0f}" if abs(value) < 1e15 else f"{value:.3g}"
            raise ChartEventError(f"point {int(bad[0]) + 1:,} names {shown}, outside 0 to "
                                  f"{limit - 1:,}")
    return whole.astype(np.int64)


def _customdata(custom: Any, number: int) -> list | None:
    """A point's customdata as a list (None: it has none). Plotly sends a row of a typed
    array as {"0": a, "1": b} (JSON of a Float64Array), a plain list as [a, b], a scalar as
    a; NaN as null."""
    if custom is None:
        return None
    if isinstance(custom, dict):
        if len(custom) > MAX_CUSTOM or not all(
                isinstance(k, str) and k.isascii() and k.isdigit() and len(k) <= 2
                for k in custom):
            raise ChartEventError(f"point {number:,} carries customdata that is not a row of "
                                  f"numbers")
        custom = [custom[k] for k in sorted(custom, key=int)]
    elif not isinstance(custom, list):
        custom = [custom]
    if len(custom) > MAX_CUSTOM:
        raise ChartEventError(f"point {number:,} carries {len(custom):,} customdata values, "
                              f"over the limit of {MAX_CUSTOM}")
    return custom
