"""Plotly figures of the projection maps. Presentation only: every number drawn comes from
`core`.

Scatter plots up to POINTS_UP_TO points: WebGL traces of uint16 grid positions, the sample
index as uint32 `customdata` (base64 typed arrays), one hover template per trace. The hover
names a point by its sample id, the name galleries and Inspect show (`hover_ids`): ids that
are a fixed text around a number (`train/00024`) go as that number in a second uint32
customdata column, formatted back by the trace's template; other ids as one string per point. Larger 2-D maps: a server-side density image of every point under a sample
of real points (`density_figure`). Numbers (confidence, a target, a residual) colour a map
through a `ContinuousColouring`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from core.analysis.selection_link import GRID_STEPS
from dashboard.ui.figures import escape, marker_size, palette
from dashboard.ui.hover_ids import ID_SLOT, hover_ids

CORRECT_COLOUR, WRONG_COLOUR = "#adb5bd", "#e03131"
PAIR_TRACES_UP_TO = 20  # classes; beyond, (true, predicted) pairs would mean too many traces
POINTS_UP_TO = 150_000  # 2-D maps with more points are drawn as a server-side density image
DISPLAY_STEPS = GRID_STEPS  # 2-D maps are sent as uint16 grid positions (2 bytes each)
SAMPLE_POINTS = 3_000  # real points drawn over a density image, for hover and legend


def display_coords(coords: np.ndarray) -> np.ndarray:
    """A 2-D map's coordinates as uint16 positions on a 0..DISPLAY_STEPS grid over its bounds.

    Axes carry no ticks, so only relative positions matter; at 1/65,535 of the extent the
    rounding is far below a pixel. The server resolves box and lasso selections against
    these same values, so it agrees with what the browser draws point for point.
    """
    xy = np.asarray(coords[:, :2], dtype=np.float64)
    lo, span = _grid_frame(xy)
    return np.rint((xy - lo) / span * DISPLAY_STEPS).astype(np.uint16)


def _grid_frame(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return lo, np.where(hi > lo, hi - lo, 1.0)


def shapes_on_grid(shapes, coords: np.ndarray, *, back: bool = False) -> list[dict]:
    """Boxes or lassos (dicts of "x" and "y" lists) drawn on a chart of `coords` in its own
    units, on the grid `display_coords(coords)` puts its points (`back`: grid to units), so
    a chart with real axes (predicted against actual) has its selection in the link too."""
    lo, span = _grid_frame(np.asarray(coords[:, :2], dtype=np.float64))
    scale = span / DISPLAY_STEPS
    if back:
        return [{"x": [lo[0] + float(v) * scale[0] for v in shape["x"]],
                 "y": [lo[1] + float(v) * scale[1] for v in shape["y"]]} for shape in shapes]
    return [{"x": [(float(v) - lo[0]) / scale[0] for v in shape["x"]],
             "y": [(float(v) - lo[1]) / scale[1] for v in shape["y"]]} for shape in shapes]


def colour_groups(*, labels: np.ndarray, splits: np.ndarray, class_names: Sequence[str],
                  colour: str, predictions: np.ndarray | None = None,
                  split_names: Sequence[str] = ()) -> list[tuple[str, str, np.ndarray]]:
    """(legend entry, colour, member mask) per category of a categorical colouring.

    A continuous colouring (confidence, and the regression colourings) has no groups: its
    caller draws values through a colour scale instead (`ContinuousColouring`).
    """
    names = list(class_names)
    colours = palette(len(names))
    if colour == "predicted" and predictions is not None:
        return [(f"predicted {name}", colours[c], predictions == c) for c, name in enumerate(names)]
    if colour == "correct" and predictions is not None:
        return [("correct", CORRECT_COLOUR, predictions == labels),
                ("wrong", WRONG_COLOUR, predictions != labels)]
    if colour == "split":
        split_colours = ("#4c6ef5", "#fab005", "#12b886")
        return [(split, split_colours[code], splits == code)
                for code, split in enumerate(split_names)]
    return [(name, colours[c], labels == c) for c, name in enumerate(names)]


VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


class ContinuousColouring:
    """Values drawn through a colour scale: a name for the colour bar, a value range and a
    hover format. Confidence is one; a regression target or residual plugs in the same way."""

    def __init__(self, *, name: str, values: np.ndarray, value_range: tuple[float, float],
                 colour_scale: Sequence[str] = VIRIDIS,
                 tick_format: str = ".0%") -> None:
        self.name, self.values, self.value_range = name, np.asarray(values), value_range
        self.colour_scale, self.tick_format = list(colour_scale), tick_format


def projection_figure(*, coords: np.ndarray, labels: np.ndarray, splits: np.ndarray,
                      class_names: Sequence[str], sample_ids: np.ndarray, colour: str,
                      predictions: np.ndarray | None = None,
                      probabilities: np.ndarray | None = None,
                      split_names: Sequence[str] = (),
                      corrected: dict[str, np.ndarray] | None = None) -> go.Figure:
    """A 2-D or 3-D scatter of the projection, one trace per legend entry.

    `colour` is "class", "predicted", "correct", "confidence" or "split". Each point carries
    its sample index as customdata[0] (uint32); the selection maps back through it. 2-D
    coordinates go out as uint16 grid positions (`display_coords`), 3-D as float32. The
    hover names each point by its sample id (`hover_ids`): for ids like `train/00024`
    that adds 4 bytes a point (~16 in all in 2-D), other ids go as strings.
    `split_names` names the split codes in `splits`, in code order (for colour "split").
    `corrected` (legend name → rows, e.g. relabelled / excluded) rings those points on top.
    """
    sample_ids = np.asarray(sample_ids).astype(str)
    n, dims = coords.shape
    xyz = display_coords(coords) if dims == 2 else np.asarray(coords, np.float32)
    has_head = predictions is not None
    names = list(class_names)
    if colour == "confidence" and has_head:
        return _finish(_continuous_figure(xyz, confidence_colouring(probabilities), labels,
                                          predictions, names, sample_ids=sample_ids), dims, n)
    groups = colour_groups(labels=labels, splits=splits, class_names=names, colour=colour,
                           predictions=predictions, split_names=split_names)
    figure = go.Figure()
    size = marker_size(n)
    for legend, hue, mask in groups:
        members = np.flatnonzero(mask)
        if len(members) == 0:
            continue
        # Split each legend entry by (true, predicted) so the hover template can name both
        # without a string per point; legendgroup keeps one legend toggle per entry.
        for part, template in _hover_parts(members, labels, predictions, names, has_head):
            for rows, hover in hover_ids(part, sample_ids, template):
                figure.add_trace(_scatter(
                    xyz[rows], dims, name=legend, legendgroup=legend,
                    showlegend=not any(t.legendgroup == legend for t in figure.data),
                    marker={"size": size, "color": hue, "opacity": 0.8}, **hover))
    for (legend, rows), symbol in zip((corrected or {}).items(), CORRECTED_SYMBOLS):
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows):
            for part, hover in hover_ids(rows, sample_ids, f"{escape(legend)}<br>{ID_SLOT}"
                                                           "<extra></extra>"):
                figure.add_trace(_scatter(
                    xyz[part], dims, name=f"{legend} ({len(rows):,})",
                    legendgroup=f"corrected {legend}",
                    showlegend=not any(t.legendgroup == f"corrected {legend}"
                                       for t in figure.data),
                    marker={"size": size + 6, "color": "#111111", "symbol": symbol,
                            "line": {"width": 1.5, "color": "#111111"}}, **hover))
    return _finish(figure, dims, n)


# corrected points (relabelled, excluded) are ringed in black on the class colours
CORRECTED_SYMBOLS = ("circle-open", "x-thin-open")


def confidence_colouring(probabilities: np.ndarray) -> ContinuousColouring:
    """The head's top probability per sample, 0 to 1 through viridis."""
    return ContinuousColouring(name="confidence", value_range=(0.0, 1.0),
                               values=np.asarray(probabilities).max(axis=1).astype(np.float32))


def density_figure(*, image_png: bytes, x_range: tuple[float, float],
                   y_range: tuple[float, float], full_range: tuple[tuple[float, float], ...],
                   sample: np.ndarray, sample_xy: np.ndarray, labels: np.ndarray,
                   splits: np.ndarray, class_names: Sequence[str], colour: str,
                   predictions: np.ndarray | None = None,
                   split_names: Sequence[str] = (), n: int, sample_ids: np.ndarray,
                   continuous: ContinuousColouring | None = None) -> go.Figure:
    """A map too large to send point by point: the density image of every point (a PNG,
    `core.analysis.density_image`) under a seeded sample of real points for hover and the
    legend. Coordinates are `display_coords` positions; `x_range`/`y_range` are the
    image's extent (a zoomed region or the whole map, `full_range`). Box and lasso
    selections are resolved over all points on the server, from their geometry.
    `continuous` colours the sample by a number (the confidence, a target) instead of
    `colour`. The sample's hover names each point by its sample id (`hover_ids`).
    """
    import base64

    names = list(class_names)
    figure = go.Figure()
    figure.add_layout_image(
        source="data:image/png;base64," + base64.b64encode(image_png).decode("ascii"),
        xref="x", yref="y", x=x_range[0], y=y_range[1],
        sizex=x_range[1] - x_range[0], sizey=y_range[1] - y_range[0],
        sizing="stretch", layer="below", xanchor="left", yanchor="top")
    size = max(marker_size(len(sample)) - 1, 2.5)
    sample = np.asarray(sample)
    if continuous is not None:  # the sample's dots coloured through the same scale
        figure = _continuous_figure(sample_xy, continuous, labels, predictions, names,
                                    sample_ids=sample_ids, members=sample, figure=figure,
                                    size=size, opacity=0.5)
    else:
        groups = colour_groups(labels=labels[sample], splits=splits[sample], class_names=names,
                               colour=colour,
                               predictions=None if predictions is None else predictions[sample],
                               split_names=split_names)
        position = np.full(int(sample.max(initial=-1)) + 1, -1, dtype=np.int64)
        position[sample] = np.arange(len(sample))
        for legend, hue, mask in groups:
            template = f"<b>{escape(legend)}</b><br>{ID_SLOT}<extra></extra>"
            # an entry with no sampled point still needs its legend line
            for part, hover in (hover_ids(sample[mask], sample_ids, template)
                                or [(sample[mask], {"customdata": np.zeros(0, np.uint32)})]):
                rows = position[part]
                figure.add_trace(go.Scattergl(
                    x=sample_xy[rows, 0], y=sample_xy[rows, 1], mode="markers", name=legend,
                    legendgroup=legend,
                    showlegend=not any(t.legendgroup == legend for t in figure.data),
                    marker={"size": size, "color": hue, "opacity": 0.5}, **hover))
    _finish(figure, 2, n)
    figure.update_layout(xaxis={"range": list(x_range)}, yaxis={"range": list(y_range)},
                         meta={"full_range": [list(r) for r in full_range]})
    return figure


def _hover_parts(members: np.ndarray, labels: np.ndarray, predictions: np.ndarray | None,
                 names: list[str], has_head: bool):
    """(indices, hover template) pairs covering `members`; ID_SLOT marks where the sample id
    goes (`hover_ids`)."""
    base = ID_SLOT
    if not has_head or len(names) > PAIR_TRACES_UP_TO:
        for c in np.unique(labels[members]):
            part = members[labels[members] == c]
            yield part, f"<b>{escape(names[c])}</b><br>{base}<extra></extra>"
        return
    pairs = labels[members] * len(names) + predictions[members]
    for pair in np.unique(pairs):
        part = members[pairs == pair]
        true, predicted = divmod(int(pair), len(names))
        verdict = "✓" if true == predicted else "✗"
        yield part, (f"<b>{escape(names[true])}</b><br>predicted {escape(names[predicted])} "
                     f"{verdict}<br>{base}<extra></extra>")


def _continuous_figure(xyz, colouring: ContinuousColouring, labels, predictions, names, *,
                       sample_ids: np.ndarray,
                       members: np.ndarray | None = None, figure: go.Figure | None = None,
                       size: float | None = None, opacity: float = 0.85) -> go.Figure:
    """Points coloured through `colouring`'s scale; `members` are the sample indices of the
    rows of `xyz` (all points when None). The value shows in the hover from marker.color."""
    members = np.arange(len(xyz)) if members is None else np.asarray(members)
    dims = xyz.shape[1]
    figure = go.Figure() if figure is None else figure
    lo, hi = colouring.value_range
    position = np.full(int(members.max(initial=-1)) + 1, -1, dtype=np.int64)
    position[members] = np.arange(len(members))
    for part, template in _hover_parts(members, labels, predictions, names,
                                       predictions is not None):
        template = template.replace(
            "<extra>", f"<br>{escape(colouring.name)} %{{marker.color:{colouring.tick_format}}}"
                       "<extra>")
        for piece, hover in hover_ids(part, sample_ids, template):
            figure.add_trace(_scatter(
                xyz[position[piece]], dims, name=colouring.name, showlegend=False,
                marker={"size": size or marker_size(len(members)),
                        "color": colouring.values[piece].astype(np.float32), "cmin": lo,
                        "cmax": hi, "colorscale": colouring.colour_scale, "opacity": opacity,
                        "colorbar": {"title": {"text": colouring.name},
                                     "tickformat": colouring.tick_format}}, **hover))
    for trace in figure.data[1:]:  # one colour bar is enough
        trace.marker.showscale = False
    return figure


def _scatter(xyz: np.ndarray, dims: int, **kwargs):
    if dims == 3:
        return go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="markers", **kwargs)
    return go.Scattergl(x=xyz[:, 0], y=xyz[:, 1], mode="markers", **kwargs)


def _finish(figure: go.Figure, dims: int, n: int) -> go.Figure:
    axis = {"showticklabels": False, "title": None, "zeroline": False, "showgrid": False}
    figure.update_layout(
        height=620, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"itemsizing": "constant", "y": 0.92, "yanchor": "top"},
        hoverlabel={"align": "left"},
        uirevision="keep",  # keep zoom and legend state across reruns
    )
    if dims == 3:
        figure.update_layout(scene={"xaxis": axis, "yaxis": axis, "zaxis": axis})
    else:
        figure.update_layout(dragmode="select", xaxis=axis, yaxis=axis)
    return figure


# --- a selection opened from a link: plotly did not draw it, so the figure does ---

LINKED_RINGS_UP_TO = 20_000  # points of a stored (not drawn) selection ringed on the map


def linked_selection(*, boxes: Sequence[dict], lassos: Sequence[dict], rows: np.ndarray,
                     xy: np.ndarray, sample_ids: np.ndarray) -> tuple[dict, list[dict]]:
    """(layout entries, trace dicts) that show a selection a link opened on a 2-D map: its
    boxes and lassos as the map's own selections (plotly highlights the points inside, as
    after a drag), or, for a stored set of ids, its first LINKED_RINGS_UP_TO points ringed.
    `xy` are every point's `display_coords`."""
    shapes = [{"type": "rect", "xref": "x", "yref": "y", "x0": b["x"][0], "x1": b["x"][1],
               "y0": b["y"][0], "y1": b["y"][1]} for b in boxes]
    shapes += [{"type": "path", "xref": "x", "yref": "y",
                "path": "M" + "L".join(f"{x:g},{y:g}" for x, y in zip(l["x"], l["y"])) + "Z"}
               for l in lassos]
    if shapes:
        return {"selections": shapes}, []
    rows = np.asarray(rows, dtype=np.int64)[:LINKED_RINGS_UP_TO]
    figure = go.Figure()
    name = f"selection from the link ({len(rows):,})"
    for part, hover in hover_ids(rows, sample_ids, f"{escape(name)}<br>{ID_SLOT}"
                                                   "<extra></extra>"):
        figure.add_trace(go.Scattergl(
            x=xy[part, 0], y=xy[part, 1], mode="markers", name=name, legendgroup=name,
            showlegend=not figure.data,
            marker={"size": marker_size(len(xy)) + 6, "color": "#111111",
                    "symbol": "circle-open", "line": {"width": 1.5, "color": "#111111"}},
            **hover))
    return {}, figure.to_dict()["data"]


# --- numbers on the map: a target, a prediction, a residual ---

RED_BLUE = ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b")


def target_colouring(*, values: np.ndarray, title: str,
                     diverging: bool = False) -> ContinuousColouring:
    """A number per sample (a target, a prediction, a residual) as a ContinuousColouring.
    `diverging`: a residual, centred on zero (blue under, red over), so both signs read
    alike."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if diverging:
        bound = float(np.max(np.abs(finite))) if len(finite) else 1.0
        return ContinuousColouring(name=title, values=values, value_range=(-bound, bound),
                                   colour_scale=RED_BLUE, tick_format=".3g")
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    return ContinuousColouring(name=title, values=values, value_range=(low, high),
                               tick_format=".3g")


def continuous_projection_figure(*, coords: np.ndarray, colouring: ContinuousColouring,
                                 labels: np.ndarray, class_names: Sequence[str],
                                 sample_ids: np.ndarray) -> go.Figure:
    """The projection coloured by a number on a continuous scale with one colour bar: the
    class figure's wire format (uint16 grid positions in 2-D, the sample index and the
    sample id as in `hover_ids`, the value read from marker.color in the hover), one trace
    per class so the hover names it without a string per point."""
    n, dims = coords.shape
    xyz = display_coords(coords) if dims == 2 else np.asarray(coords, np.float32)
    return _finish(_continuous_figure(xyz, colouring, labels, None, list(class_names),
                                      sample_ids=np.asarray(sample_ids).astype(str)), dims, n)
