"""Correction widgets: per-image actions (accept the suggestion, relabel to a class, exclude,
undo), bulk actions on a set of images, and the sidebar's count.

Every change runs in a button's callback (before the next run draws), through
dashboard.services.corrections; a refused change (a bound, an unknown id) is shown once
as a message instead of a traceback."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import streamlit as st

from core.base.errors import TransferLensError
from dashboard import state
from dashboard.services import corrections as fixes
from dashboard.services.public import visible
from dashboard.services.workspace import Workspace
from dashboard.ui.components import Destination

NOTICE = "corrections_notice"  # the last change's outcome, shown once
ACTION_WORDS = {"relabel": "relabelled", "exclude": "excluded", "keep": "label kept"}


def act(change: Callable[..., int], *args, done: str = "", **kwargs) -> None:
    """Run a change (a callback); remember what it did, or why it was refused."""
    try:
        changed = change(*args, **kwargs)
    except TransferLensError as error:
        state.put(NOTICE, ("error", visible(str(error))))
        return
    if done:
        state.put(NOTICE, ("success", done.format(n=changed, s="" if changed == 1 else "s")))


def show_notice() -> None:
    """The last change's outcome (once), where the view calls it."""
    found = state.pop(NOTICE)
    if found is None:
        return
    level, text = found
    if level == "error":
        st.error(text, icon=":material/error:")
    else:
        st.toast(text, icon=":material/check:")


def badge(status: tuple[str, str] | None) -> str:
    """A short markdown badge for a sample's record ("" when it has none)."""
    if status is None:
        return ""
    action, label = status
    if action == "relabel":
        return f":blue-badge[:material/edit: relabelled → {label}]"
    if action == "exclude":
        return ":red-badge[:material/block: excluded]"
    return ":green-badge[:material/check: label kept]"


def sample_actions(ws: Workspace, corrections, index: int, *, key: str, source: str,
                   suggestion: int | None = None, compact: bool = False) -> None:
    """Actions for one image: accept `suggestion` (a class index), relabel to any class,
    exclude, undo. `compact` puts them in a small popover (thumbnail galleries)."""
    index = int(index)
    status = fixes.status_of(corrections, ws, [index]).get(index)
    if compact:
        label = ":material/edit:" if status is None else (
            ":material/edit_note:" if status[0] == "relabel" else
            ":material/block:" if status[0] == "exclude" else ":material/check:")
        with st.popover(label, help="Fix this image's label: relabel, exclude, undo"):
            _actions(ws, index, status, key=key, source=source, suggestion=suggestion)
        return
    if status is not None:
        st.markdown(badge(status))
    _actions(ws, index, status, key=key, source=source, suggestion=suggestion)


def _actions(ws: Workspace, index: int, status, *, key: str, source: str,
             suggestion: int | None) -> None:
    names = ws.class_names
    given = int(ws.tv.labels[index])
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    done = status is not None and status[0] == "relabel" and suggestion is not None \
        and status[1] == names[int(suggestion)]
    if suggestion is not None and int(suggestion) != given and not done:
        row.button(f"Accept {names[int(suggestion)]}", key=f"{key}_accept_{index}",
                   icon=":material/check:", type="primary",
                   on_click=act, args=(fixes.relabel, ws, [index], int(suggestion)),
                   kwargs={"source": source, "done": f"Relabelled to {names[int(suggestion)]}."})
    current = names.index(status[1]) if status and status[0] == "relabel" else given
    widget = f"{key}_to_{index}"
    state.put(widget, current)  # the box shows the label in force (after an undo too)
    row.selectbox("Relabel to", list(range(len(names))), format_func=lambda c: names[c],
                  key=widget, on_change=_relabel_from, args=(ws, index, widget, source),
                  label_visibility="collapsed", width=150, icon=":material/edit:",
                  help="Relabel to this class (the label in force is shown)")
    row.button("Exclude", key=f"{key}_exclude_{index}", icon=":material/block:",
               disabled=bool(status and status[0] == "exclude"),
               on_click=act, args=(fixes.exclude, ws, [index]),
               kwargs={"source": source, "done": "Excluded from training and evaluation."})
    row.button("Undo", key=f"{key}_undo_{index}", icon=":material/undo:",
               disabled=status is None, help="Back to the dataset's label",
               on_click=act, args=(fixes.undo_rows, ws, [index]),
               kwargs={"done": "Back to the dataset's label."})


def _relabel_from(ws: Workspace, index: int, widget: str, source: str) -> None:
    label = int(state.get(widget))
    act(fixes.relabel, ws, [index], label, source=source,
         done=f"Relabelled to {ws.class_names[label]}.")


def bulk_actions(ws: Workspace, rows: Sequence[int] | np.ndarray, *, key: str, source: str,
                 suggestions: Mapping[int, int] | None = None, what: str = "shown") -> None:
    """Act on `rows` at once: accept every suggestion among them, relabel all to one
    class, exclude all, or undo the last change (each one undoable step)."""
    rows = [int(r) for r in rows]
    if not rows:
        return
    names = ws.class_names
    with st.container(border=True):
        st.markdown(f"**All {len(rows):,} {what}** · one step each, undoable")
        cols = st.columns([3, 3, 2, 2, 2], vertical_alignment="bottom")
        with_suggestion = [r for r in rows if suggestions and r in suggestions
                           and suggestions[r] != int(ws.tv.labels[r])]
        if suggestions is not None:
            cols[0].button(f"Accept {len(with_suggestion):,} suggestions",
                           key=f"{key}_accept_all", icon=":material/done_all:", type="primary",
                           disabled=not with_suggestion,
                           on_click=act,
                           args=(fixes.relabel, ws, with_suggestion,
                                 [suggestions[r] for r in with_suggestion]),
                           kwargs={"source": source, "done": "Relabelled {n} image{s}."})
        target = cols[1].selectbox("Relabel all to", list(range(len(names))),
                                   format_func=lambda c: names[c], key=f"{key}_bulk_class")
        cols[2].button("Relabel all", key=f"{key}_relabel_all", icon=":material/edit:",
                       on_click=act, args=(fixes.relabel, ws, rows, int(target)),
                       kwargs={"source": source, "done": "Relabelled {n} image{s}."})
        cols[3].button(f"Exclude {len(rows):,}", key=f"{key}_exclude_all",
                       icon=":material/block:", on_click=act,
                       args=(fixes.exclude, ws, rows),
                       kwargs={"source": source, "done": "Excluded {n} image{s}."})
        cols[4].button("Undo last", key=f"{key}_undo_last", icon=":material/undo:",
                       on_click=act, args=(fixes.undo_last, ws),
                       kwargs={"done": "Undid the last change ({n} image{s})."})


def sidebar_status(where, ws: Workspace, *, review_view: Destination) -> None:
    """The sidebar's line on corrections: how many are in force, and a link to the queue."""
    try:
        counts = fixes.overlay(ws).counts()
    except TransferLensError as error:
        where.warning(visible(str(error)))
        return
    if not counts["total"]:
        return
    where.markdown(f":blue[●] Corrections: **{counts['relabel']:,} relabelled, "
                   f"{counts['exclude']:,} excluded** ({counts['keep']:,} kept as given)")
    where.button(f"Review queue (“{review_view.title}”)", key="sidebar_review",
                 icon=":material/rule:", on_click=review_view.go_to, type="tertiary")


def gallery_actions(ws: Workspace, corrections, *, key: str, source: str,
                    suggestions: Mapping[int, int] | None = None) -> Callable[[int], None]:
    """What a thumbnail gallery draws under each image (components.image_grid's `under`):
    its record's badge and a compact popover of actions."""

    def draw(index: int) -> None:
        status = fixes.status_of(corrections, ws, [index]).get(int(index))
        if status is not None:
            st.markdown(badge(status))
        sample_actions(ws, corrections, index, key=key, source=source, compact=True,
                       suggestion=None if suggestions is None else suggestions.get(int(index)))

    return draw
