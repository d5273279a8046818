"""The map's selections a link cannot hold, kept server-side (core.analysis.selection_store)
in this session's namespace: core's default locally, the session's own in a public app (as
corrections and exports are)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dashboard.services.corrections import namespace

if TYPE_CHECKING:
    from core.analysis.selection_store import StoredSelection
    from dashboard.services.workspace import Workspace


def save(ws: Workspace, rows: np.ndarray) -> str:
    """Store the rows' sample ids; their key (`sel=ids:<key>`)."""
    from core.analysis.selection_store import save_selection

    return save_selection(tv=ws.tv, rows=rows, namespace=namespace())


def load(ws: Workspace, key: str) -> StoredSelection | None:
    """The rows stored under `key` here, or None when no selection has that key."""
    from core.analysis.selection_store import load_selection

    return load_selection(tv=ws.tv, key=key, namespace=namespace())
