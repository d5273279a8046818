"""Streamlit's reading of a plotly chart's selection event, made to hand the app what it
cannot read: a forged event (a number, a selection that is text) used to fail inside
Streamlit's own deserializer, before the chart's callback ran, as an error on the sender's
page. It now reaches the callback as sent, where core refuses it with a note
(core.analysis.chart_events, dashboard.state.selection.chart_event)."""

from __future__ import annotations

import json
from typing import Any


def pass_unreadable_events() -> None:
    """Once per process: Streamlit's plotly event deserializer returns the parsed JSON (or
    None) where it would raise. A Streamlit without that class is left as it is."""
    try:
        from streamlit.elements.plotly_chart import PlotlyChartSelectionSerde
    except ImportError:
        return
    original = PlotlyChartSelectionSerde.deserialize
    if getattr(original, "passes_unreadable", False):
        return

    def deserialize(self, ui_value: Any) -> Any:
        try:
            return original(self, ui_value)
        except (TypeError, ValueError, AttributeError, KeyError):
            try:
                return json.loads(ui_value)
            except (TypeError, ValueError):  # not even JSON: as if nothing were selected
                return None

    deserialize.passes_unreadable = True
    PlotlyChartSelectionSerde.deserialize = deserialize
