"""Transfer Lens dashboard: the Streamlit UI over `core` (no computation lives here)."""
