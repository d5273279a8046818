"""Shared UI pieces: components (errors, galleries, neighbours), figures (pure plotly),
progress (core progress → st.progress) and the sidebar."""
