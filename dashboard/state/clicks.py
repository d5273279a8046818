"""What a click was made on (issue 28): the transfer values an action's button showed when
the page was drawn, and whether the user chose to keep exploring the previous dataset while
a new one is embedded."""

from __future__ import annotations

import streamlit as st

CLICKED_ON = "_clicked_on"  # action → (tv key, words naming the values) at the click
EXPLORE_PREVIOUS = "_explore_previous"  # the pending tv key the user waits for on the old data


def remember_click(action: str, tv_key: str, label: str) -> None:
    """A button's on_click: `action` was clicked on a page that showed `tv_key`."""
    st.session_state.setdefault(CLICKED_ON, {})[action] = (tv_key, label)


def take_click(action: str) -> tuple[str, str] | None:
    """(tv key, label) the page showed when `action` was clicked, once; None: not clicked
    (or clicked before this bookkeeping existed)."""
    return st.session_state.setdefault(CLICKED_ON, {}).pop(action, None)


def explore_previous(pending_key: str) -> None:
    st.session_state[EXPLORE_PREVIOUS] = pending_key


def exploring_previous(pending_key: str) -> bool:
    return st.session_state.get(EXPLORE_PREVIOUS) == pending_key
