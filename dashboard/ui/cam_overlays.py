"""Class activation maps on the images a view shows (core.serving.cam): a toggle, the map of
the predicted or the given class blended on each gallery image, and Inspect's strip of
image | predicted | given. One component for every view that has a head."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import streamlit as st

from core.base.errors import TransferLensError
from core.base.public import PublicModeError
from core.datasets.thumbnails import thumbnail
from dashboard.services import activation_maps
from dashboard.services.public import visible
from dashboard.services.workspace import Workspace
from dashboard.ui import components
from dashboard.ui.progress import REPORT

WHICH = {"predicted": "predicted class", "given": "given class"}
LEGEND = ("The heat map shows where in the image the evidence for the class lies: yellow and "
          "red strongest, blue weakest (each map scaled to its own range).")


def controls(ws: Workspace, head, *, key: str) -> str | None:
    """The toggle (and, when on, whose map); "predicted", "given", or None when off or when
    these values and head can have no maps (then a caption says why)."""
    reason = activation_maps.unavailable(ws, head)
    left, right = st.columns([2, 3], vertical_alignment="center")
    shown = left.toggle("Class activation maps", key=f"{key}_cam", disabled=reason is not None,
                        persist_state="session",
                        help="Blend a heat map of the head's evidence on each image: where it "
                             "looked for the class (exact CAM for linear heads, Grad-CAM for "
                             "the MLP). Computed for the images shown, once, then cached.")
    if reason is not None:
        right.caption(f"No class activation maps here: {reason}.")
        return None
    if not shown:
        return None
    return right.segmented_control("Map of the", list(WHICH), format_func=WHICH.get,
                                   key=f"{key}_cam_which", default="predicted",
                                   label_visibility="collapsed") or "predicted"


def overlay_tiles(ws: Workspace, head, which: str | None) -> components.Tiles | None:
    """For a gallery: thumbnails with the `which` class's map blended in (None: plain). When
    the maps cannot be had (a backbone without a conv map, a public limit) the images show
    plain, under a message that says why."""
    if which is None:
        return None

    def tiles(indices: Sequence[int], *, size: int) -> list[np.ndarray]:
        thumbs = components.thumbnails(ws.dataset, indices, size=size)
        maps = _maps(ws, head, indices)
        if maps is None:
            return thumbs
        return [_blend(maps, position, thumb, which) for position, thumb in enumerate(thumbs)]

    return tiles


def gallery(ws: Workspace, head, indices, caption: Callable[[int], str], *, key: str,
            per_page: int = 24, size: int = components.THUMB, pick: str | None = None,
            per_row: int | None = None, inspect_view=None,
            under: Callable[[int], None] | None = None) -> None:
    """components.paginated_grid with the maps toggle above it (a page at a time: at most
    `per_page` images' maps, one backbone run); `under` as there."""
    which = controls(ws, head, key=key)
    if which is not None:
        st.caption(f"Maps of the {WHICH[which]}. {LEGEND}")
    components.paginated_grid(ws.dataset, indices, caption, key=key, per_page=per_page,
                              size=size, pick=pick, per_row=per_row, inspect_view=inspect_view,
                              tiles=overlay_tiles(ws, head, which), under=under)


def strip(ws: Workspace, head, index: int, *, key: str, size: int = 192) -> None:
    """One image with the maps of its predicted and its given class beside it (Inspect)."""
    reason = activation_maps.unavailable(ws, head)
    if reason is not None:
        st.caption(f"No class activation maps here: {reason}.")
        return
    if not st.toggle("Class activation maps", key=f"{key}_cam", persist_state="session",
                     help="Where in the image the head found the evidence for its predicted "
                          "class and for the given label."):
        return
    maps = _maps(ws, head, [index])
    if maps is None:
        return
    thumb = thumbnail(ws.dataset.images.get(int(index)), size=size)
    names = ws.class_names
    st.image([thumb, _blend(maps, 0, thumb, "predicted"), _blend(maps, 0, thumb, "given")],
             caption=["image", f"predicted: {names[int(maps.predicted[0])]}",
                      f"given: {names[int(maps.given[0])]}"], width=size, output_format="PNG")
    st.caption(f"{_method(maps)} {LEGEND}")


def _maps(ws: Workspace, head, indices):
    """The maps of `indices`, or None after a message saying why there are none."""
    try:
        return activation_maps.activation_maps(ws, head, indices, report=REPORT)
    except PublicModeError as error:
        st.warning(visible(str(error)), icon=":material/block:")
    except TransferLensError as error:
        st.info(visible(f"This backbone cannot give class activation maps: {error}"),
                icon=":material/info:")
    return None


def _blend(maps, position: int, thumb: np.ndarray, which: str) -> np.ndarray:
    """The map stretched over the thumbnail (same geometry as the image, scaled) and blended."""
    from core.serving.cam import overlay, to_image_size

    grid = (maps.predicted_grid if which == "predicted" else maps.given_grid)[position]
    return overlay(thumb, to_image_size(grid, thumb.shape[:2], crop_fraction=maps.crop_fraction))


def _method(maps) -> str:
    return ("Exact class activation maps (the head is linear on the pooled values)."
            if maps.method == "cam" else "Grad-CAM maps (the head is not linear).")
