"""Helpers shared by the test modules (none of them imports another test module):
`data` builds datasets and feature sets, `tiny_backbone` registers a seconds-fast CNN,
`apptest` drives the app headless, `browser` and `streamlit_server` drive it in Chromium,
`cli` runs the CLI in-process, `geometry` holds an independent point-in-polygon check."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
