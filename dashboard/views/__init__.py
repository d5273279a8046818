"""One module per view; each exposes render(ws: Workspace)."""
