"""Error slices: coherent groups of images where the head fails far more than on average
(core.analysis.slices, as `python -m core slices`), on the map; a selection on the map is
scored the same way; each group's images with their class activation maps."""

from __future__ import annotations

import hashlib
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core.base.errors import ResourceLimitError
from core.base.public import PublicModeError
from core.base.splits import SPLIT_NAMES
from dashboard import pages, state
from dashboard.services import selections, slices
from dashboard.services.analysis import projection as project
from dashboard.services.memo import remembered
from dashboard.services.public import visible
from dashboard.services.workspace import Workspace
from dashboard.state import projection, selection, url
from dashboard.ui import cam_overlays, components, figures, map_figures, slice_figures
from dashboard.ui.components import METHOD_LABELS
from dashboard.ui.progress import REPORT

SELECTED = "selection"  # the focus when the map's selection is scored


def render(ws: Workspace) -> None:
    if components.classes_only(ws, "Error slices", regression_view=pages.REGRESSION):
        return
    if ws.head is None and not slices.head_options(ws):
        components.need_head("error slices", "slices", train_view=pages.TRAIN)
        return
    head = _pick_head(ws)
    rows = slices.evaluated_rows(ws, head)
    wrong = head.predictions != ws.tv.labels
    overall = float(wrong[rows].mean()) if len(rows) else 0.0
    st.caption(_evaluated_note(ws, head, rows, overall))
    found = _slice_list(ws, head)
    # the map is the Projections view's, and so is its selection (the link's `sel=` too)
    method, _, params = projection.projection_choice()
    coords = project(ws.tv, method=method, dims=2, params=params, report=REPORT)
    grid = remembered(("display", coords.key),
                      lambda: map_figures.display_coords(np.asarray(coords.coords)))
    selections.map_selection_from_link(ws, grid=grid, projection_key=coords.key)
    selections.relink(ws, selection.stored_selection(ws.tv.key), drawn_on=coords.key)
    focus = _focus(found, ws)
    item, label = _focused(ws, head, found, focus)
    left, right = st.columns([3, 2])
    with left:
        _map(ws, coords, grid, rows, wrong, item, label)
    with right:
        _details(ws, head, item, label, overall)
    if item is not None:
        st.subheader(f"{label.capitalize()}: {item.size:,} images")
        names = ws.class_names

        def caption(i: int) -> str:
            given, predicted = names[ws.tv.labels[i]], names[head.predictions[i]]
            verdict = "✓" if given == predicted else f"→ {predicted}"
            return f"{components.sample_name(ws, i)} · {given} {verdict}"

        st.caption("Under each image: its sample id and given class, then ✓ when the head "
                   "predicts it, else → the predicted class. Failing images nearest the "
                   "group's centre first.")
        cam_overlays.gallery(ws, head, slices.gallery_order(item, head, ws.tv.labels), caption,
                             key="slice_gallery", per_page=24, size=112, pick=ws.tv.key, per_row=6,
                             inspect_view=pages.INSPECT)
        components.neighbours_panel(ws, item.members, key="slice_neighbours",
                                    inspect_view=pages.INSPECT)


def _pick_head(ws: Workspace):
    options = slices.head_options(ws)
    active = next(iter(options))  # the active head first (else the newest)
    if state.get(state.SLICE_HEAD) not in options:
        state.put(state.SLICE_HEAD, active)
    option = st.selectbox("Head", list(options), format_func=options.get, key=state.SLICE_HEAD,
                          help="Whose mistakes are grouped: the active head, the cross-fitted "
                               "one of Data quality, or another head trained on these values.")
    return slices.chosen_head(ws, option)


def _evaluated_note(ws: Workspace, head, rows: np.ndarray, overall: float) -> str:
    where = (f"all {len(rows):,} images (the head was cross-fitted: each was predicted by a "
             "model that never saw it)" if head.cross_fit_folds >= 2 else
             f"the {len(rows):,} validation and test images (a cross-fitted head, e.g. Data "
             "quality's, covers every image)")
    return (f"Only out-of-sample predictions count: {where}. {overall:.1%} of them are wrong. "
            "A slice is a group of nearby images (in transfer-value space) that the head gets "
            "wrong far more often, ranked by a scan statistic with a significance floor "
            "(docs/slices.md).")


def _slice_list(ws: Workspace, head) -> list:
    """The slices as a table (core's ErrorSlice list, best first); [] when none or too many
    images to search (core's bound, said in a warning: a map selection is still scored)."""
    try:
        result = slices.error_slices(ws, head, report=REPORT)
    except ResourceLimitError as error:
        st.warning(f"{error}. In the app: fewer “Images to embed” in the sidebar. A selection "
                   "on the map is still scored.", icon=":material/block:")
        return []
    except PublicModeError as error:  # over the public bound, or the session's job share
        st.warning(f"{visible(str(error))} A selection on the map is still scored.",
                   icon=":material/block:")
        return []
    if not len(result):
        st.success(f"No error slices: none of the {result.candidates:,} candidate groups errs "
                   "significantly more than the rest. Select points on the map to score a "
                   "group of your own.", icon=":material/check_circle:")
        return []
    st.markdown(f"**{len(result)} error slice{'s' if len(result) != 1 else ''}** among "
                f"{result.candidates:,} candidate groups")
    table = pd.DataFrame({
        "slice": [f"#{s.rank}" for s in result.slices],
        "images": [s.size for s in result.slices],
        "wrong": [s.error_rate for s in result.slices],
        "rest": [s.rest_error_rate for s in result.slices],
        "mistakes": [_pairs(s.pairs) for s in result.slices],
        "description": [s.description for s in result.slices]})
    st.dataframe(table, hide_index=True, key="slice_table", column_config={
        "slice": st.column_config.TextColumn("Slice", width="small"),
        "images": st.column_config.NumberColumn("Images", width="small"),
        "wrong": st.column_config.ProgressColumn("Wrong in it", format="percent",
                                                 min_value=0, max_value=1, width="medium"),
        "rest": st.column_config.ProgressColumn("Wrong elsewhere", format="percent",
                                                min_value=0, max_value=1, width="medium"),
        "mistakes": st.column_config.TextColumn("Top mistakes (given → predicted)"),
        "description": st.column_config.TextColumn("Description", width="large")})
    return result.slices


def _pairs(pairs: list[dict]) -> str:
    return ", ".join(f"{p['given']} → {p['predicted']} ×{p['count']}" for p in pairs)


def _focus(found: list, ws: Workspace) -> str | None:
    """What the map and the gallery show: a slice's rank, or the map's selection."""
    options = [str(s.rank) for s in found]
    if len(selection.selection(ws.tv.key)):
        options.append(SELECTED)
    linked = url.take_url(url.URL_SLICE)
    if linked in options:
        state.put(state.SLICE_FOCUS, linked)
    elif linked is not None:
        url.reject_url(url.URL_SLICE, linked, (
            f"the slices here are 1 to {len(found)}" if found else "there is no slice here")
            + (", and a selection" if SELECTED in options else ", and nothing is selected")
            + f"; showing {_name(options[0]) if options else 'neither'}")
    if not options:
        return None
    if state.get(state.SLICE_FOCUS) not in options:
        state.put(state.SLICE_FOCUS, options[0])
    return st.segmented_control(
        "Show", options, key=state.SLICE_FOCUS, required=True,
        format_func=_name,
        help="A slice's images are highlighted on the map and shown below. Drag a box or "
             "lasso on the map to score any group the same way.")


def _name(option: str) -> str:
    return "Selection on the map" if option == SELECTED else f"Slice #{option}"


def _focused(ws: Workspace, head, found: list, focus: str | None):
    """(ErrorSlice or None, its name) of the focus."""
    if focus == SELECTED:
        picked = selection.selection(ws.tv.key)
        return slices.score_selection(ws, head, picked, report=REPORT), "your selection"
    if focus is None:
        return None, ""
    return found[int(focus) - 1], f"slice #{focus}"


def _map(ws: Workspace, coords, grid: np.ndarray, rows: np.ndarray, wrong: np.ndarray, item,
         label: str) -> None:
    method = coords.method
    members = np.zeros(0, np.int64) if item is None else item.members
    drawn = rows
    if len(rows) > map_figures.POINTS_UP_TO:  # the slice's own points are drawn in any case
        drawn = np.sort(np.random.default_rng(0).choice(rows, map_figures.POINTS_UP_TO,
                                                        replace=False))
    digest = hashlib.sha1(wrong.tobytes() + drawn.tobytes() + members.tobytes()).hexdigest()
    figure = remembered(
        ("slice_map", coords.key, digest, label),
        lambda: figures.PrerenderedFigure(slice_figures.slice_map(
            coords=np.asarray(coords.coords), evaluated=drawn, wrong=wrong, highlight=members,
            label=label or "slice", sample_ids=ws.tv.sample_ids)))
    st.plotly_chart(figure, key=state.SLICE_CHART,
                    on_select=partial(_on_select, ws, grid=grid, drawn_on=coords.key),
                    selection_mode=("points", "box", "lasso"),
                    config={"scrollZoom": True, "displaylogo": False})
    components.chart_note()
    sample = (f", a seeded sample of {len(drawn):,} drawn (a box scores the drawn ones)"
              if len(drawn) < len(rows) else "")
    st.caption(f"{METHOD_LABELS.get(method, method)} of the {len(rows):,} evaluated images "
               f"(the Projections view's method){sample}. Drag a box or lasso to score a group.")


def _on_select(ws: Workspace, *, grid: np.ndarray, drawn_on: str) -> None:
    """A box or lasso on the map becomes the projection's selection (the Projections view
    shows it too) and is scored here. In the link as its shape when that selects the same
    images on the whole map (`grid`), else as their ids."""
    event = selection.chart_event(state.SLICE_CHART, limits=(ws.tv.n,))
    if event is None or not len(event.rows):  # refused (a note says why), or nothing picked
        return
    picked = event.rows.tolist()
    selection.set_selection(ws.tv.key, picked, link=selections.link_value(
        ws, picked, grid=grid, boxes=event.boxes, lassos=event.lassos), drawn_on=drawn_on)
    selection.forget_image()
    state.put(state.SLICE_FOCUS, SELECTED)


def _details(ws: Workspace, head, item, label: str, overall: float) -> None:
    if item is None:
        if len(selection.selection(ws.tv.key)):
            st.warning("None of the selected images has an out-of-sample prediction (they are "
                       "all training images of a head that was not cross-fitted), or they "
                       "are all of them: nothing to compare.", icon=":material/info:")
        else:
            st.info("Drag a box or lasso on the map to score a group of images as a slice.",
                    icon=":material/select:")
        return
    st.markdown(f"**{label.capitalize()}** · {item.size:,} images, {item.errors:,} wrong")
    accuracy, rest = st.columns(2)
    accuracy.metric("Accuracy in it", f"{item.accuracy:.1%}", border=True,
                    delta=f"{100 * (item.accuracy - item.rest_accuracy):+.1f} pts",
                    delta_color="normal")
    rest.metric("Accuracy elsewhere", f"{item.rest_accuracy:.1%}", border=True)
    st.markdown(item.description)
    if item.pairs:
        st.markdown("  \n".join(f"- {p['given']} → {p['predicted']}: {p['count']} "
                                f"({p['share']:.0%} of its errors)" for p in item.pairs))
    p_value = "< 1e-300" if item.p_value == 0 else f"{item.p_value:.2g}"
    split, share = item.facts.get("split", {}).get("name"), item.facts.get("split", {}).get("share")
    st.caption(f"Scan score {item.score:.1f} (p {p_value}); overall error rate {overall:.1%}"
               + (f"; {share:.0%} {split}" if split in SPLIT_NAMES and share else "") + ".")
    buttons = st.columns(2)
    buttons[0].button("In Projections", icon=":material/scatter_plot:", key="slice_to_map",
                      on_click=_to_projections, args=(ws.tv.key, item.members),
                      help="Select these images on the Projections view's map (its gallery, "
                           "class mix and neighbours).")
    with buttons[1]:
        components.csv_download(ws, item.members, what=f"slice_{item.rank}" if item.rank else "selection",
                                label="Images as CSV", key="slice_csv", head=head,
                                help="One row per image of the group: sample id, label, class, "
                                     "split, the head's prediction and class probabilities.")


def _to_projections(tv_key: str, members: np.ndarray) -> None:
    selection.set_selection(tv_key, members)
    selection.forget_image()
    state.put(state.SLICE_FOCUS, SELECTED)
    pages.PROJECTIONS.go_to()
