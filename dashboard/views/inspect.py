"""Inspect an image: its transfer values as a picture (as in the classic tutorial), the
head's top-k prediction and its nearest neighbours; or classify a new, uploaded image."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.base.errors import TransferLensError
from core.base.splits import SPLIT_CODES, SPLIT_NAMES
from core.features.sample_lookup import MAX_ID_CHARS, sample_index
from dashboard import pages, state
from dashboard.services import corrections as fixes
from dashboard.services import images
from dashboard.services.public import check_inspect_upload, public_policy
from dashboard.services.workspace import Workspace
from dashboard.state import selection
from dashboard.ui import cam_overlays, components, figures
from dashboard.ui import corrections as fix_ui
from dashboard.ui.progress import REPORT

TOP_K = 5


def render(ws: Workspace) -> None:
    state.seed(state.INSPECT_SOURCE, "dataset")
    source = st.segmented_control(
        "Image", ["dataset", "upload"], key=state.INSPECT_SOURCE, required=True,
        persist_state="session",
        format_func={"dataset": "From the dataset", "upload": "Upload a new image"}.get) \
        or "dataset"
    if source == "upload":
        _uploaded(ws)
    else:
        _from_dataset(ws)


def _from_dataset(ws: Workspace) -> None:
    tv = ws.tv
    chosen = selection.chosen_image(tv.key)
    state.put(state.INSPECT_INDEX, 0 if chosen is None else chosen)
    state.put(state.INSPECT_ID, str(tv.sample_ids[state.get(state.INSPECT_INDEX)]))
    by_id, by_index = st.columns([3, 1])
    by_id.text_input(
        "Sample id", key=state.INSPECT_ID, max_chars=MAX_ID_CHARS, on_change=_choose_by_id,
        args=(tv,), help="The name shown under every image, in hovers' galleries and in CSVs "
                         "(e.g. train/00024, or a file's path in its folder). Or pick an image "
                         "in the Projections view and press “Inspect this image”.")
    index = int(by_index.number_input(
        f"or index (0–{tv.n - 1:,})", min_value=0, max_value=tv.n - 1, step=1,
        key=state.INSPECT_INDEX, on_change=selection.choose_image_from,
        args=(tv.key, state.INSPECT_INDEX)))
    if (why := state.pop(state.INSPECT_ID_ERROR)) is not None:
        st.warning(why, icon=":material/search_off:")
    names = ws.class_names
    split = SPLIT_NAMES[int(tv.splits[index])]
    picture, values = st.columns([1, 3])
    with picture:
        components.image_grid(ws.dataset, [index], [components.sample_name(ws, index)],
                              size=192)
        st.markdown(f"Label **{names[tv.labels[index]]}** · {split} split  \n"
                    f":gray[{tv.sample_ids[index]}]")
        if ws.target is None:
            fix_ui.show_notice()
            head = ws.head
            fix_ui.sample_actions(
                ws, fixes.overlay(ws), index, key="inspect_fix", source="inspect",
                suggestion=None if head is None else int(head.head.predictions[index]))
    with values:
        vector = np.asarray(tv.values[index], dtype=np.float32)
        rows, cols = figures.grid_shape(len(vector))
        st.plotly_chart(figures.values_heatmap(
            vector, title=f"Its {len(vector):,} transfer values as a {rows}×{cols} picture"),
            config={"displaylogo": False}, key="values_heatmap")
    _prediction(ws, index)
    st.subheader("Nearest neighbours")
    components.show_neighbours(ws, index, inspect_button=False, key="inspect_neighbours",
                               inspect_view=pages.INSPECT)


def _prediction(ws: Workspace, index: int) -> None:
    record = ws.head
    st.subheader("Prediction")
    if ws.target is not None:
        _target_prediction(ws, index)
        if record is None:  # the classes are metadata here; no nudge to train for them
            return
        st.markdown("**Class**")
    if record is None:
        components.need_head("the prediction", "inspect", train_view=pages.TRAIN)
        return
    probabilities = record.head.probabilities[index]
    top = np.argsort(probabilities)[::-1][:TOP_K]
    _top_k_table([ws.class_names[c] for c in top], [float(probabilities[c]) for c in top],
                 true_name=ws.class_names[ws.tv.labels[index]])
    if ws.tv.splits[index] == SPLIT_CODES["train"]:
        st.caption("This is a training image: the head saw it, so its confidence here is "
                   "optimistic.")
    cam_overlays.strip(ws, record.head, index, key="inspect")


def _target_prediction(ws: Workspace, index: int) -> None:
    """The chosen target's given value, and the regression head's prediction and error."""
    target = ws.target
    given = float(target.values[index])
    record = ws.regression_head
    columns = st.columns(3)
    columns[0].metric(f"Given {target.name}", f"{given:.4g}", border=True)
    if record is None:
        st.caption(f"Train a regression head on {target.name} (Train a head) to see its "
                   "prediction here.")
        return
    predicted = float(record.head.predictions[index])
    columns[1].metric(f"Predicted ({record.head.head})", f"{predicted:.4g}", border=True)
    columns[2].metric("Error (predicted − given)", f"{predicted - given:+.3g}", border=True)
    if ws.tv.splits[index] == SPLIT_CODES["train"]:
        st.caption("This is a training image: the head saw its value, so the error here is "
                   "optimistic.")


def _top_k_table(names: list[str], probabilities: list[float], true_name: str | None) -> None:
    frame = pd.DataFrame({"class": names, "probability": probabilities})
    if true_name is not None:
        frame["label"] = ["✓ given label" if n == true_name else "" for n in names]
    st.dataframe(frame, hide_index=True, column_config={
        "class": st.column_config.TextColumn("Class"),
        "probability": st.column_config.ProgressColumn("Probability", format="percent",
                                                       min_value=0, max_value=1),
        "label": st.column_config.TextColumn("")})


def _choose_by_id(tv) -> None:
    """on_change of the sample-id box: show that image, or say why there is none."""
    try:
        selection.choose_image(tv.key, sample_index(tv.sample_ids, state.get(state.INSPECT_ID)))
    except TransferLensError as error:
        message = str(error)
        state.put(state.INSPECT_ID_ERROR, message[:1].upper() + message[1:])


def _uploaded(ws: Workspace) -> None:
    rules = public_policy()
    upload = st.file_uploader("An image to classify", key="inspect_upload",
                              type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"],
                              max_upload_size=max(1, rules.max_inspect_bytes // 1_000_000)
                              if rules.enabled else None)
    if rules.enabled:
        st.caption(f"Up to {rules.max_inspect_bytes / 1e6:g} MB and "
                   f"{rules.max_image_pixels / 1e6:g} megapixels; one image at a time "
                   "(visitors take turns with the backbone).")
    # with a numeric target chosen, the upload gets its regression head's number
    target = ws.target
    record = ws.view_head
    if upload is None or record is None:
        if upload is None:
            st.caption("The image goes through the same backbone and input size as the "
                       f"dataset ({ws.settings.backbone} at {ws.settings.image_size} px), then "
                       "the head.")
        if record is not None:
            return
        if target is not None:
            st.info(f"Train a regression head on **{target.name}** first (Train a head).",
                    icon=":material/model_training:")
        else:
            components.need_head("classifying a new image", "upload",
                                 train_view=pages.TRAIN)
        return
    check_inspect_upload(upload.name, upload.size)
    image = _decode(upload)
    with st.spinner(f"Running {ws.settings.backbone} and the head…"):
        result = images.predict(ws, image, top_k=TOP_K, n_neighbors=8, head=record.head,
                                report=REPORT)
    picture, prediction = st.columns([1, 2])
    picture.image(image, caption=upload.name, width=192)
    with prediction:
        st.markdown("**Prediction**")
        if target is not None:
            st.metric(f"Predicted {target.name} ({record.head.head})", f"{result['value']:.4g}",
                      border=True)
        else:
            _top_k_table([row["class"] for row in result["top_k"]],
                         [row["probability"] for row in result["top_k"]], true_name=None)
    st.subheader("Nearest training images")
    neighbours = result["neighbors"]
    components.image_grid(
        ws.dataset, [row["index"] for row in neighbours],
        [f"{components.sample_name(ws, row['index'])} · "
         + (f"{row['class']}" if target is None
            else f"{target.name} {float(target.values[row['index']]):.3g}")
         + f" · d={row['distance']:.3g}" for row in neighbours])


def _decode(upload) -> np.ndarray:
    """Decode with core's reader (EXIF rotation, alpha, 16-bit handled there). Errors name
    the uploaded file, not the temporary copy core reads."""
    data = upload.getvalue()
    if not data:
        raise TransferLensError(
            f"{upload.name} is empty (0 bytes). Fix: upload the image file again, or another "
            "one.")
    suffix = Path(upload.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        try:
            return images.decode_image(handle.name)
        except TransferLensError as error:
            raise TransferLensError(
                str(error).replace(handle.name, upload.name)) from error
