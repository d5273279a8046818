"""THE list of views: title, icon, module under dashboard/views/ and URL path.

Each view is an `st.Page` of Streamlit's own `st.navigation`, shown at the top of the page:
a click there is one script run, and the view shows in the URL (`/train`, `/confusion`,
...), so a reload or a link opens it. Old URLs and views the dataset does not offer are
hidden pages that hand over to the right view (see `navigation`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import partial
from typing import Callable

import streamlit as st

from dashboard import state
from dashboard.state import url


@dataclass(frozen=True)
class View:
    title: str
    icon: str
    module: str  # dashboard.views.<module>, which has render(ws)
    url_path: str
    needs_target: bool = False  # offered only for datasets with a numeric target
    section: str = ""  # "" is on the menu's row; a name is a drop-down of that name after it
    # False: not a menu link (opened by URL and by the buttons that go there)
    in_menu: bool = True

    def render(self, ws) -> None:
        importlib.import_module(f"dashboard.views.{self.module}").render(ws)

    def go_to(self) -> None:
        """Switch to this view (a button's on_click; see `go_to`). ui/ takes views as such
        destinations, so it switches without importing this module (ui sits below it)."""
        go_to(self)


PROJECTIONS = View("Projections", ":material/scatter_plot:", "projections", "projections")
TRAIN = View("Train a head", ":material/model_training:", "train", "train")
# the everyday loop is one click away; the rarer ways to train fold into one drop-down,
# so the row fits 1,280 px beside the sidebar
MORE_TRAINING = "Train more"
FINETUNE = View("Fine-tune", ":material/tune:", "finetune", "finetune", section=MORE_TRAINING)
CONFUSION = View("Confusion", ":material/grid_on:", "confusion", "confusion")
FAILURES = View("Failures", ":material/report:", "failures", "failures")
SLICES = View("Error slices", ":material/troubleshoot:", "slices", "slices")
DATA_QUALITY = View("Data quality", ":material/fact_check:", "data_quality", "quality")
# Review is reached from Data quality and the sidebar (a link on the menu's row would not
# fit 1,280 px; tests/test_browser.py)
REVIEW = View("Review", ":material/rule:", "review", "review", in_menu=False)
INSPECT = View("Inspect", ":material/image_search:", "inspect", "inspect")
EXPORT = View("Export", ":material/download:", "export", "export")
REGRESSION = View("Regression", ":material/straighten:", "regression", "regression",
                  needs_target=True, section=MORE_TRAINING)
VIEWS: tuple[View, ...] = (PROJECTIONS, TRAIN, FINETUNE, CONFUSION, FAILURES, SLICES,
                           DATA_QUALITY, REVIEW, INSPECT, EXPORT, REGRESSION)
BY_TITLE = {view.title: view for view in VIEWS}
# old URLs that still open a view (links shared before it was renamed)
OLD_URLS = {"label-issues": DATA_QUALITY}
BY_URL = {**{old: view for old, view in OLD_URLS.items()},
          **{view.url_path: view for view in VIEWS}}


def offered(*, numeric_targets: bool) -> tuple[View, ...]:
    """The views listed in the menu for a dataset (with or without a numeric target)."""
    return tuple(view for view in VIEWS if view.in_menu
                 and (numeric_targets or not view.needs_target))


def menu(views: tuple[View, ...]) -> dict[str, list[View]]:
    """The menu's layout: views on the row ("" first), then one drop-down per section."""
    sections: dict[str, list[View]] = {"": []}
    for view in views:
        sections.setdefault(view.section, []).append(view)
    return sections


def page(view: View, draw: Callable[[View], None] | None = None, *,
         hidden: bool = False, url_path: str | None = None) -> st.Page:
    """The view's st.Page. Its identity is the URL path, so a page made again (for
    st.switch_page from a button) is the one st.navigation registered."""
    return st.Page(partial(draw or _not_drawn, view), title=view.title, icon=view.icon,
                   url_path=url_path or view.url_path, default=view is VIEWS[0],
                   visibility="hidden" if hidden else "visible")


def navigation(draw: Callable[[View], None], *, dataset=None) -> st.Page:
    """Register the views with st.navigation (the menu at the top) and return the page this
    run draws; `page.run()` calls `draw(view)` (app.py draws the view with the workspace).

    `dataset` (the chosen one, or None) decides which views are offered. A URL that names a
    view not offered (Regression on a dataset without a numeric target) or an old URL
    switches to the view it stands for, or to the first view with a note that says why.
    """
    listed = offered(numeric_targets=bool(dataset is not None and dataset.target_names))
    sections = {name: [page(view, draw) for view in views]
                for name, views in menu(listed).items()}
    sections[""] += [page(view, draw, hidden=True) for view in VIEWS if not view.in_menu]
    # reachable by URL only: they never draw, they switch (below)
    aliases = {**{view.url_path: view for view in VIEWS
                  if view not in listed and view.in_menu},
               **OLD_URLS}
    hidden = [page(view, hidden=True, url_path=path) for path, view in aliases.items()]
    sections[""].extend(hidden)
    current = st.navigation(sections, position="top")
    path = current.url_path or VIEWS[0].url_path  # the default page's url_path is ""
    if path in aliases:
        view = aliases[path]
        if view not in listed:
            name = getattr(dataset, "name", "this dataset")
            state.note_view(VIEWS[0].url_path,
                            f"The link opens “{view.title}”, which needs a numeric target; "
                            f"**{name}** has none, so this is “{VIEWS[0].title}”.")
            view = VIEWS[0]
        # the widgets drawn so far keep their state: a run stopped for a switch keeps all
        st.switch_page(page(view), query_params=url.url_params())
    if state.shown_view() != path:
        url.resend_url()
    state.set_shown_view(path)
    return current


def view_note() -> str | None:
    """Why this view, not the one the link asked for (shown while the view stays open)."""
    return state.view_note(state.shown_view())


def go_to(view: View) -> None:
    """Switch to `view` in the same run (a button's on_click: callbacks run before the
    script, so the script runs once, on the new page). Keeps the URL's parameters."""
    st.switch_page(page(view), query_params=url.url_params())


def _not_drawn(view: View) -> None:
    raise RuntimeError(f"{view.title}: a page made for st.switch_page is never run")
