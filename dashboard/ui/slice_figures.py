"""The Error slices map: the evaluated images on the projection, right and wrong, with one
slice (or a selection) drawn over them. Presentation only: the numbers come from core."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.ui.figures import escape, marker_size
from dashboard.ui.hover_ids import ID_SLOT, hover_ids
from dashboard.ui.map_figures import CORRECT_COLOUR, WRONG_COLOUR, _finish, display_coords

SLICE_RIGHT, SLICE_WRONG = "#1c7ed6", "#c92a2a"  # the highlighted group's members


def slice_map(*, coords: np.ndarray, evaluated: np.ndarray, wrong: np.ndarray,
              highlight: np.ndarray, label: str, sample_ids: np.ndarray) -> go.Figure:
    """A 2-D scatter of the `evaluated` rows (faint: grey right, pink wrong) with the rows
    of `highlight` drawn large on top (blue right, red wrong), named `label` in the legend.
    `wrong` is per dataset row; each point's customdata[0] is its row (uint32), as on the
    projection, so a box or lasso maps back to rows; the hover names it by its sample id."""
    xy = display_coords(np.asarray(coords)[:, :2])
    evaluated = np.asarray(evaluated, dtype=np.int64)
    highlight = np.asarray(highlight, dtype=np.int64)
    rest = evaluated[~np.isin(evaluated, highlight)]
    figure = go.Figure()
    size = marker_size(len(evaluated))
    parts = ((rest[~wrong[rest]], "other images, right", CORRECT_COLOUR, size, 0.35),
             (rest[wrong[rest]], "other images, wrong", WRONG_COLOUR, size, 0.35),
             (highlight[~wrong[highlight]], f"{label}, right", SLICE_RIGHT, size + 3, 0.95),
             (highlight[wrong[highlight]], f"{label}, wrong", SLICE_WRONG, size + 3, 0.95))
    for rows, name, colour, dot, opacity in parts:
        template = f"<b>{escape(name)}</b><br>{ID_SLOT}<extra></extra>"
        # an entry with no point still needs its legend line
        for part, hover in (hover_ids(rows, sample_ids, template)
                            or [(rows, {"customdata": rows.astype(np.uint32)})]):
            figure.add_trace(go.Scattergl(
                x=xy[part, 0], y=xy[part, 1], mode="markers", name=name, legendgroup=name,
                showlegend=not any(t.legendgroup == name for t in figure.data),
                marker={"size": dot, "color": colour, "opacity": opacity,
                        "line": {"width": 0.5, "color": "white"} if dot > size else None},
                **hover))
    figure = _finish(figure, 2, len(evaluated))
    figure.update_layout(height=520, legend={"y": 0.99, "x": 0.01, "xanchor": "left",
                                             "bgcolor": "rgba(255,255,255,0.7)"})
    return figure
