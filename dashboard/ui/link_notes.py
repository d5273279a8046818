"""The link's ignored parameters, near the top of the sidebar until dismissed."""

from __future__ import annotations

import streamlit as st

from dashboard.state import url


def show(slot, *, final: bool = False) -> None:
    """The link's ignored parameters, in `slot` (an st.empty near the top of the sidebar):
    drawn before the embedding starts and again at the end of the run with what the views
    added, and kept until the visitor dismisses them."""
    warnings = url.url_warnings()
    if not warnings:
        slot.empty()
        return
    with slot.container():
        for warning in warnings:
            st.warning(f"Ignored the link's {warning}.", icon=":material/link_off:")
        if final:
            st.button("Dismiss", key="dismiss_link_notes", on_click=url.dismiss_url_warnings,
                      icon=":material/close:", type="tertiary")
