"""Plotly figures for the views: class charts, the confusion matrices, a transfer-values
heatmap and the regression charts, plus what every figure module shares (the class palette,
prerendered figures, dot size, hover escaping). Presentation only: every number drawn comes
from `core`. The projection maps are in `map_figures`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative


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

    def extended(self, *, layout: dict | None = None,
                 traces: Sequence[dict] = ()) -> "PrerenderedFigure":
        """A copy with `traces` (dicts) drawn on top and `layout` entries set: the
        memoised dict is shared, not mutated."""
        new = PrerenderedFigure(go.Figure())
        base = self._prerendered
        new._prerendered = {**base, "data": [*base.get("data", []), *traces],
                            "layout": {**base.get("layout", {}), **(layout or {})}}
        return new


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


def escape(text: str) -> str:
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
        # counts tick at whole numbers: auto ticks at halves printed 1, 2, 2, 3, 3, 4, 4
        colorbar={"tickformat": ".0%" if normalized else ",d", "thickness": 14,
                  "dtick": None if normalized or counts.max() > 10 else 1}))
    true, predicted = np.divmod(np.arange(k * k), k)
    share = matrix[true, predicted] if normalized else None
    side = max(420, min(46 * k + 180, 900))
    figure.add_trace(go.Scatter(
        x=[names[p] for p in predicted], y=[names[t] for t in true], mode="markers",
        marker={"symbol": "square", "size": max(8, (side - 200) / k * 0.9), "opacity": 0},
        customdata=np.column_stack([true, predicted, counts[true, predicted]]
                                   + ([share] if normalized else [])),
        text=[f"{n:,} image{'s' if n != 1 else ''}" for n in counts[true, predicted]],
        hovertemplate=("true <b>%{y}</b><br>predicted <b>%{x}</b><br>%{text}"
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
                       f"{escape(labels[0])}: %{{customdata[0]:,}} · "
                       f"{escape(labels[1])}: %{{customdata[1]:,}} · "
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



# --- numeric targets: the regression view's charts ---

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
            text=[escape(i) for i in np.asarray(sample_ids)[rows].astype(str)],
            hovertemplate=("%{text}<br>actual %{x:.4g}<br>"
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
