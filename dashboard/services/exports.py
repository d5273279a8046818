"""Files the Export view and the CSV buttons write (core.serving.export), under
<cache>/exports/<the values' key>; in a public app under the session's own folder
(public_uploads/<session token>/exports/<the values' key>), so one visitor's download never
holds another's file, and the files go with the session's uploads."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Hashable, TypeVar

from core.base.paths import cache_root
from dashboard.services.analysis import projection
from dashboard.services.memo import remembered
from dashboard.services.public import is_public, session_uploads
from dashboard.services.report import Report

if TYPE_CHECKING:
    from dashboard.services.workspace import Workspace

T = TypeVar("T")


def export_folder(ws: Workspace):
    """Where this session's files of these values are written (shared locally: one user)."""
    if is_public():
        return session_uploads() / "exports" / ws.tv.key[:16]
    return cache_root() / "exports" / ws.tv.key[:16]


def write_export(ws: Workspace, path, write: Callable[[Path], T]) -> T:
    """`write(path)` for an export file of this session. In a public app a session keeps the
    exports of one set of values (those of others it made go first) and the writing holds
    room in the visitors' files budget (core.serving.export.public_export_room); PublicModeError
    when the demo has no room."""
    if not is_public():
        return write(Path(path))
    from core.datasets.uploads import session_folders
    from core.serving.export import public_export_room

    folder = export_folder(ws)
    for other in session_folders(folder.parent):
        if other != folder:
            shutil.rmtree(other, ignore_errors=True)
    with public_export_room(tv=ws.tv, folder=folder):
        return write(Path(path))


def export_values(ws: Workspace, path, fmt: str, head=None, target=None):
    """The values as .npy or Parquet; Parquet with `head` (a TrainedHead on ws.tv) also holds
    its predictions (and class probabilities), with `target` its values."""
    from core.serving.export import export_values as export

    parquet = fmt == "parquet"
    return export(tv=ws.tv, path=path, format=fmt, head=head if parquet else None,
                  target=target if parquet else None)


def rows_csv_name(ws: Workspace, what: str) -> str:
    dataset = "".join(c if c.isalnum() or c in "-_" else "_" for c in ws.settings.dataset_label)
    return f"{dataset}_{what}.csv"


def write_rows_csv(ws: Workspace, rows, *, name: str, head=None, extra_columns=None) -> bytes:
    """Write the rows' CSV (see rows_csv) to the export folder and return its bytes."""
    from core.serving.export import export_rows_csv

    path = export_folder(ws) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_export(ws, path, lambda target: export_rows_csv(
        tv=ws.tv, rows=rows, path=target, head=head, extra_columns=extra_columns))
    return path.read_bytes()


def rows_csv(ws: Workspace, rows, *, what: str, memo_key: Hashable, head=None,
             extra_columns=None) -> bytes:
    """CSV of some samples (core.serving.export.export_rows_csv: sample id, label, class,
    split, with `head` its prediction and probabilities, then `extra_columns`), written to
    the export folder once per `memo_key` (rows_csv_name names it)."""
    name = rows_csv_name(ws, what)
    return remembered(("rows_csv", ws.tv.key, what, memo_key),
                      lambda: write_rows_csv(ws, rows, name=name, head=head,
                                             extra_columns=extra_columns))


def export_projection(ws: Workspace, path, method: str, dims: int, params: dict | None, *,
                      report: Report):
    from core.serving.export import export_projection_csv

    result = projection(ws.tv, method=method, dims=dims, params=params, report=report)
    return export_projection_csv(projection=result, tv=ws.tv, path=path)


def export_model(ws: Workspace, head, path):
    """Backbone plus head in one Keras model. A fine-tuning run saved its own model."""
    from core.heads import HEADS
    from core.serving.export import export_end_to_end_model

    if HEADS[head.head].fine_tunes_backbone:
        import shutil

        shutil.copyfile(ws.finetuned.result.model_path, path)
        return path
    return export_end_to_end_model(head=head, backbone=ws.values_backbone,
                                   image_size=ws.settings.image_size, path=path)
