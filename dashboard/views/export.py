"""Export: transfer values, projections, the trained head and the end-to-end model.

Each file is written by core into the cache folder on request (so a 70k×1280 matrix is not
re-encoded on every rerun), then offered for download; its path is shown for local use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from core.base.errors import TransferLensError
from dashboard import pages
from dashboard.services import cache, exports
from dashboard.services.public import is_public, visible
from dashboard.services.workspace import Workspace
from dashboard.state import projection, session
from dashboard.ui import components
from dashboard.ui.components import METHOD_LABELS
from dashboard.ui.progress import REPORT


def render(ws: Workspace) -> None:
    folder = exports.export_folder(ws)
    stem = _stem(ws)
    if is_public():  # a public app shows no server path
        st.markdown("Files are made on the server on request and downloaded from here.")
    else:
        st.markdown(f"Files are written to `{folder}` and can be downloaded from here.")

    target = ws.target
    # with a numeric target chosen, the head that predicts it is the one exported
    record = ws.view_head
    with st.container(border=True):
        st.markdown("#### Transfer values")
        st.caption(f"{ws.tv.n:,} × {ws.tv.dim:,} float matrix, one row per image.")
        parquet = ("Parquet (values + label, split, sample id"
                   + ("" if target is None else f", {target.name}")
                   + (", the head's predictions)" if record is not None else ")"))
        fmt = st.radio("Format", ["npy", "parquet"], horizontal=True, key="export_values_fmt",
                       format_func={"npy": ".npy (values only)", "parquet": parquet}.get)
        target_key = "" if target is None else f"_{target.key[:8]}"
        if fmt == "parquet" and record is not None:
            head = record.head
            st.caption(f"With the {head.head} head ({head.key[:8]}): " + (
                f"columns {target.name} and predicted_{target.name}." if target is not None
                else "columns predicted, predicted_class, confidence and p_<class> for every "
                     "class."))
            _export_item(ws, f"values_parquet_{head.key}",
                         folder / f"{stem}_{head.head}_{head.key[:8]}.parquet",
                         "Create transfer values",
                         lambda path: exports.export_values(ws, path, fmt, head=head,
                                                            target=target))
        else:
            _export_item(ws, f"values_{fmt}{target_key if fmt == 'parquet' else ''}",
                         folder / f"{stem}{target_key if fmt == 'parquet' else ''}.{fmt}",
                         "Create transfer values",
                         lambda path: exports.export_values(ws, path, fmt, target=target))

    with st.container(border=True):
        st.markdown("#### Projection")
        method, dims, params = projection.projection_choice()  # what Projections shows
        st.caption(f"The {METHOD_LABELS.get(method, method)} {dims}-D coordinates shown in "
                   "Projections, with labels, as CSV.")
        _export_item(ws, f"projection_{method}_{dims}", folder / f"{stem}_{method}{dims}d.csv",
                     "Create projection CSV",
                     lambda path: exports.export_projection(ws, path, method, dims, params,
                                                           report=REPORT))

    with st.container(border=True):
        st.markdown("#### Trained head")
        if record is None and target is not None:
            st.info(f"Train a regression head on **{target.name}** first (Train a head).",
                    icon=":material/model_training:")
        elif record is None:
            components.need_head("exporting a head", "export", train_view=pages.TRAIN)
        else:
            head = record.head
            named = head.head if target is None else f"{_safe(target.name)}_{head.head}"
            st.caption(f"The {head.head} head alone: it takes {ws.tv.dim:,} transfer values and "
                       + (f"returns {len(ws.class_names)} class probabilities." if target is None
                          else f"returns the predicted {target.name}."))
            _export_item(ws, f"head_{record.token}", folder / f"{stem}_{named}_head",
                         "Save the head", lambda path: head.save(path))
            st.caption("A folder with the weights and a manifest; load it with "
                       "`core.heads.load_head(path)`.")
    if record is not None:
        with st.container(border=True):
            st.markdown("#### End-to-end model")
            st.caption(f"{ws.settings.backbone}{' (fine-tuned)' if ws.fine_tuned_view else ''} "
                       f"at {ws.settings.image_size} px plus the head in one Keras model that "
                       "takes raw uint8 images of any size and returns "
                       + ("class probabilities." if target is None
                          else f"the predicted {target.name}."))
            _export_item(ws, f"model_{record.token}", folder / f"{stem}_{named}_model.keras",
                         "Create end-to-end model",
                         lambda path: exports.export_model(ws, record.head, path))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _stem(ws: Workspace) -> str:
    return f"{_safe(ws.settings.dataset_label)}_{ws.tv.n}_{ws.settings.backbone}_" \
           f"{ws.settings.image_size}px"


def _export_item(ws: Workspace, what: str, path: Path, label: str,
                 write: Callable[[Path], object]) -> None:
    """A create button, then (once the file exists) a download button and the path."""
    created = session.export_path(ws.tv.key, what)
    if created is None or not Path(created).exists():
        slot = st.empty()
        if not slot.button(label, key=f"create_{what}", icon=":material/save:"):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with st.spinner(f"Writing {path.name}…"):
                result = exports.write_export(ws, path, write)
        except TransferLensError as error:  # e.g. no room on a public demo: said under the
            st.error(visible(str(error)), icon=":material/error:")  # button, the page goes on
            return
        slot.empty()
        created = str(result if isinstance(result, (str, Path)) else path)
        session.store_export(ws.tv.key, what, created)
        cache.cache_overview.clear()
    file = Path(created)
    name = f"{file.name}.zip" if file.is_dir() else file.name  # folders download zipped
    st.download_button(f"Download {name}", data=lambda: _read(file), file_name=name,
                       key=f"download_{what}", icon=":material/download:", on_click="ignore",
                       mime="application/zip" if file.is_dir() else "application/octet-stream")
    st.caption(_size(file) if is_public() else f"{_size(file)} · `{file}`")


def _read(file: Path) -> bytes:
    if file.is_dir():  # a SavedModel-style folder: zip it for the browser
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in sorted(file.rglob("*")):
                if item.is_file():
                    archive.write(item, item.relative_to(file.parent))
        return buffer.getvalue()
    return file.read_bytes()


def _size(file: Path) -> str:
    total = (sum(f.stat().st_size for f in file.rglob("*") if f.is_file()) if file.is_dir()
             else file.stat().st_size)
    return components.human_bytes(total)

