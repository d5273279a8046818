"""Widgets the views share: components (errors, galleries, neighbours), figures (pure
plotly), progress (core progress → st.progress; the Report services take), extraction,
training, head_history, param_widgets, the sidebar and its cache_panel. They know no view."""
