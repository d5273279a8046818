"""Shared UI pieces: error display, image galleries, nearest neighbours, small charts.

They know no view: a button that goes to another view is given its title by the caller
(a view, which has dashboard.pages)."""

from __future__ import annotations

import logging
import math
import secrets
import traceback
from contextlib import contextmanager
from functools import partial
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np
import streamlit as st

from core.base.errors import CancelledError, TransferLensError
from core.datasets.thumbnails import thumbnail
from dashboard import state
from dashboard.services import exports
from dashboard.services.analysis import nearest
from dashboard.services.public import is_public, visible
from dashboard.services.workspace import Workspace
from dashboard.state import selection
from dashboard.ui.progress import REPORT


class Destination(Protocol):
    """A view a button switches to (dashboard.pages.View; ui/ sits below pages)."""

    title: str

    def go_to(self) -> None: ...

# draws the images of a grid: (indices, size=px) → RGB uint8 arrays (default: thumbnails)
Tiles = Callable[..., list]
THUMB = 96  # px: thumbnails are upscaled (nearest-neighbour) to this size by core
# display names of core's projection methods (core.analysis.projections.METHODS)
METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


CSS = """
<style>
/* the first line just below the views' menu (Streamlit's top bar, 3.75rem high) */
[data-testid="stMainBlockContainer"] { padding-top: 4.5rem; }
/* a little air between gallery thumbnails, which otherwise touch */
[data-testid="stImageContainer"] { padding: 2px 3px; }
[data-testid="stImageContainer"] img { border-radius: 3px; object-fit: contain; }
/* gallery captions break between words only (a file name is never cut mid-word: a name
   wider than its thumbnail ends in …), in three lines of the same height everywhere, so
   the buttons under the thumbnails stay in one line */
[class*="st-key-gallery_"] [data-testid="stImageCaption"] { height: 2.95rem; overflow: hidden; }
[class*="st-key-gallery_"] [data-testid="stImageCaption"] p {
  word-break: normal; overflow-wrap: normal; font-size: 0.75rem; line-height: 1.3;
  overflow: hidden; text-overflow: ellipsis; }
[class*="st-key-gallery_"] [data-testid="stCaptionContainer"] { overflow-wrap: normal; }
</style>
"""


def inject_css() -> None:
    st.html(CSS)


LOG = logging.getLogger("transfer_lens.dashboard")


@contextmanager
def user_errors() -> Iterator[None]:
    """Show errors as messages, never as a traceback.

    TransferLensError messages are written for users (they name the fix), so they are shown
    as they are (in a public app with server paths made relative). Anything else is a bug:
    locally say so plainly, with details folded away; in a public app show only an incident
    id, and log the traceback under that id (a visitor must see no server internals).
    Streamlit's own rerun/stop signals derive from BaseException and pass through.
    """
    try:
        yield
    except CancelledError as error:
        st.warning(visible(str(error)), icon=":material/stop_circle:")
    except TransferLensError as error:
        st.error(visible(str(error)), icon=":material/error:")
    except Exception as error:  # noqa: BLE001 - last line of defence for the UI
        if is_public():
            incident = secrets.token_hex(4)
            LOG.error("incident %s: unexpected error on the page", incident, exc_info=True)
            st.error(f"Something went wrong on the server (incident {incident}). Please try "
                     "again, or another choice; if it keeps happening, tell the operator the "
                     "incident id.", icon=":material/bug_report:")
            return
        st.error(f"Something went wrong: {type(error).__name__}: {error}. This is a bug in "
                 "Transfer Lens; the details below help to report it.",
                 icon=":material/bug_report:")
        with st.expander("Technical details"):
            st.code(traceback.format_exc(), language="text")


def thumbnails(dataset, indices: Sequence[int], *, size: int = THUMB) -> list[np.ndarray]:
    """RGB uint8 thumbnails for dataset samples (tiny images upscaled without blurring)."""
    return [thumbnail(dataset.images.get(int(i)), size=size) for i in indices]


def image_grid(dataset, indices: Sequence[int], captions: Sequence[str], *,
               size: int = THUMB, pick: str | None = None, key: str = "grid",
               per_row: int | None = None, inspect_view: Destination | None = None,
               tiles: Tiles | None = None,
               under: Callable[[int], None] | None = None) -> None:
    """A wrapping grid of thumbnails with a caption under each (`tiles`: draws the images
    instead, e.g. with class activation maps blended in).

    With `pick` (the transfer-values key the indices belong to) every thumbnail gets two
    small buttons: its nearest neighbours (selection.choose_image; the view shows them) and
    Inspect (switches to the view `inspect_view` on that image). The buttons' keys
    start with `key`. `under(index)` draws more below each thumbnail (e.g. its label fixes).
    """
    if len(indices) == 0:
        return
    images = (tiles or partial(thumbnails, dataset))(indices, size=size)
    if pick is None:
        # PNG, not the default JPEG: upscaled pixels must stay crisp
        st.image(images, caption=list(captions), width=size, output_format="PNG")
        return
    per_row = per_row or max(2, 1000 // (size + 40))
    chosen = selection.chosen_image(pick)
    # its class scopes the captions' CSS; a view may draw several grids under one key
    box = st.container(key=f"gallery_{key}_{int(indices[0])}")
    for start in range(0, len(images), per_row):
        columns = box.columns(per_row, gap="small")
        for column, index, image, caption in zip(columns, indices[start:start + per_row],
                                                  images[start:start + per_row],
                                                  captions[start:start + per_row]):
            index = int(index)
            with column:
                st.image(image, caption=caption, width=size, output_format="PNG")
                left, right = st.columns(2, gap=None)
                left.button(":material/hub:", key=f"{key}_nb_{index}", type="tertiary",
                            on_click=selection.choose_image, args=(pick, index),
                            help="Nearest neighbours" + (" (shown)" if chosen == index else ""))
                right.button(":material/image_search:", key=f"{key}_in_{index}",
                             type="tertiary", on_click=_inspect,
                             args=(pick, index, inspect_view),
                             help=f"Inspect {caption}")  # the whole caption, if cut short
                if under is not None:
                    under(index)


def paginated_grid(dataset, indices: Sequence[int] | np.ndarray,
                   caption: Callable[[int], str], *, key: str, per_page: int = 48,
                   size: int = THUMB, pick: str | None = None,
                   per_row: int | None = None, inspect_view: Destination | None = None,
                   tiles: Tiles | None = None,
                   under: Callable[[int], None] | None = None) -> None:
    """A grid of `per_page` thumbnails with page buttons below (only one page is encoded,
    and only its `tiles` drawn)."""
    indices = np.asarray(indices)
    n_pages = max(1, math.ceil(len(indices) / per_page))
    grid = st.container()
    page = 1
    if n_pages > 1:
        page_key = f"{key}_page"  # a widget key derived from the gallery's
        if state.get(page_key, 1) > n_pages:  # the list shrank under a filter
            state.put(page_key, 1)
        page = st.pagination(n_pages, key=page_key)
    shown = indices[(page - 1) * per_page: page * per_page]
    with grid:
        if n_pages > 1:
            st.caption(f"Showing {len(shown)} of {len(indices):,} · page {page} of {n_pages}")
        image_grid(dataset, shown, [caption(int(i)) for i in shown], size=size, pick=pick,
                   key=key, per_row=per_row, inspect_view=inspect_view, tiles=tiles,
                   under=under)


def need_head(what: str, key: str, *, train_view: Destination) -> None:
    """The message views show when they depend on a trained head that does not exist yet
    (a button goes to the view `train_view`)."""
    st.info(f"Train a head first: {what} needs a classifier trained on these transfer values. "
            "A head trained on other data or another backbone does not apply here.",
            icon=":material/model_training:")
    st.button(f"Go to “{train_view.title}”", on_click=train_view.go_to,
              type="primary", key=f"goto_train_{key}")


def classes_only(ws: Workspace, what: str, *, regression_view: Destination) -> bool:
    """True (after saying so) when the sidebar's Target is a number: `what` only makes sense
    for classes (its errors are in the view `regression_view`). The same dataset's
    classes work as before with Target on the classes."""
    if ws.target is None:
        return False
    st.info(f"{what} is for classes; the sidebar's Target is the number "
            f"**{ws.target.name}**. Its errors are in the “{regression_view.title}” view; "
            "choose “Classes” under Target to see this view.", icon=":material/category:")
    st.button(f"Go to “{regression_view.title}”", on_click=regression_view.go_to,
              key="goto_regression")
    return True


def class_mix_chart(labels: np.ndarray, class_names: Sequence[str], *, key: str) -> None:
    """How many of the given samples fall in each class: every class present, one bar each,
    most frequent on top, in the projection's class colours."""
    from dashboard.ui import figures

    counts = np.bincount(labels, minlength=len(class_names))
    st.plotly_chart(figures.class_mix_figure(counts, class_names), key=key,
                    config={"displayModeBar": False})


EAGER_CSV_ROWS = 20_000  # more rows: the CSV is written when the button is clicked


def csv_download(ws: Workspace, rows, *, what: str, label: str, key: str, head=None,
                 extra_columns: dict | None = None, help: str | None = None) -> None:
    """A download button for a CSV of some samples (core's export_rows_csv: sample id,
    label, class, split; with `head` its prediction, confidence and class probabilities;
    then `extra_columns`). The file is written once per rows, head and columns; above
    EAGER_CSV_ROWS rows only when clicked (400,000 selected rows of a million-point map took
    0.7 s, on every rerun that showed the selection)."""
    import hashlib

    rows = np.asarray(rows, dtype=np.int64)
    file_name = exports.rows_csv_name(ws, what)
    if len(rows) > EAGER_CSV_ROWS:
        # runs on the click, outside the script run: everything it needs is bound here
        data = partial(exports.write_rows_csv, ws, rows, name=file_name, head=head,
                       extra_columns=extra_columns)
    else:
        digest = hashlib.sha1(rows.tobytes())
        for name, column in (extra_columns or {}).items():
            digest.update(name.encode())
            digest.update(np.asarray(column).astype(str).tobytes())
        memo_key = (digest.hexdigest(), None if head is None else head.key)
        data = exports.rows_csv(ws, rows, what=what, memo_key=memo_key, head=head,
                                  extra_columns=extra_columns)
    st.download_button(label, data=data, file_name=file_name, mime="text/csv", key=key,
                       icon=":material/download:", on_click="ignore", help=help)


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def chart_note() -> None:
    """Why the chart's last selection event was refused (selection.chart_event), once, by
    the chart: a forged or broken event changes nothing and says so."""
    if note := selection.take_chart_note():
        st.warning(visible(note), icon=":material/select:")


def sample_name(ws: Workspace, index: int) -> str:
    """A sample's stable id (the same whatever subset is embedded)."""
    return str(ws.tv.sample_ids[int(index)])


def show_neighbours(ws: Workspace, index: int, k: int = 8, *, inspect_view: Destination,
                    inspect_button: bool = True, key: str = "neighbours") -> None:
    """The image and its k nearest neighbours, with class and distance; each is clickable
    (its own neighbours, or Inspect: the view `inspect_view`)."""
    neighbours = nearest(ws.tv, index, k=k, report=REPORT)
    indices = [index] + [j for j, _ in neighbours]
    captions = [f"{sample_name(ws, index)} · {ws.class_names[ws.tv.labels[index]]} (query)"]
    captions += [f"{sample_name(ws, j)} · {ws.class_names[ws.tv.labels[j]]} · d={d:.3g}"
                 for j, d in neighbours]
    image_grid(ws.dataset, indices, captions, pick=ws.tv.key, key=key, per_row=k + 1,
               inspect_view=inspect_view)
    same = sum(ws.tv.labels[j] == ws.tv.labels[index] for j, _ in neighbours)
    st.caption(f"{same} of {len(neighbours)} neighbours share its label "
               f"“{ws.class_names[ws.tv.labels[index]]}”.")
    if inspect_button:
        st.button("Inspect this image", on_click=_inspect, args=(ws.tv.key, index, inspect_view),
                  key=f"inspect_{index}", icon=":material/image_search:")


def neighbours_panel(ws: Workspace, shown: Sequence[int] | np.ndarray, *,
                     inspect_view: Destination,
                     key: str = "neighbours") -> None:
    """The chosen image's neighbours when it is one of `shown` (the thumbnails' buttons
    choose it), else a hint."""
    chosen = selection.chosen_image(ws.tv.key)
    if chosen is None or chosen not in set(int(i) for i in shown):
        st.caption("Click :material/hub: under an image for its nearest neighbours, "
                   ":material/image_search: to inspect it.")
        return
    with st.container(border=True):
        title, close = st.columns([6, 1], vertical_alignment="center")
        title.markdown(f"**Nearest neighbours of {sample_name(ws, chosen)}**")
        close.button("Close", key=f"{key}_close", on_click=selection.forget_image,
                     icon=":material/close:", type="tertiary")
        show_neighbours(ws, chosen, key=key, inspect_view=inspect_view)


def _inspect(tv_key: str, index: int, inspect_view: Destination | None) -> None:
    selection.choose_image(tv_key, index)
    if inspect_view is not None:
        inspect_view.go_to()
