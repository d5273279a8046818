"""A map selection as a link value (`?sel=`): a box as its ranges, a lasso as its polygon,
or the key of a set of sample ids kept server-side (`core.analysis.selection_store`).

Coordinates are the map's own: the 0..GRID_STEPS grid a 2-D projection is drawn on
(`dashboard.ui.map_figures.display_coords` scales the projection's bounds onto it), so
they are integers already and the link resolves to the same points the browser selected
(`core.analysis.selection.select_points`). Forms, several shapes joined by `~`:

    box:x0,x1,y0,y1       lasso:x0,y0,x1,y1,...       ids:<store key>

Everything is bounded here before any work: the value's length, the number of shapes and
of a lasso's vertices, every coordinate.

A density map's zoom (`?zoom=`) is a region of the same grid, `x0,x1,y0,y1`, its ends on
grid lines (`grid_region` rounds a drawn region outwards), so the link shows what the
session showed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

from core.base.errors import ParameterError
from core.base.params import whole_number

GRID_STEPS = 65_535  # a 2-D map's coordinates run 0..GRID_STEPS (uint16)
MAX_LINK_CHARS = 1_500  # a longer selection goes to the store (URLs stay well under 2 KB)
MAX_SHAPES = 8
MAX_VERTICES = 1_000  # a lasso's, in a link or stored
SHAPE_SEPARATOR = "~"
_STORE_KEY = re.compile(r"^[0-9a-f]{20}$")  # core.base.hashing.hash_key's form
_WORD = re.compile(r"[A-Za-z0-9_-]{1,20}")  # a shape name a message may repeat


@dataclass(frozen=True)
class LinkedSelection:
    """A decoded link value: shapes (dicts with "x" and "y" lists, as in a plotly
    selection event) or the store key of a set of sample ids."""

    boxes: tuple[dict, ...] = ()
    lassos: tuple[dict, ...] = ()
    stored: str | None = None

    @property
    def drawn(self) -> str | None:
        """"lasso" or "box" for shapes (lasso when both), None for stored ids."""
        return "lasso" if self.lassos else "box" if self.boxes else None


def _grid(value: float) -> int:
    return int(min(max(round(float(value)), 0), GRID_STEPS))


def _inwards(ends) -> tuple[int, int]:
    low, high = sorted(float(v) for v in ends[:2])
    low, high = _grid(math.ceil(low)), _grid(math.floor(high))
    if low > high:
        raise ValueError("a box between two grid lines holds no grid point")
    return low, high


def shapes_link(*, boxes: Iterable[dict] = (), lassos: Iterable[dict] = ()) -> str | None:
    """The link value of these shapes (map grid coordinates clipped to the grid; a box's
    ends rounded inwards, a lasso's vertices to the nearest), or None when there is none,
    or it would be longer than MAX_LINK_CHARS, or has more than MAX_SHAPES shapes or
    MAX_VERTICES vertices, or numbers that are not finite (store the ids instead)."""
    boxes, lassos = list(boxes), list(lassos)
    if not boxes and not lassos or len(boxes) + len(lassos) > MAX_SHAPES:
        return None
    try:
        return _shapes_text(boxes, lassos)
    except (KeyError, TypeError, ValueError, OverflowError):  # not finite numbers: ids instead
        return None


def _shapes_text(boxes: list[dict], lassos: list[dict]) -> str | None:
    parts = []
    for box in boxes:
        # rounded inwards: the box holds exactly the grid points the drawn one held
        (x0, x1), (y0, y1) = _inwards(box["x"]), _inwards(box["y"])
        parts.append(f"box:{x0},{x1},{y0},{y1}")
    for lasso in lassos:
        points = [(_grid(x), _grid(y)) for x, y in zip(lasso["x"], lasso["y"])]
        # a mouse drag repeats grid positions: the same polygon without them
        points = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
        if len(points) > 1 and points[-1] == points[0]:
            points.pop()
        if len(points) < 3 or len(points) > MAX_VERTICES:
            return None
        parts.append("lasso:" + ",".join(f"{x},{y}" for x, y in points))
    text = SHAPE_SEPARATOR.join(parts)
    return text if len(text) <= MAX_LINK_CHARS else None


def ids_link(key: str) -> str:
    """The link value of a stored set of ids (`SelectionStore.save`'s key)."""
    if not _STORE_KEY.match(key):
        raise ParameterError(f"not a stored selection's key: {key!r}")
    return f"ids:{key}"


def parse_link(text: str) -> LinkedSelection:
    """Decode a `sel=` value. Raises ParameterError naming what is wrong and the form it
    should have; nothing is computed before the whole value passed its bounds."""
    text = str(text).strip()
    if not text:
        raise ParameterError("the selection is empty")
    if len(text) > MAX_LINK_CHARS:
        raise ParameterError(f"the selection is {len(text):,} characters, over "
                             f"{MAX_LINK_CHARS:,}")
    if text.startswith("ids:"):
        key = text[4:]
        if not _STORE_KEY.match(key):
            raise ParameterError("a stored selection's key is 20 hex digits (ids:<key>)")
        return LinkedSelection(stored=key)
    shapes = text.split(SHAPE_SEPARATOR)
    if len(shapes) > MAX_SHAPES:
        raise ParameterError(f"{len(shapes)} shapes, over {MAX_SHAPES}")
    boxes, lassos = [], []
    for shape in shapes:
        kind, _, numbers = shape.partition(":")
        if kind not in ("box", "lasso"):
            # named only when it is a plain word: the message goes on the page as markdown
            named = f"“{kind}”" if _WORD.fullmatch(kind) else "that"
            raise ParameterError(f"{named} is no shape: use box:…, lasso:… or ids:…")
        values = _numbers(numbers, kind)
        if kind == "box":
            if len(values) != 4:
                raise ParameterError(f"a box is box:x0,x1,y0,y1, got {len(values)} numbers")
            boxes.append({"x": values[:2], "y": values[2:]})
        elif kind == "lasso":
            if len(values) % 2 or not 6 <= len(values) <= 2 * MAX_VERTICES:
                raise ParameterError(f"a lasso is lasso:x0,y0,x1,y1,... with 3 to "
                                     f"{MAX_VERTICES:,} points, got {len(values)} numbers")
            lassos.append({"x": values[0::2], "y": values[1::2]})
    return LinkedSelection(boxes=tuple(boxes), lassos=tuple(lassos))


def _numbers(text: str, kind: str) -> list[float]:
    numbers = [whole_number(p, max_digits=5) for p in text.split(",")]
    if None in numbers:
        raise ParameterError(f"a {kind}'s coordinates are whole numbers from 0 to "
                             f"{GRID_STEPS:,}, separated by commas")
    values = [float(n) for n in numbers]
    if max(values) > GRID_STEPS:
        raise ParameterError(f"a coordinate of {max(values):,.0f} is past the map's grid "
                             f"(0 to {GRID_STEPS:,})")
    return values


def grid_region(region) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """((x0, x1), (y0, y1)) rounded outwards to the grid and clipped to it (a zoom shows at
    least what was selected), or None when it holds no area there or is not numbers."""
    try:
        ends = [sorted(float(v) for v in axis[:2]) for axis in region]
        (x0, x1), (y0, y1) = ((_grid(math.floor(low)), _grid(math.ceil(high)))
                              for low, high in ends)
    except (TypeError, ValueError, OverflowError):
        return None
    if x0 >= x1 or y0 >= y1:
        return None
    return (float(x0), float(x1)), (float(y0), float(y1))


def zoom_link(region) -> str | None:
    """The link value (`zoom=x0,x1,y0,y1`) of a zoom region, on the grid; None for none."""
    snapped = None if region is None else grid_region(region)
    if snapped is None:
        return None
    (x0, x1), (y0, y1) = snapped
    return f"{x0:.0f},{x1:.0f},{y0:.0f},{y1:.0f}"


def parse_zoom(text: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Decode a `zoom=` value into the region it shows. Raises ParameterError naming what is
    wrong and the form it should have."""
    text = str(text).strip()
    if len(text) > 4 * 6:  # four 5-digit numbers and their commas
        raise ParameterError("a zoom is x0,x1,y0,y1 on the map's grid")
    values = _numbers(text, "zoom")
    if len(values) != 4:
        raise ParameterError(f"a zoom is x0,x1,y0,y1, got {len(values)} numbers")
    if values[0] >= values[1] or values[2] >= values[3]:
        raise ParameterError("a zoom needs x0 below x1 and y0 below y1")
    return (values[0], values[1]), (values[2], values[3])
