"""How many images to embed: the sidebar's subset slider, remembered per session, and
capped in a public app at what it may extract (core refuses more; the slider offers no
more, so a visitor never picks a refusal)."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from dashboard.services.public import is_public, public_policy
from dashboard.state import url

ALL = 0  # "limit" option meaning the whole dataset
LIMITS = (1_000, 2_000, 5_000, 10_000, 20_000, ALL)
DEFAULT_LIMIT = 10_000  # embed a subset first: a useful picture in well under a minute


def public_cap(n_total: int) -> int | None:
    """The most images a public app embeds of this dataset, when it has more than that."""
    cap = public_policy().max_extract_images if is_public() else None
    return cap if cap is not None and n_total > cap else None


def limit_picker(n_total: int) -> int | None:
    """The number of images to embed (None: all); the choice is remembered per session
    across datasets.

    The slider is a pending choice: a new extraction starts only with Apply, not at every
    notch passed on the way."""
    cap = public_cap(n_total)
    preferred = state.seed(state.LIMIT_PREFERENCE, DEFAULT_LIMIT)
    linked = state.pop(state.LIMIT_LINKED)
    if cap is not None and (preferred == ALL or preferred > cap):
        if linked is not None:
            url.reject_url(url.URL_LIMIT, linked, f"this public app embeds at most {cap:,} "
                                                  f"of a dataset's images, so {cap:,} are "
                                                  "embedded")
        preferred = cap
    elif linked is not None and preferred != ALL and preferred >= n_total:
        url.reject_url(url.URL_LIMIT, linked, f"this dataset has {n_total:,} images, so all "
                                              f"{n_total:,} are embedded")
    sizes = {limit for limit in LIMITS if limit != ALL and limit <= (cap or limit)}
    sizes |= {preferred} - {ALL}
    options = sorted(limit for limit in sizes if limit < n_total) + ([] if cap else [ALL])
    # applied: the preference when this dataset is big enough for it, else "all" (or the cap)
    applied = preferred if preferred in options else (cap or ALL)
    if state.get(state.LIMIT) not in options or state.get(state.LIMIT_SHOWN) != n_total:
        state.put(state.LIMIT, applied)  # a new dataset: the slider starts at what applies
    state.put(state.LIMIT_SHOWN, n_total)

    def label(limit: int) -> str:
        return f"all {n_total:,}" if limit == ALL else f"{limit:,}"

    if len(options) > 1:
        pending = st.sidebar.select_slider(
            "Images to embed", options, format_func=label, key=state.LIMIT,
            persist_state="session",
            help="Start with a random subset (each split keeps its share); embed the full "
                 "set when the picture looks right. Takes effect with Apply."
                 + (f" This public app embeds at most {cap:,}." if cap else ""))
        if pending != applied:
            st.sidebar.button(f"Apply: embed {label(pending)} images", type="primary",
                              key="apply_limit", on_click=_remember_limit,
                              icon=":material/check:")
    limit = applied
    if limit == ALL:
        st.sidebar.caption(f"Embedding all {n_total:,} images.")
        return None
    st.sidebar.caption(f"Embedding a random {limit:,} of {n_total:,} images"
                       + (" (a public app's most)." if cap and limit == cap else "."))
    return int(limit)


def _remember_limit() -> None:
    state.put(state.LIMIT_PREFERENCE, state.get(state.LIMIT))
