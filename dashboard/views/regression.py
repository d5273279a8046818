"""Regression: how a head predicts the sidebar's numeric target. Predicted against actual
(box or lasso fills a gallery, as on the projection), the errors' histogram, the worst
errors as images (filter by class), the error per class, and the target outliers: values
both an out-of-sample prediction and the neighbours contradict, ranked, as CSV."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.selection_link import parse_link
from core.base.splits import SPLIT_CODES, SPLIT_NAMES
from core.heads import head_title
from dashboard import pages, state
from dashboard.services import selections
from dashboard.services.memo import remembered
from dashboard.services.quality import target_outliers
from dashboard.services.workspace import Workspace
from dashboard.state import selection, url
from dashboard.ui import components, figures, map_figures
from dashboard.ui.progress import REPORT

OUTLIER_FOLDS = 5  # core's label-issue default; the cross-fitted ridge takes seconds


def render(ws: Workspace) -> None:
    target = ws.target
    if target is None:
        names = ws.dataset.target_names
        st.info("This view is for numeric targets. " + (
            f"Choose one of this dataset's targets ({', '.join(names)}) under “Target” in the "
            "sidebar." if names else "This dataset has none: a folder dataset gets them from "
            "a targets.csv at its root (a 'path' column and numeric columns), and the "
            "built-in fashion_mnist_scale has one."), icon=":material/straighten:")
        return
    record = ws.regression_head
    if record is None:
        st.info(f"Train a regression head on **{target.name}** first (ridge takes seconds).",
                icon=":material/model_training:")
        st.button(f"Go to “{pages.TRAIN.title}”", on_click=pages.go_to,
                  args=(pages.TRAIN,), type="primary", key="goto_train_regression")
        _outliers(ws, None)
        return
    head = record.head
    actual = np.asarray(target.values, dtype=np.float64)
    predicted = np.asarray(head.predictions, dtype=np.float64)
    m = head.metrics
    st.caption(f"{head_title(head.head)} head on **{target.name}** · R² "
               f"{m['r2']:.3f}, MAE {m['mae']:.4g} on {m['reported_on']} (predicting the "
               f"training mean: MAE {m['baseline_mae']:.4g}). Train-split predictions are "
               "in-sample.")
    figure = remembered(
        ("regression_figure", ws.tv.key, target.key, record.token),
        lambda: figures.PrerenderedFigure(figures.predicted_vs_actual_figure(
            actual=actual, predicted=predicted, splits=np.asarray(ws.tv.splits),
            split_names=SPLIT_NAMES, sample_ids=np.asarray(ws.tv.sample_ids),
            target=target.name)))
    xy = np.column_stack([actual, predicted])
    grid = remembered(("regression_grid", ws.tv.key, target.key, record.token),
                      lambda: map_figures.display_coords(xy))
    drawn_on = f"{target.key}:{record.token}"  # shapes select other points with another head
    _selection_from_link(ws, grid, drawn_on)
    chart, histogram = st.columns([3, 2])
    with chart:
        st.markdown("**Predicted against actual**")
        st.plotly_chart(_with_linked_selection(figure, ws, xy),
                        key=state.REGRESSION_CHART,
                        on_select=partial(_on_select, ws, xy=xy, grid=grid, drawn_on=drawn_on),
                        selection_mode=("points", "box", "lasso"),
                        config={"displaylogo": False})
        components.chart_note()
        st.caption("On the dashed line the head is exact. Drag a box (or the lasso) around "
                   "points to see their images below.")
    with histogram:
        st.markdown("**Errors** (predicted − actual, every split)")
        st.plotly_chart(figures.residual_histogram(predicted - actual, target=target.name),
                        key="residual_histogram", config={"displayModeBar": False})
    _selection(ws, actual, predicted)
    _worst(ws, actual, predicted)
    _per_class(ws, m)
    _outliers(ws, head)


def _on_select(ws: Workspace, *, xy: np.ndarray, grid: np.ndarray, drawn_on: str) -> None:
    """The chart's selection into our own state, and into the link: its box or lasso on the
    chart's grid when that selects the same points, else their ids (as on the projection)."""
    event = selection.chart_event(state.REGRESSION_CHART, limits=(ws.tv.n,))
    if event is None:  # not an event this chart can send: nothing changes (a note says so)
        return
    indices = event.rows.tolist()
    boxes, lassos = list(event.boxes), list(event.lassos)
    link = selections.link_value(ws, indices, grid=grid,
                                 boxes=map_figures.shapes_on_grid(boxes, xy),
                                 lassos=map_figures.shapes_on_grid(lassos, xy))
    selection.set_regression_selection(ws.tv.key, indices, link=link, drawn_on=drawn_on,
                                       drawn="lasso" if lassos else "box" if boxes else None)


def _selection_from_link(ws: Workspace, grid: np.ndarray, drawn_on: str) -> None:
    """The link's `rsel=`, once, resolved on this chart; a selection made on another head's
    chart since goes into the link as its ids."""
    found = selections.from_link(ws, url.URL_REGRESSION_SELECTION, grid=grid)
    if found is not None:
        selection.set_regression_selection(ws.tv.key, found.rows, drawn=found.linked.drawn,
                                           link=found.value, drawn_on=drawn_on, from_link=True)
    selections.relink(ws, selection.stored_selection(ws.tv.key, selection.REGRESSION_SELECTION),
                      drawn_on=drawn_on)


def _with_linked_selection(figure, ws: Workspace, xy: np.ndarray):
    """The chart with a selection a link opened drawn on it (plotly drew the user's own)."""
    stored = selection.stored_selection(ws.tv.key, selection.REGRESSION_SELECTION)
    if stored is None or not stored.from_link or not stored.link:
        return figure
    linked = parse_link(stored.link)
    layout, traces = map_figures.linked_selection(
        boxes=map_figures.shapes_on_grid(linked.boxes, xy, back=True),
        lassos=map_figures.shapes_on_grid(linked.lassos, xy, back=True),
        rows=stored.indices, xy=xy, sample_ids=ws.tv.sample_ids)
    return figure.extended(layout=layout, traces=traces)


def _caption(ws: Workspace, actual: np.ndarray, predicted: np.ndarray, index: int) -> str:
    text = (f"{components.sample_name(ws, index)} · actual {actual[index]:.3g} · predicted "
            f"{predicted[index]:.3g} · error {predicted[index] - actual[index]:+.3g}")
    if len(ws.class_names) >= 2:
        text += f" · {ws.class_names[ws.tv.labels[index]]}"
    return text


def _selection(ws: Workspace, actual: np.ndarray, predicted: np.ndarray) -> None:
    selected = selection.regression_selection(ws.tv.key)
    if len(selected) == 0:
        return
    title, clear = st.columns([5, 1], vertical_alignment="bottom")
    errors = np.abs(predicted[selected] - actual[selected])
    title.subheader(f"Selection: {len(selected):,} image{'s' if len(selected) != 1 else ''} "
                    f"· MAE {errors.mean():.3g}")
    clear.button("Clear selection", on_click=selection.clear_regression_selection,
                 key="clear_regression_selection")
    order = selected[np.argsort(-errors, kind="stable")]  # worst first
    components.paginated_grid(ws.dataset, order, partial(_caption, ws, actual, predicted),
                              key="regression_selection_gallery", per_page=28, per_row=7)


def _worst(ws: Workspace, actual: np.ndarray, predicted: np.ndarray) -> None:
    st.subheader("Worst errors")
    split_names = [name for code, name in enumerate(SPLIT_NAMES)
                   if np.any(ws.tv.splits == code)]
    left, right = st.columns(2)
    split = left.selectbox("Split", split_names, index=len(split_names) - 1,
                           key="regression_split")
    rows = np.flatnonzero(ws.tv.splits == SPLIT_CODES[split])
    if len(ws.class_names) >= 2:
        options = ["all", *ws.class_names]
        chosen = right.selectbox("Class", options, key=state.REGRESSION_CLASS)
        if chosen != "all":
            rows = rows[ws.tv.labels[rows] == ws.class_names.index(chosen)]
    errors = np.abs(predicted[rows] - actual[rows])
    order = rows[np.argsort(-errors, kind="stable")]
    if len(order) == 0:
        st.caption("No images here.")
        return
    components.paginated_grid(ws.dataset, order, partial(_caption, ws, actual, predicted),
                              key="regression_worst", per_page=21, per_row=7)


def _per_class(ws: Workspace, metrics: dict) -> None:
    if not metrics.get("per_class"):
        return
    st.subheader(f"Error per class ({metrics['reported_on']} split)")
    frame = pd.DataFrame(metrics["per_class"]).sort_values("mae", ascending=False)
    st.dataframe(frame, hide_index=True, key="regression_per_class", column_config={
        "class": st.column_config.TextColumn("Class"),
        "n": st.column_config.NumberColumn("Images", format="%d"),
        "mae": st.column_config.NumberColumn("MAE", format="%.4g"),
        "rmse": st.column_config.NumberColumn("RMSE", format="%.4g"),
        "mean_error": st.column_config.NumberColumn(
            "Mean error", format="%+.4g", help="predicted − actual: positive over-estimates")})


def _outliers(ws: Workspace, head) -> None:
    st.subheader("Target outliers")
    st.caption(f"Values that both a {OUTLIER_FOLDS}-fold cross-fitted ridge (never asked about "
               "a value it trained on) and the median of the 20 nearest neighbours contradict, "
               "each in robust standard deviations; the score is the smaller, flagged from 3. "
               "Suspect the value before the image.")
    if not st.toggle("Rank the target outliers", key="regression_outliers"):
        return
    ranked = target_outliers(ws, folds=OUTLIER_FOLDS, report=REPORT)
    flagged = ranked[ranked["flagged"]]
    st.markdown(f"**{len(flagged):,}** of {len(ranked):,} values flagged; the 21 most "
                "suspicious:")
    top = ranked.head(21)
    components.image_grid(
        ws.dataset, top["index"].to_numpy(),
        [f"{components.sample_name(ws, int(r['index']))} · given {r['given']:.3g} · model "
         f"{r['predicted']:.3g} · neighbours {r['neighbours']:.3g} · score {r['score']:.1f}"
         for _, r in top.iterrows()], key="target_outlier_grid")
    st.dataframe(ranked.head(200), hide_index=True, key="target_outlier_table")
    extra = {name: ranked[name].to_numpy() for name in
             ("given", "predicted", "neighbours", "suggested", "score", "flagged")}
    components.csv_download(ws, ranked["index"].to_numpy(), what="target_outliers",
                            label="Target outliers as CSV", key="target_outliers_csv",
                            extra_columns=extra,
                            help="Every sample, most suspicious first: the given value, the "
                                 "out-of-fold prediction, the neighbours' median, the score.")
