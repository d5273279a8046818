"""Projections: the transfer values in 2-D or 3-D as a WebGL scatter; a box or lasso
selection fills an image gallery, and one chosen image shows its nearest neighbours."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from core.analysis.projection_params import chosen_defaults, chosen_specs
from core.analysis.projections import METHODS, warm_up_umap_in_background
from core.analysis.selection import select_points
from core.analysis.selection_link import parse_link
from core.base.splits import SPLIT_NAMES
from dashboard import pages, state
from dashboard.services import corrections as fixes
from dashboard.services import preview as previews
from dashboard.services import selections
from dashboard.services.analysis import density_png, projection as project, separability
from dashboard.services.memo import remembered
from dashboard.services.workspace import Workspace
from dashboard.state import projection as chosen
from dashboard.state import selection, url
from dashboard.ui import components, figures, map_figures, param_widgets
from dashboard.ui import corrections as fix_ui
from dashboard.ui.preview_map import draw_preview
from dashboard.ui.progress import REPORT, show_below
from dashboard.ui.components import METHOD_LABELS

COLOURS = {"class": "class", "predicted": "predicted class", "correct": "correct / wrong",
           "confidence": "confidence", "split": "split"}
NEEDS_HEAD = {"predicted", "correct", "confidence"}
# offered when the sidebar's Target is a number: a continuous scale with a colour bar
TARGET_COLOURS = {"target": "target", "predicted_value": "predicted value",
                  "residual": "residual"}
DENSITY_WIDTH, DENSITY_HEIGHT = 1000, 600  # px of the density image (the chart is 620 high)
PARAM_LABELS = {"perplexity": "Perplexity", "n_neighbors": "Neighbours",
                "min_dist": "Minimum distance"}
PARAM_STEPS = {"min_dist": 0.05}


def render(ws: Workspace) -> None:
    chosen.seed_from_link()  # the method and its parameters
    _seed_from_link(state.PROJ_COLOUR, url.URL_COLOUR, (*COLOURS, *TARGET_COLOURS))
    state.seed(state.PROJ_METHOD, "pca")
    state.seed(state.PROJ_COLOUR, "class")
    left, middle, right = st.columns([3, 1, 5], vertical_alignment="bottom")
    # `or default` below: a required control can still report None in a rerun that races a
    # click (seen in the 8-session load test); the other views' controls do the same
    method = left.segmented_control("Method", list(METHODS),
                                    format_func=lambda m: METHOD_LABELS.get(m, m),
                                    key=state.PROJ_METHOD, required=True,
                                    persist_state="session") or "pca"
    three_d = middle.toggle("3-D", key=state.PROJ_3D, persist_state="session",
                            help="Rotate with the mouse. Selecting points works in 2-D.")
    colours = {**COLOURS, **(TARGET_COLOURS if ws.target is not None else {})}
    if state.get(state.PROJ_COLOUR) not in colours:  # a target colouring, target now gone
        state.put(state.PROJ_COLOUR, "class")
    # eight colourings with a target do not fit the row's right part: a row of their own
    where = right if len(colours) <= len(COLOURS) else st.container()
    colour = where.segmented_control("Colour by", list(colours), format_func=colours.get,
                                     key=state.PROJ_COLOUR, required=True,
                                     persist_state="session") or "class"
    params = _params(method)
    head = ws.head
    if colour in NEEDS_HEAD and head is None:
        st.caption(f"Colouring by {COLOURS[colour]} needs a trained head "
                   "(see “Train a head”); coloured by class meanwhile.")
        colour = "class"

    dims = 3 if three_d else 2
    chosen.compare_from_link(fine_tuned=ws.finetuned is not None)
    if ws.finetuned is not None and st.toggle(
            "Before and after fine-tuning, side by side", key=state.PROJ_COMPARE,
            persist_state="session",
            help="The same projection of the original and the fine-tuned backbone's values."):
        _before_after(ws, method=method, dims=dims, params=params)
        return
    first_map = previews.preview_of(key=ws.tv.key, method=method) if dims == 2 else None
    if first_map is not None:  # drawn while its values were extracted: kept until this one
        show_below(partial(draw_preview, first_map))
    projection = project(ws.tv, method=method, dims=dims, params=params, report=REPORT)
    show_below(None)  # a memoised map computed nothing: no later computation shows it
    token = head.token if head is not None else 0
    target = _target_colouring(ws, colour) if colour in TARGET_COLOURS else None
    if target is None and colour in TARGET_COLOURS:
        colour = "class"
    config = {"scrollZoom": True, "displaylogo": False}
    if dims == 2:
        display = remembered(("display", projection.key),
                             lambda: map_figures.display_coords(np.asarray(projection.coords)))
        selections.map_selection_from_link(ws, grid=display, projection_key=projection.key)
        selections.relink(ws, selection.stored_selection(ws.tv.key), drawn_on=projection.key)
        on_select = partial(_on_select, ws, grid=display, drawn_on=projection.key)
        selections.map_zoom_from_link(projection_key=projection.key,
                                      density=ws.tv.n > map_figures.POINTS_UP_TO)
    if dims == 2 and ws.tv.n > map_figures.POINTS_UP_TO:
        _density_chart(ws, projection, colour=colour, token=token, config=config,
                       continuous=None if target is None else target[0],
                       continuous_token=None if target is None else target[1],
                       display=display, on_select=on_select)
    else:
        marked, fixed = _corrected_points(ws)
        figure = (_target_figure(ws, projection, colour, *target) if target is not None
                  else remembered(
            ("figure", projection.key, colour, token, fixed),
            lambda: figures.PrerenderedFigure(map_figures.projection_figure(
                coords=np.asarray(projection.coords), labels=ws.tv.labels, splits=ws.tv.splits,
                class_names=ws.class_names, sample_ids=ws.tv.sample_ids, colour=colour,
                predictions=None if head is None else head.head.predictions,
                probabilities=None if head is None else head.head.probabilities,
                split_names=SPLIT_NAMES, corrected=marked))))
        if dims == 2:
            st.plotly_chart(_with_linked_selection(figure, ws, display),
                            key=state.PROJECTION_CHART, on_select=on_select,
                            selection_mode=("points", "box", "lasso"), config=config)
            components.chart_note()
        else:
            st.plotly_chart(figure, key="projection_chart_3d", config=config)
    st.caption(_describe(projection, ws))
    if method != "umap":
        warm_up_umap_in_background()  # compile UMAP's kernels while the user looks at this plot
    _selection_panel(ws)


def _corrected_points(ws: Workspace) -> tuple[dict, str]:
    """The relabelled and excluded points to ring on the map, and their hash (memo key)."""
    if ws.target is not None:
        return {}, ""
    corrections = fixes.overlay(ws)
    if not corrections.content_hash:
        return {}, ""
    relabelled = corrections.rows(actions=("relabel",))
    excluded = corrections.rows(actions=("exclude",))
    return {"relabelled": relabelled, "excluded": excluded}, corrections.content_hash


def _target_colouring(ws: Workspace, colour: str):
    """(ContinuousColouring, memo token) of the chosen target, the regression head's
    prediction or its residual (predicted − actual); None (class colours) when that needs a
    head."""
    target = ws.target
    if colour == "target":
        return map_figures.target_colouring(values=target.values, title=target.name), (target.key,)
    record = ws.regression_head
    if record is None:
        st.caption(f"Colouring by {TARGET_COLOURS[colour]} needs a regression head on "
                   f"{target.name} (see “Train a head”); coloured by class meanwhile.")
        return None
    predicted = np.asarray(record.head.predictions, dtype=np.float64)
    colouring = (map_figures.target_colouring(values=predicted, title=f"predicted {target.name}")
                 if colour == "predicted_value" else
                 map_figures.target_colouring(values=predicted - target.values,
                                          title=f"error in {target.name}", diverging=True))
    return colouring, (target.key, record.token)


def _target_figure(ws: Workspace, projection, colour: str, colouring, token: tuple):
    return remembered(
        ("figure", projection.key, colour, *token),
        lambda: figures.PrerenderedFigure(map_figures.continuous_projection_figure(
            coords=np.asarray(projection.coords), colouring=colouring, labels=ws.tv.labels,
            class_names=ws.class_names, sample_ids=ws.tv.sample_ids)))


def _with_linked_selection(figure, ws: Workspace, display: np.ndarray):
    """The map with a selection a link opened drawn on it (plotly drew the user's own)."""
    stored = selection.stored_selection(ws.tv.key)
    if stored is None or not stored.from_link or not stored.link:
        return figure
    linked = parse_link(stored.link)
    layout, traces = map_figures.linked_selection(
        boxes=linked.boxes, lassos=linked.lassos, rows=stored.indices, xy=display,
        sample_ids=ws.tv.sample_ids)
    return figure.extended(layout=layout, traces=traces)


def _seed_from_link(key: str, name: str, valid: tuple[str, ...]) -> None:
    """The link's colouring, when it names one (else a warning, and the default)."""
    value = url.take_url(name)
    if value is None:
        return
    if value in valid:
        state.put(key, value)
    else:
        url.reject_url(name, value, "choose one of " + ", ".join(valid))


def _before_after(ws: Workspace, *, method: str, dims: int, params: dict | None) -> None:
    """Two charts (two WebGL contexts: browsers allow only a few), coloured by class."""
    done = ws.finetuned
    columns = st.columns(2)
    for column, (title, tv) in zip(columns, (("Before fine-tuning", done.before),
                                             ("After fine-tuning", done.after))):
        projection = project(tv, method=method, dims=dims, params=params, report=REPORT)
        def draw(projection=projection, tv=tv, title=title):
            figure = map_figures.projection_figure(
                coords=np.asarray(projection.coords), labels=tv.labels, splits=tv.splits,
                class_names=ws.class_names, sample_ids=tv.sample_ids, colour="class")
            figure.update_layout(title={"text": title, "y": 0.97, "yanchor": "top"},
                                 margin={"t": 48})
            return figures.PrerenderedFigure(figure)

        figure = remembered(("figure", projection.key, "class", 0, title), draw)
        knn = separability(tv, report=REPORT)
        with column:
            st.plotly_chart(figure, key=f"projection_{'after' if tv is done.after else 'before'}",
                            config={"scrollZoom": True, "displaylogo": False})
            st.caption(f"{METHOD_LABELS[method]} of {tv.n:,} points · kNN-vote accuracy "
                       f"{knn['knn_accuracy']:.1%} · silhouette {knn['silhouette']:.2f}")
    st.caption("Compare how tight and separate the classes are before and after; the kNN-vote "
               "accuracy and silhouette under each say it in numbers. Switch the toggle off to "
               "select points.")


def _params(method: str) -> dict | None:
    """The few parameters worth exposing (core declares them: projection_params); core
    fills in the rest (Projection.params).

    In a form: t-SNE and UMAP take a while, so a slider nudge must not start a new run.
    """
    specs = chosen_specs(method)
    if not specs:
        return None
    keys, defaults = chosen.PARAM_KEYS[method], chosen_defaults(method)
    for name in specs:
        state.seed(keys[name], defaults[name])  # unless the link set it
    with st.expander(f"{METHOD_LABELS[method]} parameters"), \
            st.form(f"{method}_params", border=False):
        for name, spec in specs.items():
            param_widgets.param_slider(name, spec, key=keys[name], label=PARAM_LABELS[name],
                                       step=PARAM_STEPS.get(name))
        st.form_submit_button("Recompute", icon=":material/refresh:")
    return chosen.projection_choice()[2]


def _describe(projection, ws: Workspace) -> str:
    parts = [f"{METHOD_LABELS[projection.method]} of {ws.tv.n:,} points"]
    if projection.explained_variance is not None:
        parts.append(f"explains {float(np.sum(projection.explained_variance)):.0%} of the "
                     "variance")
    if projection.fitted is not None:
        parts.append(f"fitted on {len(projection.fitted):,} seeded landmark points, the other "
                     f"{projection.placed:,} placed into that map by the library's transform")
    source = "from the cache" if projection.cache == "hit" else "computed"
    parts.append(f"{source} in {projection.seconds:.1f} s")
    hint = ("Drag to select a region (lasso in the toolbar); scroll to zoom; "
            "click a legend entry to hide a class.")
    return " · ".join(parts) + ". " + (hint if projection.dims == 2 else
                                       "Switch off 3-D to select points.")


def _on_select(ws: Workspace, display: np.ndarray | None = None, *, grid: np.ndarray,
               drawn_on: str) -> None:
    """Copy the chart's selection into our own state: the chart's widget state is dropped
    when another view is shown (or the figure changes), ours is kept.

    `display`: the map's display coordinates when it is drawn as a density image; the browser
    then holds only a sample, so a box or lasso is resolved over every point on the server.
    `grid`, `drawn_on`: the map's display coordinates and the projection's key; a box or
    lasso goes in the link as its shape when it selects exactly these points there.
    """
    tv_key = ws.tv.key
    event = selection.chart_event(state.PROJECTION_CHART, limits=(ws.tv.n,))
    if event is None:  # not an event this chart can send: nothing changes (a note says so)
        return
    boxes, lassos = list(event.boxes), list(event.lassos)
    region = selections.region(boxes, lassos)
    if display is not None and (boxes or lassos):
        indices = select_points(display, boxes=boxes, lassos=lassos)
    else:
        indices = event.rows.tolist()
    drawn = "lasso" if lassos else "box" if boxes else None
    link = selections.link_value(ws, indices, grid=grid, boxes=boxes, lassos=lassos)
    selection.set_selection(tv_key, indices, region=region, drawn=drawn, link=link,
                            drawn_on=drawn_on)
    if len(indices) == 1:
        selection.choose_image(tv_key, indices[0])
    else:  # a new selection starts with its first image's neighbours
        selection.forget_image()


def _density_chart(ws: Workspace, projection, *, colour: str, token, config: dict,
                   display: np.ndarray, on_select, continuous=None,
                   continuous_token: tuple | None = None) -> None:
    """A map above map_figures.POINTS_UP_TO points: a density image of every point under a
    seeded sample; "Zoom to selection" re-aggregates the selected region at full detail.
    `continuous` (a ContinuousColouring: a target) colours by a number instead of `colour`
    (confidence is one too): each pixel the mean of its points' values."""
    tv, head = ws.tv, ws.head
    if continuous is None and colour == "confidence" and head is not None:
        continuous = map_figures.confidence_colouring(head.head.probabilities)
    whole = ((0.0, float(map_figures.DISPLAY_STEPS)), (0.0, float(map_figures.DISPLAY_STEPS)))
    region = selection.zoom(projection.key) or whole
    predictions = None if head is None else head.head.predictions

    def draw():
        (x0, x1), (y0, y1) = region
        inside = np.flatnonzero((display[:, 0] >= x0) & (display[:, 0] <= x1)
                                & (display[:, 1] >= y0) & (display[:, 1] <= y1))
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(inside, size=min(map_figures.SAMPLE_POINTS, len(inside)),
                                    replace=False))
        ranges = {"coords": display, "width": DENSITY_WIDTH, "height": DENSITY_HEIGHT,
                  "x_range": region[0], "y_range": region[1]}
        if continuous is not None:
            png = density_png(values=continuous.values, value_range=continuous.value_range,
                              colour_scale=continuous.colour_scale, **ranges)
        else:
            groups = map_figures.colour_groups(
                labels=tv.labels, splits=tv.splits, class_names=ws.class_names, colour=colour,
                predictions=predictions, split_names=SPLIT_NAMES)
            codes = np.full(tv.n, -1, dtype=np.int32)
            for code, (_, _, mask) in enumerate(groups):
                codes[mask] = code
            png = density_png(codes=codes, colours=[g[1] for g in groups], **ranges)
        figure = map_figures.density_figure(
            image_png=png, x_range=region[0], y_range=region[1], full_range=whole,
            sample=sample, sample_xy=display[sample], labels=tv.labels, splits=tv.splits,
            class_names=ws.class_names, colour=colour, predictions=predictions,
            split_names=SPLIT_NAMES, n=tv.n, sample_ids=tv.sample_ids, continuous=continuous)
        figure.update_layout(uirevision=str(region))  # a new region resets the axes to it
        return figures.PrerenderedFigure(figure)

    figure = remembered(("density", projection.key, colour, token, region,
                                   continuous_token), draw)
    st.plotly_chart(_with_linked_selection(figure, ws, display), key=state.PROJECTION_CHART,
                    on_select=partial(on_select, display=display),
                    selection_mode=("box", "lasso"), config=config)
    components.chart_note()
    selected_region = selection.selection_region(tv.key)
    # wide enough for "Zoom to selection" with its icon at a 1440 px window (was cut off)
    zoom_in, back, note = st.columns([1.3, 1, 3.7], vertical_alignment="center")
    zoom_in.button("Zoom to selection", icon=":material/zoom_in:", key="zoom_to_selection",
                   disabled=selected_region is None,
                   on_click=selection.set_zoom, args=(projection.key, selected_region))
    back.button("Whole map", icon=":material/zoom_out_map:", key="zoom_whole_map",
                disabled=region == whole, on_click=selection.set_zoom, args=(projection.key, None))
    note.caption(f"{tv.n:,} points are more than the browser draws smoothly "
                 f"(above {map_figures.POINTS_UP_TO:,}): the picture shows every point, the dots "
                 f"over it are a sample of {map_figures.SAMPLE_POINTS:,} for hover (the legend "
                 "toggles those). Selections count every point.")


def _selection_panel(ws: Workspace) -> None:
    tv = ws.tv
    selected = selection.selection(tv.key)
    if len(selected) == 0 and (shape := selection.empty_shape(tv.key)) is not None:
        st.warning(f"The {shape} you drew holds no points, so nothing is selected. Draw it "
                   "over the dots (on a density map, over the coloured cells), or scroll to "
                   "zoom in first.", icon=":material/select:")
        return
    if len(selected) == 0:
        st.info("Select points on the plot (drag a box, or pick the lasso) to see their images "
                "here.", icon=":material/select:")
        return
    head = ws.head
    title, clear = st.columns([5, 1], vertical_alignment="bottom")
    title.subheader(f"Selection: {len(selected):,} image{'s' if len(selected) != 1 else ''}")
    clear.button("Clear selection", on_click=selection.clear_selection, key="clear_selection")
    mix, gallery = st.columns([1, 3])
    with mix:
        st.markdown("**Class mix**")
        components.class_mix_chart(tv.labels[selected], ws.class_names, key="class_mix")
        if head is not None:
            wrong = int(np.sum(head.head.predictions[selected] != tv.labels[selected]))
            st.metric("Misclassified by the head", f"{wrong:,}",
                      help="Predictions for train samples are in-sample unless the head "
                           "was cross-fitted.")
        components.csv_download(
            ws, selected, what="selection", label="Selection as CSV", key="selection_csv",
            head=None if head is None else head.head,
            help="One row per selected image: sample id, label, class, split"
                 + (", and the active head's prediction and class probabilities."
                    if head is not None else "."))
    with gallery:
        corrections = None if ws.target is not None else fixes.overlay(ws)
        if corrections is not None:
            fix_ui.show_notice()
            fix_ui.bulk_actions(ws, selected, key="selection", source="projections",
                                what="selected", suggestions=None if head is None else dict(
                                    zip(selected.astype(int),
                                        head.head.predictions[selected].astype(int))))
        components.paginated_grid(
            ws.dataset, selected, lambda i: _caption(ws, i), key="selection_gallery",
            per_page=40, pick=tv.key, per_row=6, inspect_view=pages.INSPECT,
            under=None if corrections is None else fix_ui.gallery_actions(
                ws, corrections, key="selection_fix", source="projections"))
    _neighbours_panel(ws, selected)


def _caption(ws: Workspace, index: int) -> str:
    name = ws.class_names[ws.tv.labels[index]]
    head = ws.head
    sample = components.sample_name(ws, index)
    if head is not None:
        predicted = int(head.head.predictions[index])
        if predicted != ws.tv.labels[index]:
            return f"{sample} · {name} → {ws.class_names[predicted]}"
    return f"{sample} · {name}"


def _neighbours_panel(ws: Workspace, selected: np.ndarray) -> None:
    """The chosen image's neighbours (the first selected image's until one is clicked)."""
    chosen = selection.chosen_image(ws.tv.key)
    if chosen is None:
        chosen = int(selected[0])
    st.subheader(f"Nearest neighbours of {components.sample_name(ws, chosen)}")
    st.caption("Click :material/hub: under any image for its neighbours, "
               ":material/image_search: to inspect it.")
    components.show_neighbours(ws, chosen, key="proj_neighbours",
                               inspect_view=pages.INSPECT)
