"""The link: what the page shows, in the URL's query string (st.query_params).

Read once at session start (they seed the widgets; invalid values are ignored with a
warning), written back on every run, so a reload or a shared link shows the same picture.
The view itself is the URL's path (dashboard/pages.py).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.analysis.projection_params import CHOSEN_NAMES

URL_DATASET = "ds"  # a built-in dataset name or a folder / .zip path
URL_BACKBONE = "bb"  # a registered backbone or "model.keras:layer"
URL_SIZE = "px"  # input size in pixels, or "auto"
URL_LIMIT = "n"  # images to embed, or "all"
URL_METHOD = "m"  # projection method: pca, tsne, umap
URL_DIMS = "dims"  # the projection in 3-D: 3 (absent: 2-D)
URL_COLOUR = "c"  # colour the projection by: class, predicted, correct, confidence, split
URL_HEAD = "h"  # the active head's key (a cached head on these transfer values)
URL_REGRESSION_HEAD = "rh"  # the chosen target's regression head's key (as `h=`)
URL_TARGET = "t"  # a numeric target's name (absent: the classes)
URL_SELECTION = "sel"  # the map's selection (core.analysis.selection_link)
URL_CELL = "cell"  # the confusion matrix's cell: true,predicted class indices
URL_SPLIT = "split"  # the confusion matrix's split
URL_REGRESSION_SELECTION = "rsel"  # predicted-vs-actual's selection (as `sel=`, on its chart)
URL_SLICE = "slice"  # Error slices: the slice shown (its rank) or "selection"
URL_FINETUNE = "ft"  # a finished fine-tuning's run key (core.finetune.run.finished_config)
URL_COMPARE = "compare"  # Projections: before and after fine-tuning side by side (true)
URL_ZOOM = "zoom"  # the density map's zoom (core.analysis.selection_link.parse_zoom)
URL_SPACE = "space"  # every view on the fine-tuned backbone: fine_tuned (absent: original)
# t-SNE's and UMAP's chosen parameters go by their own names (perplexity, n_neighbors, ...)
URL_KEYS = (URL_DATASET, URL_BACKBONE, URL_SIZE, URL_LIMIT, URL_METHOD, URL_DIMS, *CHOSEN_NAMES,
            URL_COLOUR, URL_HEAD, URL_REGRESSION_HEAD, URL_TARGET, URL_SELECTION, URL_CELL,
            URL_SPLIT, URL_REGRESSION_SELECTION, URL_SLICE, URL_ZOOM, URL_FINETUNE, URL_COMPARE,
            URL_SPACE)
URL_START = "_url_start"  # the link's parameters at session start, taken one by one
URL_WARNINGS = "_url_warnings"  # link parameters that were ignored, and why


def _url_start() -> dict[str, str]:
    if URL_START not in st.session_state:
        st.session_state[URL_START] = {key: st.query_params[key] for key in URL_KEYS
                                       if key in st.query_params}
    return st.session_state[URL_START]


def peek_url(name: str) -> str | None:
    """The link's value for `name` at session start, left there for `take_url`."""
    value = _url_start().get(name)
    return None if value is None else str(value).strip() or None


def take_url(name: str) -> str | None:
    """The link's value for `name` at session start, once (None: absent or already taken)."""
    value = _url_start().pop(name, None)
    return None if value is None else str(value).strip() or None


def reject_url(name: str, value: str, why: str) -> None:
    """A link parameter that cannot be used: it is ignored, with a warning (see url_warnings)."""
    warnings = st.session_state.setdefault(URL_WARNINGS, [])
    value = _inert(value if len(value) <= 60 else value[:57] + "…")  # a long selection, path
    text = f"`{name}={value}`: {why}"
    if text not in warnings:
        warnings.append(text)


def _inert(value: str) -> str:
    """A link's value as its note shows it, in a code span: without backticks or line breaks
    nothing can end the span, so a crafted link puts no markdown of its own (a link, an
    image) on the page of whoever opens it."""
    return "".join("'" if c == "`" else c if c.isprintable() else " " for c in value)


def url_warnings() -> list[str]:
    """The link's ignored parameters, shown until dismissed (a long computation reruns the
    script: a note shown once would vanish with it)."""
    return list(st.session_state.get(URL_WARNINGS, []))


def dismiss_url_warnings() -> None:
    st.session_state.pop(URL_WARNINGS, None)


def withdraw_url_warning(name: str) -> None:
    """Drop the warning about parameter `name`: what it asked for has been done since."""
    warnings = st.session_state.get(URL_WARNINGS, [])
    warnings[:] = [text for text in warnings if not text.startswith(f"`{name}=")]


def write_url(values: dict[str, Any]) -> None:
    """Put the current choices in the URL (None removes a parameter). Parameters not taken
    yet (a method for a view not shown yet) stay as the link gave them."""
    pending = _url_start()
    for name in URL_KEYS:
        value = values.get(name)
        if value is None and name in pending:
            value = pending[name]
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)


def url_params() -> dict[str, str]:
    """The URL's parameters now (to carry them across a page switch)."""
    return st.query_params.to_dict()


def resend_url() -> None:
    """Send the URL's parameters to the browser again: a click in the menu at the top drops
    them from the address bar, while the server still holds them (so write_url sees no
    change to send)."""
    st.query_params.from_dict(url_params())
