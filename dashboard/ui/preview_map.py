"""The first map, drawn while the transfer values are extracted (services.preview): the
rows finished so far, labelled as a preview, until the map of every row replaces it."""

from __future__ import annotations

import streamlit as st

from core.base.splits import SPLIT_NAMES
from dashboard.services.preview import PreviewMap
from dashboard.ui import map_figures
from dashboard.ui.components import METHOD_LABELS


def preview_caption(preview: PreviewMap) -> str:
    return (f"**Preview:** {METHOD_LABELS.get(preview.method, preview.method)} of the first "
            f"{preview.rows:,} of {preview.total:,} images, drawn while the rest are "
            f"extracted. The map of all {preview.total:,} replaces it when it is ready.")


def draw_preview(preview: PreviewMap, where=None, *, key: str = "preview_map") -> None:
    """The preview map and its caption, in `where` (a slot; None: here); `key` is the
    chart's, unique within a run (a run may draw it twice: while extracting, then under
    the whole map's progress)."""
    figure = map_figures.projection_figure(
        coords=preview.coords, labels=preview.labels, splits=preview.splits,
        class_names=preview.class_names, sample_ids=preview.sample_ids, colour="class",
        split_names=SPLIT_NAMES)
    with (where.container() if where is not None else st.container()):
        st.caption(preview_caption(preview))
        st.plotly_chart(figure, key=key, config={"displaylogo": False})
