"""The sidebar's runtime choice: what runs the backbone's forward pass, at which precision."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from dashboard.services.public import is_public
from dashboard.services.runtimes import option_label, runtime_options, server_runtime


def runtime_picker() -> tuple[str, str]:
    """(runtime, precision): the server's in a public app (no widget), else a choice among
    what is installed here, seeded with the server's."""
    if is_public():
        return server_runtime()
    options = runtime_options()
    seeded = " ".join(server_runtime())
    state.seed(state.RUNTIME_CHOICE, seeded if seeded in options else options[0])
    if state.get(state.RUNTIME_CHOICE) not in options:
        state.put(state.RUNTIME_CHOICE, options[0])
    choice = st.sidebar.selectbox(
        "Runtime", options, format_func=option_label, key=state.RUNTIME_CHOICE,
        persist_state="session",
        help="What runs the backbone's forward pass. Every f32 runtime gives TensorFlow's "
             "values (within 1e-4), so they share one cache entry; a reduced precision is "
             "faster where the CPU has the units for it and is cached apart. A runtime that "
             "cannot run the model falls back to TensorFlow and says so (docs/runtimes.md).")
    runtime, precision = choice.split()
    return runtime, precision
