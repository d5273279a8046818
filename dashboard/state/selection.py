"""Points picked on the maps (the projection, predicted-vs-actual), the density map's zoom
and the chosen image, each valid for one set of transfer values; a chart's selection event,
checked by core before any of it is used."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import streamlit as st

from core.analysis.chart_events import ChartSelection, checked_selection
from core.analysis.selection_link import grid_region, zoom_link
from core.base.errors import TransferLensError

SELECTION = "selection"
REGRESSION_SELECTION = "regression_selection"  # picked on predicted-vs-actual (a Selection)
CHOSEN_IMAGE = "chosen_image"
PROJ_ZOOM = "proj_zoom"  # (projection key, x range, y range) of a zoomed density map
CHART_NOTE = "chart_note"  # why a chart's last selection event was refused (shown once)


@dataclass
class Selection:
    """Sample indices picked on the projection, valid for one set of transfer values."""

    tv_key: str
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # the box/lasso's bounding box on the map (display units): what "Zoom to selection" shows
    region: tuple | None = None
    drawn: str | None = None  # "box" or "lasso" when the user drew one (it may catch nothing)
    # in the link: its `sel=` value (core.analysis.selection_link), the projection its shapes
    # are on, and whether it came from a link (the map then draws it: plotly did not)
    link: str | None = None
    drawn_on: str | None = None
    from_link: bool = False


def _indices(key: str, tv_key: str) -> np.ndarray:
    stored: Selection | None = st.session_state.get(key)
    if stored is None or stored.tv_key != tv_key:
        return np.zeros(0, dtype=np.int64)
    return stored.indices


# --- the projection's selection ---

def selection(tv_key: str) -> np.ndarray:
    return _indices(SELECTION, tv_key)


def set_selection(tv_key: str, indices: Iterable[int], region: tuple | None = None,
                  drawn: str | None = None, *, link: str | None = None,
                  drawn_on: str | None = None, from_link: bool = False) -> None:
    array = np.unique(np.asarray(indices if isinstance(indices, np.ndarray) else list(indices),
                                 dtype=np.int64))
    st.session_state[SELECTION] = Selection(tv_key=tv_key, indices=array, region=region,
                                            drawn=drawn, link=link, drawn_on=drawn_on,
                                            from_link=from_link)


def stored_selection(tv_key: str, key: str = SELECTION) -> Selection | None:
    """The projection's selection on these values (or the one under `key`, e.g.
    REGRESSION_SELECTION), with its link value (None: none)."""
    stored: Selection | None = st.session_state.get(key)
    return stored if stored is not None and stored.tv_key == tv_key else None


def selection_link(tv_key: str, key: str = SELECTION) -> str | None:
    """The selection's link value (`sel=`, or `rsel=` for REGRESSION_SELECTION), or None."""
    stored = stored_selection(tv_key, key)
    return None if stored is None else stored.link


def empty_shape(tv_key: str) -> str | None:
    """"box" or "lasso" when the last one drawn on this map caught no point, else None."""
    stored: Selection | None = st.session_state.get(SELECTION)
    if stored is None or stored.tv_key != tv_key or len(stored.indices):
        return None
    return stored.drawn


def selection_region(tv_key: str) -> tuple | None:
    """((x0, x1), (y0, y1)) around the current box/lasso selection, if there is one."""
    stored: Selection | None = st.session_state.get(SELECTION)
    return None if stored is None or stored.tv_key != tv_key else stored.region


def clear_selection() -> None:
    st.session_state.pop(SELECTION, None)


def zoom(projection_key: str) -> tuple | None:
    """The region of this map the density view is zoomed into, or None for all of it."""
    stored = st.session_state.get(PROJ_ZOOM)
    return stored[1] if stored and stored[0] == projection_key else None


def set_zoom(projection_key: str, region: tuple | None) -> None:
    """Zoom this map into `region`, on the map's grid (as the link holds it: a link opens
    the same picture), or back to all of it (None)."""
    region = None if region is None else grid_region(region)
    if region is None:
        st.session_state.pop(PROJ_ZOOM, None)
    else:
        st.session_state[PROJ_ZOOM] = (projection_key, region)


def keep_zoom_of(projection_key: str | None) -> None:
    """Drop a zoom of another map than `projection_key` (None: no density map is shown): it
    is not what the page shows, so the link must not name it."""
    stored = st.session_state.get(PROJ_ZOOM)
    if stored and stored[0] != projection_key:
        st.session_state.pop(PROJ_ZOOM, None)


def zoom_link_value() -> str | None:
    """The density map's zoom as its link value (`zoom=`), or None for the whole map."""
    stored = st.session_state.get(PROJ_ZOOM)
    return None if not stored else zoom_link(stored[1])


# --- predicted vs actual (regression) ---

def regression_selection(tv_key: str) -> np.ndarray:
    return _indices(REGRESSION_SELECTION, tv_key)


def set_regression_selection(tv_key: str, indices: Iterable[int], *, drawn: str | None = None,
                             link: str | None = None, drawn_on: str | None = None,
                             from_link: bool = False) -> None:
    array = np.unique(np.asarray(list(indices), dtype=np.int64))
    st.session_state[REGRESSION_SELECTION] = Selection(
        tv_key=tv_key, indices=array, drawn=drawn, link=link, drawn_on=drawn_on,
        from_link=from_link)


def clear_regression_selection() -> None:
    st.session_state.pop(REGRESSION_SELECTION, None)


# --- the chosen image (its neighbours, Inspect) ---

def chosen_image(tv_key: str) -> int | None:
    """The sample whose neighbours (and inspection) the user asked for."""
    stored = st.session_state.get(CHOSEN_IMAGE)
    if not stored or stored[0] != tv_key:
        return None
    return stored[1]


def choose_image(tv_key: str, index: int) -> None:
    st.session_state[CHOSEN_IMAGE] = (tv_key, int(index))


def forget_image() -> None:
    st.session_state.pop(CHOSEN_IMAGE, None)


def choose_image_from(tv_key: str, widget_key: str) -> None:
    """on_change callback: the image a widget (selectbox, number input) now shows."""
    choose_image(tv_key, st.session_state[widget_key])


# --- a chart's selection event ---

def chart_event(chart_key: str, *, limits: Sequence[int]) -> ChartSelection | None:
    """The selection event of the chart `chart_key` (its on_select callback runs before the
    page), checked by core (core.analysis.chart_events: `limits` bound each customdata number
    its points carry); None, with a note for take_chart_note, when no chart could send it."""
    try:
        return checked_selection(st.session_state.get(chart_key), limits=limits)
    except TransferLensError as error:
        st.session_state[CHART_NOTE] = str(error)
        return None


def take_chart_note() -> str | None:
    """Why the last selection event was refused, once (the view shows it by its chart)."""
    return st.session_state.pop(CHART_NOTE, None)
