"""THE list of views: title, icon, module under dashboard/views/ and URL path.

Each view is an `st.Page` of `st.navigation` (hidden menu), so the view shows in the URL
(`/train`, `/confusion`, ...) and a reload or a link opens it. The visible switch is one
segmented control at the top of the page; choosing there switches the page.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import partial
from typing import Callable

import streamlit as st

from dashboard import state


@dataclass(frozen=True)
class View:
    title: str
    icon: str
    module: str  # dashboard.views.<module>, which has render(ws)
    url_path: str

    def render(self, ws) -> None:
        importlib.import_module(f"dashboard.views.{self.module}").render(ws)


PROJECTIONS = View("Projections", ":material/scatter_plot:", "projections", "projections")
TRAIN = View("Train a head", ":material/model_training:", "train", "train")
FINETUNE = View("Fine-tune the backbone", ":material/tune:", "finetune", "finetune")
CONFUSION = View("Confusion matrix", ":material/grid_on:", "confusion", "confusion")
FAILURES = View("Failures", ":material/report:", "failures", "failures")
DATA_QUALITY = View("Data quality", ":material/fact_check:", "data_quality", "quality")
INSPECT = View("Inspect an image", ":material/image_search:", "inspect", "inspect")
EXPORT = View("Export", ":material/download:", "export", "export")
REGRESSION = View("Regression", ":material/straighten:", "regression", "regression")
VIEWS: tuple[View, ...] = (PROJECTIONS, TRAIN, FINETUNE, CONFUSION, FAILURES, DATA_QUALITY,
                           INSPECT, EXPORT, REGRESSION)
BY_TITLE = {view.title: view for view in VIEWS}
# old URLs that still open a view (links shared before it was renamed)
OLD_URLS = {"label-issues": DATA_QUALITY}
BY_URL = {**{old: view for old, view in OLD_URLS.items()},
          **{view.url_path: view for view in VIEWS}}


def navigation(draw: Callable[[View], None]):
    """Register every view with st.navigation and draw the view switch.

    Returns (the page the URL asks for, the page the user chose instead or None). Switch to
    the latter with `st.switch_page` only at the end of the run: widgets not drawn in a run
    (the sidebar's) lose their state, so the run that switches must still draw them all.

    `draw(view)` is what running the page does (app.py draws the view with the workspace).
    """
    pages = {view.url_path: st.Page(partial(draw, view), title=view.title, icon=view.icon,
                                    url_path=view.url_path, default=view is VIEWS[0])
             for view in VIEWS}
    old = [st.Page(partial(draw, view), title=f"{view.title} ({path})", icon=view.icon,
                   url_path=path) for path, view in OLD_URLS.items()]
    page = st.navigation([*pages.values(), *old], position="hidden")
    current = BY_URL.get(page.url_path, VIEWS[0])  # the default page's url_path is ""
    chosen = _selector(current)
    return page, (None if chosen is current else pages[chosen.url_path])


def _selector(current: View) -> View:
    """The view switch, and the view chosen with it. The URL decides which page runs; the
    switch follows it when the URL changed (reload, link, back button)."""
    if state.shown_view() != current.url_path:
        state.go_to(current.title)  # before the widget is drawn
    state.set_shown_view(current.url_path)
    st.segmented_control(
        "View", list(BY_TITLE), key=state.VIEW_KEY, required=True, label_visibility="collapsed",
        format_func=lambda title: f"{BY_TITLE[title].icon} {title}")
    return BY_TITLE.get(state.chosen_view(), current)
