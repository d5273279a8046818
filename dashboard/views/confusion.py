"""Confusion matrix: which classes the head mixes up; a cell's images on click or choice."""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import streamlit as st

from core.heads.evaluation import cell_indices, confusion_matrix
from core.base.splits import split_mask
from dashboard import pages, state
from dashboard.state import selection, url
from dashboard.services.workspace import Workspace
from dashboard.ui import components, figures

SPLITS = ("test", "val", "train", "all")  # "all": every image
CELL_LINK = re.compile(r"(\d{1,5}),(\d{1,5})")  # true,predicted: what a link may say


def render(ws: Workspace) -> None:
    if components.classes_only(ws, "The confusion matrix",
                               regression_view=pages.REGRESSION):
        return
    record = ws.head
    if record is None:
        components.need_head("the confusion matrix", "confusion", train_view=pages.TRAIN)
        return
    head, tv = record.head, ws.tv
    _seed_from_link(len(ws.class_names))
    state.seed(state.CM_SPLIT, "test")
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    split = left.segmented_control("Split", list(SPLITS), key=state.CM_SPLIT, required=True,
                                   persist_state="session") or "test"
    normalized = right.toggle("Normalize rows (recall per class)", key="cm_normalized",
                              persist_state="session")
    mask = None if split == "all" else split_mask(tv.splits, split)
    labels = tv.labels if mask is None else tv.labels[mask]
    predictions = head.predictions if mask is None else head.predictions[mask]
    n_classes = len(ws.class_names)
    counts = confusion_matrix(labels=labels, predictions=predictions, num_classes=n_classes)
    shown = (confusion_matrix(labels=labels, predictions=predictions, num_classes=n_classes,
                              normalize=True) if normalized else counts)
    if split in ("train", "all"):
        st.caption("Train predictions are in-sample (the head saw these images), so they look "
                   "better than the test split.")
    figure = figures.confusion_figure(matrix=shown, class_names=ws.class_names,
                                      normalized=normalized, counts=counts)
    st.plotly_chart(figure, key=state.CONFUSION_CHART, on_select=partial(_on_click, n_classes),
                    selection_mode="points", config={"displaylogo": False})
    components.chart_note()
    correct = int(np.trace(counts))
    st.caption(f"{counts.sum():,} {split} images, {correct:,} on the diagonal "
               f"({correct / max(counts.sum(), 1):.1%}). Click a cell, or choose one below.")
    _cell_gallery(ws, head, mask, counts)


def _seed_from_link(n_classes: int) -> None:
    """The link's split and cell (true,predicted class indices), when valid; else a note
    naming the value, and the defaults (the test split, the most confused cell)."""
    split = url.take_url(url.URL_SPLIT)
    if split is not None:
        if split in SPLITS:
            state.put(state.CM_SPLIT, split)
        else:
            url.reject_url(url.URL_SPLIT, split, "choose one of " + ", ".join(SPLITS))
    cell = url.take_url(url.URL_CELL)
    if cell is None:
        return
    match = CELL_LINK.fullmatch(cell)
    pair = tuple(int(v) for v in match.groups()) if match else ()
    if pair and max(pair) < n_classes:
        state.put(state.CM_TRUE, pair[0])
        state.put(state.CM_PRED, pair[1])
    else:
        url.reject_url(url.URL_CELL, cell, f"a cell is two class numbers from 0 to "
                       f"{n_classes - 1}, true then predicted (e.g. 3,5); showing the most "
                       "confused cell")


def _on_click(n_classes: int) -> None:
    """A click on a cell selects that cell's (true, predicted) pair in the boxes below."""
    event = selection.chart_event(state.CONFUSION_CHART, limits=(n_classes, n_classes))
    if event is not None and len(event.values):  # refused: a note says why
        state.put(state.CM_TRUE, int(event.values[0, 0]))
        state.put(state.CM_PRED, int(event.values[0, 1]))


def _cell_gallery(ws: Workspace, head, mask, counts: np.ndarray) -> None:
    n_classes = len(ws.class_names)
    if not state.has(state.CM_TRUE):
        # start on the most confused pair: the cell people want to look at first
        off = counts.copy()
        np.fill_diagonal(off, 0)
        true, predicted = np.unravel_index(int(np.argmax(off)), off.shape)
        state.put(state.CM_TRUE, int(true))
        state.put(state.CM_PRED, int(predicted))
    left, right = st.columns(2)
    options = list(range(n_classes))
    true = left.selectbox("True class", options, key=state.CM_TRUE,
                          format_func=lambda c: ws.class_names[c])
    predicted = right.selectbox("Predicted class", options, key=state.CM_PRED,
                                format_func=lambda c: ws.class_names[c])
    indices = cell_indices(labels=ws.tv.labels, predictions=head.predictions,
                           true_class=true, predicted_class=predicted, mask=mask)
    verdict = ("correctly classified" if true == predicted
               else f"predicted as “{ws.class_names[predicted]}”")
    st.markdown(f"**{len(indices):,} image{'s' if len(indices) != 1 else ''} of class "
                f"“{ws.class_names[true]}” {verdict}**")
    if len(indices) == 0:
        st.caption("No images in this cell.")
        return
    confidence = head.probabilities.max(axis=1)
    st.caption("Under each image: its sample id and the head's confidence in its "
               "prediction.")
    with st.container(key="gallery_cm"):  # the galleries' captions: never cut mid-word
        components.paginated_grid(
            ws.dataset, indices,
            lambda i: f"{components.sample_name(ws, i)} · {confidence[i]:.0%}", key="cm_gallery")
