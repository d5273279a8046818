"""A click acts on the transfer values the page showed when it was made (issue 28). An
action's button remembers them; the run that handles the click refuses, saying why and
naming the new values, when the views show other values by then, or when newer values are
being embedded in the background (the views would switch away from the result)."""

from __future__ import annotations

import streamlit as st

from dashboard.state import clicks


def values_label(ws) -> str:
    """The values a workspace shows, in words (as PendingExtraction.describe names them)."""
    s = ws.settings
    return f"{s.dataset_label} · {ws.tv.n:,} images · {s.backbone} at {s.image_size} px"


def remember(action: str, ws) -> dict:
    """Keyword arguments for the action's button: the click records the values shown."""
    return {"on_click": clicks.remember_click, "args": (action, ws.tv.key, values_label(ws))}


def refused(action: str, ws) -> bool:
    """After `action`'s button was clicked: True, with a warning, when it must not run on
    `ws` (the values changed since the page was drawn, or newer ones are on their way)."""
    clicked = clicks.take_click(action)
    if ws.pending is not None:
        st.warning(f"Not started: **{ws.pending.describe()}** are being embedded in the "
                   "background, and the views switch to them when they are ready, so this "
                   f"would work on values about to be replaced ({values_label(ws)}). Wait "
                   "for them, or Stop them in the sidebar to work on the values shown.",
                   icon=":material/schedule:")
        return True
    if clicked is not None and clicked[0] != ws.tv.key:
        st.warning(f"Not started: you clicked on a page that showed {clicked[1]}; the views "
                   f"now show **{values_label(ws)}**, just embedded. Click again to run it "
                   "on these.", icon=":material/sync_problem:")
        return True
    return False
