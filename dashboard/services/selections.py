"""A map's selection in the link, one mechanism for every chart that selects images (the
projection, the Error slices map, predicted against actual): its boxes and lassos on the
map's grid (core.analysis.selection_link) when they select exactly those images there, else
their sample ids kept server-side (core.analysis.selection_store) in this session's
namespace: core's default locally, the session's own in a public app (as corrections and
exports are)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from core.analysis.selection import select_points
from core.analysis.selection_link import (LinkedSelection, ids_link, parse_link, parse_zoom,
                                         shapes_link)
from core.base.errors import ParameterError, TransferLensError
from dashboard.services.corrections import namespace
from dashboard.state import selection, url

if TYPE_CHECKING:
    from core.analysis.selection_store import StoredSelection
    from dashboard.services.workspace import Workspace


@dataclass(frozen=True)
class LinkedRows:
    """A link's selection, resolved: the rows, the decoded value and its text."""

    rows: np.ndarray
    linked: LinkedSelection
    value: str


def save(ws: Workspace, rows: np.ndarray) -> str:
    """Store the rows' sample ids; their key (`sel=ids:<key>`)."""
    from core.analysis.selection_store import save_selection

    return save_selection(tv=ws.tv, rows=rows, namespace=namespace())


def load(ws: Workspace, key: str) -> StoredSelection | None:
    """The rows stored under `key` here, or None when no selection has that key."""
    from core.analysis.selection_store import load_selection

    return load_selection(tv=ws.tv, key=key, namespace=namespace())


def link_value(ws: Workspace, rows, *, grid: np.ndarray | None = None,
               boxes: Sequence[dict] = (), lassos: Sequence[dict] = ()) -> str | None:
    """The link value of a selection of `rows`: its boxes and lassos (in the units of `grid`,
    the map's 0..GRID_STEPS positions of every row) when they select exactly these rows on
    it, else the rows' ids, stored; None for no rows, or more than the store holds."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if grid is not None and (boxes or lassos):
        text = shapes_link(boxes=boxes, lassos=lassos)
        if text is not None:
            linked = parse_link(text)
            # a hidden legend entry or a lasso's rounding can make the shape say more
            if np.array_equal(select_points(grid, boxes=linked.boxes, lassos=linked.lassos),
                              rows):
                return text
    if not len(rows):
        return None
    try:
        return ids_link(save(ws, rows))
    except TransferLensError:
        return None  # over the store's bounds: the link goes without the selection


def from_link(ws: Workspace, name: str, *, grid: np.ndarray) -> LinkedRows | None:
    """The rows the link's `name=` selection selects on the map at `grid`, taken once; None
    when the link has none, or when it cannot be used (then a note names it)."""
    value = url.take_url(name)
    if value is None:
        return None
    try:
        linked = parse_link(value)
        if linked.stored is None:
            return LinkedRows(select_points(grid, boxes=linked.boxes, lassos=linked.lassos),
                              linked, value)
        found = load(ws, linked.stored)
    except TransferLensError as error:
        url.reject_url(name, value, f"{error}; nothing is selected")
        return None
    if found is None:
        url.reject_url(name, value, "no selection is stored under this key here (stored "
                                    "selections belong to the machine, or in a public app the "
                                    "session, that made them); nothing is selected")
        return None
    if found.missing:
        url.reject_url(name, value, f"{found.missing:,} of its images are not among these "
                                    f"{ws.tv.n:,}; the other {len(found.rows):,} are selected")
    return LinkedRows(found.rows, linked, value)


def relink(ws: Workspace, stored: selection.Selection | None, *, drawn_on: str) -> None:
    """Keep a selection's link value true to what is selected: points picked one by one,
    or shapes drawn on another map than `drawn_on` (the method or head changed since), go
    as their ids, stored server-side."""
    if stored is None:
        return
    is_shape = stored.link is not None and not stored.link.startswith("ids:")
    if stored.link is not None and (not is_shape or stored.drawn_on == drawn_on):
        return
    stored.link, stored.drawn_on = link_value(ws, stored.indices), drawn_on


def region(boxes: Sequence[dict], lassos: Sequence[dict]) -> tuple | None:
    """((x0, x1), (y0, y1)) around every box and lasso, or None without any."""
    xs = [float(v) for shape in [*boxes, *lassos] for v in shape.get("x", [])]
    ys = [float(v) for shape in [*boxes, *lassos] for v in shape.get("y", [])]
    if not xs or not ys or min(xs) == max(xs) or min(ys) == max(ys):
        return None
    return (min(xs), max(xs)), (min(ys), max(ys))


def map_selection_from_link(ws: Workspace, *, grid: np.ndarray, projection_key: str) -> None:
    """The link's `sel=`, once, as the projection's selection (the Projections and the Error
    slices maps share it), resolved on the map at `grid` (the projection `projection_key`)."""
    found = from_link(ws, url.URL_SELECTION, grid=grid)
    if found is None:
        return
    linked = found.linked
    selection.set_selection(ws.tv.key, found.rows, region=region(linked.boxes, linked.lassos),
                            drawn=linked.drawn, link=found.value, drawn_on=projection_key,
                            from_link=True)
    selection.forget_image()


def map_zoom_from_link(*, projection_key: str, density: bool) -> None:
    """The link's `zoom=`, once, as the zoom of the 2-D map `projection_key` when it is a
    density map (`density`); a zoom of another map (the method changed since) is dropped."""
    selection.keep_zoom_of(projection_key if density else None)
    value = url.take_url(url.URL_ZOOM)
    if value is None:
        return
    if not density:
        url.reject_url(url.URL_ZOOM, value, "this map draws every point (scroll to zoom); "
                                            "the whole map is shown")
        return
    try:
        region = parse_zoom(value)
    except ParameterError as error:
        url.reject_url(url.URL_ZOOM, value, f"{error}; the whole map is shown")
        return
    selection.set_zoom(projection_key, region)
