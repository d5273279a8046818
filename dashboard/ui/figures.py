"""Plotly figures for the views. Presentation only: every number drawn comes from `core`.

Scatter plots up to POINTS_UP_TO points: WebGL traces of uint16 grid positions, the sample
index as uint32 `customdata` (base64 typed arrays), one hover template per trace and no
string per point. Larger 2-D maps: a server-side density image of every point under a sample
of real points (`density_figure`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

CORRECT_COLOUR, WRONG_COLOUR = "#adb5bd", "#e03131"
PAIR_TRACES_UP_TO = 20  # classes; beyond, (true, predicted) pairs would mean too many traces


class PrerenderedFigure(go.Figure):
    """A figure whose dict form is computed once and reused.

    `st.plotly_chart` calls `to_dict()` on every rerun, and plotly re-encodes every array
    to base64 each time (~0.5 ms per array): about 190 ms for a 70,000-point scatter with
    a hundred traces. Memoised figures are never mutated, so their dict can be kept.
    """

    def __init__(self, figure: go.Figure) -> None:
        super().__init__()
        self._prerendered = figure.to_dict()

    def to_dict(self) -> dict:
        return self._prerendered


def palette(n: int) -> list[str]:
    colours = qualitative.Plotly if n <= 10 else qualitative.Alphabet + qualitative.Dark24
    return [colours[i % len(colours)] for i in range(n)]


def class_mix_figure(counts: np.ndarray, class_names: Sequence[str]) -> go.Figure:
    """Horizontal bars, one per class present, most frequent on top, each in the class's
    colour on the projection (`palette`), with every label written out."""
    colours = palette(len(class_names))
    present = [c for c in np.argsort(-np.asarray(counts), kind="stable") if counts[c] > 0]
    figure = go.Figure(go.Bar(
        x=[int(counts[c]) for c in present], y=[str(class_names[c]) for c in present],
        orientation="h", marker={"color": [colours[c] for c in present]},
        text=[f"{int(counts[c]):,}" for c in present], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}: %{x:,} images<extra></extra>"))
    figure.update_layout(
        height=max(140, 22 * len(present) + 50), margin={"l": 0, "r": 30, "t": 4, "b": 24},
        showlegend=False, bargap=0.25,
        xaxis={"title": None, "rangemode": "tozero", "fixedrange": True},
        yaxis={"autorange": "reversed", "type": "category", "tickmode": "linear",
               "automargin": True, "fixedrange": True})
    return figure


SPLIT_PATTERNS = {"train": "", "val": "/", "test": "."}


def class_balance_figure(counts, splits: Sequence[str]) -> go.Figure:
    """Images per class, stacked by split: one bar per class in its colour on the
    projection (`palette`), each split its own pattern (train plain, val hatched, test
    dotted). `counts`: core.analysis.class_balance's frame (class, one column per split)."""
    names = [str(name) for name in counts["class"]]
    colours = palette(len(names))
    figure = go.Figure()
    for split in splits:
        values = [int(v) for v in counts[split]]
        figure.add_trace(go.Bar(
            x=names, y=values, name=split,
            marker={"color": colours, "pattern": {"shape": SPLIT_PATTERNS.get(split, "x"),
                                                   "fgcolor": "white", "size": 6},
                    "line": {"color": "white", "width": 0.5}},
            hovertemplate=f"%{{x}} · {split}: %{{y:,}} images<extra></extra>"))
    figure.update_layout(
        barmode="stack", height=320, margin={"l": 0, "r": 0, "t": 28, "b": 0},
        title={"text": "Images per class and split", "font": {"size": 14}},
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right",
                "title": {"text": "split (pattern)"}},
        xaxis={"type": "category", "title": None, "fixedrange": True},
        yaxis={"title": "images", "rangemode": "tozero", "fixedrange": True})
    return figure


def marker_size(n: int) -> float:
    """Smaller dots for more points, so dense clusters stay readable."""
    return float(np.clip(9 - 1.5 * np.log10(max(n, 1)), 2.5, 7))


POINTS_UP_TO = 150_000  # 2-D maps with more points are drawn as a server-side density image
DISPLAY_STEPS = 65_535  # 2-D maps are sent as uint16 grid positions (2 bytes per coordinate)
SAMPLE_POINTS = 3_000  # real points drawn over a density image, for hover and legend


def display_coords(coords: np.ndarray) -> np.ndarray:
    """A 2-D map's coordinates as uint16 positions on a 0..DISPLAY_STEPS grid over its bounds.

    Axes carry no ticks, so only relative positions matter; at 1/65,535 of the extent the
    rounding is far below a pixel. The server resolves box and lasso selections against
    these same values, so it agrees with what the browser draws point for point.
    """
    xy = np.asarray(coords[:, :2], dtype=np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.rint((xy - lo) / span * DISPLAY_STEPS).astype(np.uint16)


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
                      split_names: Sequence[str] = ()) -> go.Figure:
    """A 2-D or 3-D scatter of the projection, one trace per legend entry.

    `colour` is "class", "predicted", "correct", "confidence" or "split". Each point carries
    its sample index as customdata (uint32); the selection maps back through it. 2-D
    coordinates go out as uint16 grid positions (`display_coords`), 3-D as float32: with
    base64 typed arrays and no string per point that is ~11 bytes a point in 2-D.
    `sample_ids` are not sent (the gallery names the selected images).
    `split_names` names the split codes in `splits`, in code order (for colour "split").
    """
    del sample_ids  # kept in the signature: callers pass it, the wire no longer carries it
    n, dims = coords.shape
    xyz = display_coords(coords) if dims == 2 else np.asarray(coords, np.float32)
    has_head = predictions is not None
    names = list(class_names)
    if colour == "confidence" and has_head:
        return _finish(_continuous_figure(xyz, confidence_colouring(probabilities), labels,
                                          predictions, names), dims, n)
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
            figure.add_trace(_scatter(
                xyz[part], dims, name=legend, legendgroup=legend,
                showlegend=not any(t.legendgroup == legend for t in figure.data),
                marker={"size": size, "color": hue, "opacity": 0.8},
                customdata=part.astype(np.uint32), hovertemplate=template))
    return _finish(figure, dims, n)


def confidence_colouring(probabilities: np.ndarray) -> ContinuousColouring:
    """The head's top probability per sample, 0 to 1 through viridis."""
    return ContinuousColouring(name="confidence", value_range=(0.0, 1.0),
                               values=np.asarray(probabilities).max(axis=1).astype(np.float32))


def density_figure(*, image_png: bytes, x_range: tuple[float, float],
                   y_range: tuple[float, float], full_range: tuple[tuple[float, float], ...],
                   sample: np.ndarray, sample_xy: np.ndarray, labels: np.ndarray,
                   splits: np.ndarray, class_names: Sequence[str], colour: str,
                   predictions: np.ndarray | None = None,
                   split_names: Sequence[str] = (), n: int,
                   continuous: ContinuousColouring | None = None) -> go.Figure:
    """A map too large to send point by point: the density image of every point (a PNG,
    `core.analysis.density_image`) under a seeded sample of real points for hover and the
    legend. Coordinates are `display_coords` positions; `x_range`/`y_range` are the
    image's extent (a zoomed region or the whole map, `full_range`). Box and lasso
    selections are resolved over all points on the server, from their geometry.
    `continuous` colours the sample by a number (the confidence, a target) instead of
    `colour`.
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
                                    members=sample, figure=figure, size=size, opacity=0.5)
    else:
        groups = colour_groups(labels=labels[sample], splits=splits[sample], class_names=names,
                               colour=colour,
                               predictions=None if predictions is None else predictions[sample],
                               split_names=split_names)
        for legend, hue, mask in groups:
            rows = np.flatnonzero(mask)
            # an entry with no sampled point still needs its legend line
            figure.add_trace(go.Scattergl(
                x=sample_xy[rows, 0], y=sample_xy[rows, 1], mode="markers", name=legend,
                legendgroup=legend, marker={"size": size, "color": hue, "opacity": 0.5},
                customdata=sample[rows].astype(np.uint32),
                hovertemplate=f"<b>{_escape(legend)}</b><br>sample #%{{customdata}}"
                              "<extra></extra>"))
    _finish(figure, 2, n)
    figure.update_layout(xaxis={"range": list(x_range)}, yaxis={"range": list(y_range)},
                         meta={"full_range": [list(r) for r in full_range]})
    return figure


def _hover_parts(members: np.ndarray, labels: np.ndarray, predictions: np.ndarray | None,
                 names: list[str], has_head: bool):
    """(indices, hover template) pairs covering `members`."""
    base = "sample #%{customdata}"
    if not has_head or len(names) > PAIR_TRACES_UP_TO:
        for c in np.unique(labels[members]):
            part = members[labels[members] == c]
            yield part, f"<b>{_escape(names[c])}</b><br>{base}<extra></extra>"
        return
    pairs = labels[members] * len(names) + predictions[members]
    for pair in np.unique(pairs):
        part = members[pairs == pair]
        true, predicted = divmod(int(pair), len(names))
        verdict = "✓" if true == predicted else "✗"
        yield part, (f"<b>{_escape(names[true])}</b><br>predicted {_escape(names[predicted])} "
                     f"{verdict}<br>{base}<extra></extra>")


def _continuous_figure(xyz, colouring: ContinuousColouring, labels, predictions, names, *,
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
        rows = position[part]
        template = template.replace(
            "<extra>", f"<br>{_escape(colouring.name)} %{{marker.color:{colouring.tick_format}}}"
                       "<extra>")
        figure.add_trace(_scatter(
            xyz[rows], dims, name=colouring.name, showlegend=False,
            marker={"size": size or marker_size(len(members)),
                    "color": colouring.values[part].astype(np.float32), "cmin": lo, "cmax": hi,
                    "colorscale": colouring.colour_scale, "opacity": opacity,
                    "colorbar": {"title": {"text": colouring.name},
                                 "tickformat": colouring.tick_format}},
            customdata=part.astype(np.uint32), hovertemplate=template))
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


def _escape(text: str) -> str:
    """Class names go into hover templates: keep their braces and tags literal."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("%{", "%&#123;"))


def confusion_figure(*, matrix: np.ndarray, class_names: Sequence[str], normalized: bool,
                     counts: np.ndarray) -> go.Figure:
    """A heatmap with true classes as rows and predictions as columns, values written in.

    Heatmaps cannot be selected in Plotly, so an invisible square marker sits on every cell
    to carry hover and click selection (customdata = [true, predicted]).
    """
    names = [str(n) for n in class_names]
    k = len(names)
    text = (np.vectorize(lambda v: f"{v:.0%}" if v >= 0.005 else "")(matrix) if normalized
            else np.where(counts > 0, counts.astype(str), ""))
    figure = go.Figure(go.Heatmap(
        z=matrix, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
        xgap=1, ygap=1, hoverinfo="skip",
        colorbar={"tickformat": ".0%" if normalized else ",d", "thickness": 14}))
    true, predicted = np.divmod(np.arange(k * k), k)
    share = matrix[true, predicted] if normalized else None
    side = max(420, min(46 * k + 180, 900))
    figure.add_trace(go.Scatter(
        x=[names[p] for p in predicted], y=[names[t] for t in true], mode="markers",
        marker={"symbol": "square", "size": max(8, (side - 200) / k * 0.9), "opacity": 0},
        customdata=np.column_stack([true, predicted, counts[true, predicted]]
                                   + ([share] if normalized else [])),
        hovertemplate=("true <b>%{y}</b><br>predicted <b>%{x}</b><br>%{customdata[2]:,} images"
                       + ("<br>%{customdata[3]:.1%} of the true class" if normalized else "")
                       + "<br><i>click to see them</i><extra></extra>"),
        showlegend=False))
    figure.update_layout(
        height=side, margin={"l": 10, "r": 10, "t": 30, "b": 10}, clickmode="event+select",
        dragmode=False,
        # category axes: class names such as "0".."9" must not become a numeric axis
        xaxis={"title": {"text": "predicted class"}, "side": "top",
               "tickangle": -35 if max(map(len, names)) > 4 else 0,
               "showgrid": False, "type": "category", "zeroline": False},
        yaxis={"title": {"text": "true class"}, "autorange": "reversed", "showgrid": False,
               "type": "category", "zeroline": False})
    return figure


def values_heatmap(values: np.ndarray, *, title: str) -> go.Figure:
    """One image's transfer values as a picture (2048 → 32×64, 1280 → 32×40)."""
    rows, cols = grid_shape(len(values))
    padded = np.full(rows * cols, np.nan, dtype=np.float32)
    padded[:len(values)] = values
    figure = go.Figure(go.Heatmap(
        z=padded.reshape(rows, cols), colorscale="Viridis", showscale=True,
        hovertemplate="value %{z:.3f}<extra></extra>"))
    figure.update_layout(
        title={"text": title, "font": {"size": 14}}, height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x",
                                         "autorange": "reversed"})
    return figure


def grid_shape(dim: int) -> tuple[int, int]:
    """32 rows as in the classic tutorial when the length allows, else near-square."""
    if dim % 32 == 0 and dim >= 32 * 2:
        return 32, dim // 32
    rows = int(np.floor(np.sqrt(dim)))
    return rows, int(np.ceil(dim / rows))


def probabilities_bar(names: Sequence[str], probs: Sequence[float]) -> go.Figure:
    """Top-k classes as horizontal bars, most likely on top."""
    figure = go.Figure(go.Bar(x=list(probs)[::-1], y=[str(n) for n in names][::-1],
                              orientation="h", marker_color="#4c6ef5",
                              texttemplate="%{x:.1%}", textposition="outside",
                              hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    figure.update_layout(height=40 * len(names) + 60, margin={"l": 10, "r": 40, "t": 10, "b": 10},
                         xaxis={"range": [0, 1.15], "tickformat": ".0%", "visible": False})
    return figure


def confusion_change_figure(*, change: np.ndarray, before: np.ndarray, after: np.ndarray,
                            class_names: Sequence[str], labels: tuple[str, str] = ("A", "B")
                            ) -> go.Figure:
    """How the test confusion matrix changes from head A to head B (B − A), as a diverging
    heatmap. The colour says better or worse, the text says how many images moved: on the
    diagonal more is better (green), off it more is worse (red); unchanged cells are white."""
    names = [str(n) for n in class_names]
    k = len(names)
    change = np.asarray(change, dtype=np.int64)
    better = np.where(np.eye(k, dtype=bool), change, -change)  # > 0: B does better here
    limit = max(1, int(np.abs(better).max(initial=0)))
    text = np.where(change != 0, np.char.mod("%+d", change), "")
    custom = np.stack([np.asarray(before), np.asarray(after), change], axis=-1)
    figure = go.Figure(go.Heatmap(
        z=better, x=names, y=names, text=text, texttemplate="%{text}", zmid=0,
        zmin=-limit, zmax=limit, customdata=custom, xgap=1, ygap=1,
        colorscale=[[0.0, "#c92a2a"], [0.5, "#ffffff"], [1.0, "#2b8a3e"]],
        colorbar={"title": {"text": f"{labels[1]} vs {labels[0]}", "side": "right"},
                  "tickvals": [-limit, 0, limit],
                  "ticktext": ["worse", "same", "better"], "thickness": 14},
        hovertemplate=(f"true <b>%{{y}}</b><br>predicted <b>%{{x}}</b><br>"
                       f"{_escape(labels[0])}: %{{customdata[0]:,}} · "
                       f"{_escape(labels[1])}: %{{customdata[1]:,}} · "
                       "change %{customdata[2]:+,}<extra></extra>")))
    side = max(380, min(40 * k + 160, 800))
    figure.update_layout(
        height=side, margin={"l": 10, "r": 10, "t": 30, "b": 10}, dragmode=False,
        xaxis={"title": {"text": "predicted class"}, "side": "top", "showgrid": False,
               "type": "category", "zeroline": False,
               "tickangle": -35 if max(map(len, names)) > 4 else 0},
        yaxis={"title": {"text": "true class"}, "autorange": "reversed", "showgrid": False,
               "type": "category", "zeroline": False})
    return figure


# --- numeric targets: continuous colours and the regression views' charts ---

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
                                 labels: np.ndarray, class_names: Sequence[str]) -> go.Figure:
    """The projection coloured by a number on a continuous scale with one colour bar: the
    class figure's wire format (uint16 grid positions in 2-D, the sample index as uint32
    customdata, the value read from marker.color in the hover), one trace per class so
    the hover names it without a string per point."""
    n, dims = coords.shape
    xyz = display_coords(coords) if dims == 2 else np.asarray(coords, np.float32)
    return _finish(_continuous_figure(xyz, colouring, labels, None, list(class_names)), dims, n)


def predicted_vs_actual_figure(*, actual: np.ndarray, predicted: np.ndarray,
                               splits: np.ndarray, split_names: Sequence[str],
                               sample_ids: np.ndarray, target: str) -> go.Figure:
    """Predicted against actual, one trace per split, with the identity line (a perfect
    head puts every point on it). customdata[0] is the sample index (for the selection)."""
    figure = go.Figure()
    split_colours = ("#4c6ef5", "#fab005", "#12b886")
    size = marker_size(len(actual))
    for code, split in enumerate(split_names):
        rows = np.flatnonzero(splits == code)
        if len(rows) == 0:
            continue
        figure.add_trace(go.Scattergl(
            x=actual[rows], y=predicted[rows], mode="markers", name=split,
            marker={"size": size, "color": split_colours[code % 3], "opacity": 0.7},
            customdata=np.column_stack([rows, predicted[rows] - actual[rows]]),
            text=sample_ids[rows],
            hovertemplate=("%{text}<br>sample #%{customdata[0]}<br>actual %{x:.4g}<br>"
                           "predicted %{y:.4g}<br>error %{customdata[1]:+.4g}<extra></extra>")))
    low = float(min(np.min(actual), np.min(predicted)))
    high = float(max(np.max(actual), np.max(predicted)))
    figure.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="identity",
                                line={"color": "#868e96", "dash": "dash"}, hoverinfo="skip"))
    figure.update_layout(height=520, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         xaxis_title=f"actual {target}", yaxis_title=f"predicted {target}",
                         dragmode="select", uirevision="keep",
                         # inside, top left: off the mode bar (top right), and that corner
                         # (low actual, high predicted) is where a useful head puts no points
                         legend={"itemsizing": "constant", "x": 0.01, "y": 0.99,
                                 "xanchor": "left", "yanchor": "top",
                                 "bgcolor": "rgba(255,255,255,0.7)"})
    return figure


def residual_histogram(residuals: np.ndarray, *, target: str) -> go.Figure:
    """How the errors (predicted − actual) are spread."""
    figure = go.Figure(go.Histogram(x=residuals, nbinsx=50, marker={"color": "#4c6ef5"}))
    figure.add_vline(x=0, line={"color": "#868e96", "dash": "dash"})
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         xaxis_title=f"error: predicted − actual {target}",
                         yaxis_title="images", bargap=0.05)
    return figure
