"""Transfer Lens: explore, train and debug classes in the browser.

Run from the repository root: `streamlit run dashboard/app.py`.
This file only sets up the page, draws the sidebar and hands over to the chosen view
(the list of views is dashboard/pages.py).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

# Streamlit puts this script's folder on sys.path, not the repository root that holds
# `core` and `dashboard`.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from dashboard import pages, state  # noqa: E402
from dashboard.services import allocator, datasets  # noqa: E402
from dashboard.services.bundles import is_bundle_source  # noqa: E402
from dashboard.services.public import (is_public, session_jobs, start_session,  # noqa: E402
                                       warn_if_server_takes_larger_uploads)
from dashboard.services.workspace import Workspace, bundle_workspace, workspace  # noqa: E402
from dashboard.state import session, url  # noqa: E402
from dashboard.ui import (cache_panel, chart_events, components, extraction,  # noqa: E402
                          link_notes, progress, sidebar)
from dashboard.ui import corrections as corrections_ui  # noqa: E402


def prepare(header, slots: dict, navigate: Callable) -> Workspace | None:
    """The sidebar choices turned into a workspace (dataset + transfer values), or None.
    `navigate(dataset)` is called as soon as the dataset is known (it decides the views)."""
    source = sidebar.dataset_source()
    if source is None:
        header.info(sidebar.no_dataset_note(), icon=":material/info:")
        return None
    if is_bundle_source(source[0]):
        ws = _published(header, slots, source[0])
        navigate(ws.dataset)
        return ws
    full = datasets.full_dataset(source[0])
    navigate(full)  # before the (maybe long) embedding, so the menu shows meanwhile
    slots["dataset"], slots["label"] = full, source[1]
    sidebar.skipped_files(full)
    settings = sidebar.model_settings(source, full)
    link_notes.show(slots["notes"])  # now: the embedding below can take minutes
    if settings is None:
        return None
    dataset = datasets.limited_dataset(settings.dataset, settings.limit)
    header.markdown(f"**{settings.dataset_label}** · {len(dataset):,} images · "
                    f"**{settings.backbone}** at {settings.image_size} px")
    # the cache panel goes below the settings; while the values load it says so
    slots["status"] = st.sidebar.container()
    note = slots["status"].empty()
    note.markdown(":orange[●] Transfer values: loading or computing (see the progress bar)…")
    try:
        ws = workspace(settings, watch=extraction.WATCH)  # None while extraction is paused
    finally:
        note.empty()
    if ws is not None:
        sidebar.feature_space_picker(ws)
        header.markdown(ws.describe())
        if extraction.takes_over(ws):  # a new dataset: its progress fills the view
            header.markdown(f"**{ws.pending.settings.dataset_label}** is being embedded "
                            f"(progress below); {ws.settings.dataset_label} is still open.")
        elif ws.pending is not None:  # the new settings are embedded in the background
            header.markdown(f"{ws.describe()}  \n:orange[Showing the previous transfer "
                            f"values while {ws.pending.describe()} are embedded in the "
                            "background (progress in the sidebar).]")
            extraction.pending_extraction(ws.pending)
        state.set_tv_key(ws.tv.key)
    return ws


def _published(header, slots: dict, source: str) -> Workspace:
    """A published bundle: everything precomputed, read from its files (no backbone runs)."""
    ws = bundle_workspace(source)
    slots["dataset"], slots["label"] = ws.dataset, ws.settings.dataset_label
    sidebar.bundle_settings(ws)
    slots["status"] = st.sidebar.container()
    header.markdown(ws.describe())
    state.set_tv_key(ws.tv.key)
    return ws


# TRANSFER_LENS_RUN_LOG=FILE: one JSON line per script run (view, server seconds), so the
# load benchmark can tell the server's part of a view switch from the browser's
RUN_LOG = os.environ.get("TRANSFER_LENS_RUN_LOG")


def log_run(started: float) -> None:
    if RUN_LOG:
        line = json.dumps({"view": state.shown_view(), "seconds": time.perf_counter() - started,
                           "session": session.session_token()[:8]})
        with open(RUN_LOG, "a", encoding="utf-8") as log:  # one short append per run
            log.write(line + "\n")


def main() -> None:
    started = time.perf_counter()
    allocator.tune()  # once per process: the script threads' C heap (see the module)
    try:
        with session_jobs():  # foreground heavy jobs count against this session's share
            run_app()
    finally:  # also when the run ends in st.rerun() or st.switch_page()
        log_run(started)


def run_app() -> None:
    st.set_page_config(page_title="Transfer Lens", page_icon=":material/lens_blur:",
                       layout="wide", initial_sidebar_state="expanded")
    if is_public():  # Streamlit's own error display too shows no traceback to visitors
        st.set_option("client.showErrorDetails", "none")
        warn_if_server_takes_larger_uploads()
    start_session()
    chart_events.pass_unreadable_events()  # a forged chart event gets a note, not an error
    components.inject_css()
    st.sidebar.title("Transfer Lens")
    st.sidebar.caption("How well do pretrained features separate your classes?")
    header = st.empty()  # what is being looked at; written as soon as it is known
    ws, slots, shown = None, {"notes": st.sidebar.empty()}, []  # notes: the link's, on top

    def draw(view: pages.View) -> None:  # runs inside page.run(), once ws is prepared
        with progress.view_container(), components.user_errors():
            if note := pages.view_note():
                st.info(note, icon=":material/info:")
            if extraction.takes_over(ws):
                extraction.pending_extraction(ws.pending, previous=ws)
                return
            view.render(ws)

    def navigate(dataset) -> None:  # one view at a time: only it computes, draws
        shown.append(pages.navigation(draw, dataset=dataset))

    # the view's frame: a long computation (extraction, projection, training) empties the
    # view and draws its progress there alone, so no greyed copy of the view shows below
    with progress.view_frame(st.container()):
        with components.user_errors():
            ws = prepare(header, slots, navigate)
        if not shown:  # no dataset chosen, or choosing it failed: the menu all the same
            navigate(None)
        if ws is not None:
            shown[-1].run()
    with components.user_errors():
        cache_panel.status_panel(slots.get("status", st.sidebar), None if ws is None else ws.tv.key,
                                 slots.get("dataset"), slots.get("label", ""), ws=ws)
        if ws is not None and ws.target is None:
            corrections_ui.sidebar_status(st.sidebar, ws, review_view=pages.REVIEW)
    link_notes.show(slots["notes"], final=True)
    url.write_url(sidebar.link_values())  # a reload or a shared link shows the same


main()
