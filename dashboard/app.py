"""Transfer Lens: explore, train and debug classes in the browser.

Run from the repository root: `streamlit run dashboard/app.py`.
This file only sets up the page, draws the sidebar and hands over to the chosen view.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit puts this script's folder on sys.path, not the repository root that holds
# `core` and `dashboard`.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import importlib  # noqa: E402

import streamlit as st  # noqa: E402

from dashboard import components, resources, sidebar, state  # noqa: E402

VIEW_MODULES = {
    "Projections": ("projections", ":material/scatter_plot:"),
    "Train a head": ("train", ":material/model_training:"),
    "Confusion matrix": ("confusion", ":material/grid_on:"),
    "Failures": ("failures", ":material/report:"),
    "Label issues": ("label_issues", ":material/label_off:"),
    "Inspect an image": ("inspect", ":material/image_search:"),
    "Export": ("export", ":material/download:"),
}


def view_selector() -> str:
    """One view at a time (not tabs): only the chosen view computes and draws a chart."""
    st.segmented_control(
        "View", state.VIEWS, key=state.VIEW_KEY, required=True, label_visibility="collapsed",
        format_func=lambda view: f"{VIEW_MODULES[view][1]} {view}")
    return state.current_view()


def prepare(header, slots: dict) -> resources.Workspace | None:
    """The sidebar choices turned into a workspace (dataset + transfer values), or None."""
    source = sidebar.dataset_source()
    if source is None:
        header.info("Choose a dataset in the sidebar to begin.")
        return None
    settings = sidebar.model_settings(source, resources.full_dataset(source[0]))
    if settings is None:
        return None
    dataset = resources.limited_dataset(settings.dataset, settings.limit)
    header.markdown(f"**{settings.dataset_label}** · {len(dataset):,} images · "
                    f"**{settings.backbone}** at {settings.image_size} px")
    # the cache panel goes below the settings; while the values load it says so
    slots["status"] = st.sidebar.container()
    note = slots["status"].empty()
    note.markdown(":orange[●] Transfer values: loading or computing (see the progress bar)…")
    try:
        ws = resources.workspace(settings)  # None while the user has paused extraction
    finally:
        note.empty()
    if ws is not None:
        sidebar.feature_space_picker(ws)
        header.markdown(ws.describe())
        st.session_state["tv_key"] = ws.tv.key  # what the current page shows (tests read it)
    return ws


def main() -> None:
    st.set_page_config(page_title="Transfer Lens", page_icon=":material/lens_blur:",
                       layout="wide", initial_sidebar_state="expanded")
    state.init()
    components.inject_css()
    st.sidebar.title("Transfer Lens")
    st.sidebar.caption("How well do pretrained features separate your classes?")
    header = st.empty()  # what is being looked at; written as soon as it is known
    view = view_selector()
    ws, slots = None, {}
    with components.user_errors():
        ws = prepare(header, slots)
    if ws is not None:
        with components.user_errors():
            importlib.import_module(f"dashboard.views.{VIEW_MODULES[view][0]}").render(ws)
    with components.user_errors():
        sidebar.status_panel(slots.get("status", st.sidebar), None if ws is None else ws.tv.key)


main()
