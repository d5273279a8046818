"""The sidebar: what to look at (dataset, backbone, input size, runtime, subset) and the cache.

Defaults come from the environment first (TRANSFER_LENS_DATASET, TRANSFER_LENS_BACKBONE,
TRANSFER_LENS_IMAGE_SIZE, TRANSFER_LENS_RUNTIME, TRANSFER_LENS_PRECISION,
TRANSFER_LENS_LIMIT), then from the offline defaults, and are written into session state
once, so the widgets own their values afterwards. A public app shows no runtime choice:
the server's environment decides.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.backbones.registry import DEFAULT_BACKBONE, REGISTRY, get_backbone, list_backbones
from core.base.params import whole_number
from core.datasets.base import ImageDataset
from core.datasets.registry import DATASETS, default_dataset_name
from core.features.input_size import default_image_size
from dashboard import state
from dashboard.services import bundles as published, datasets
from dashboard.services.extraction import Settings
from dashboard.services.public import is_public, public_policy, upload_limits
from dashboard.services.workspace import Workspace
from dashboard.state import projection, results, selection, url
from dashboard.ui.limit_picker import ALL, limit_picker
from dashboard.ui.runtime_picker import runtime_picker

FOLDER, UPLOAD = "__folder__", "__upload__"
CUSTOM = "__custom__"
CLASSES = "__classes__"  # "target" option meaning: the classes (classification)
UPLOAD_LINK = "upload"  # the link's ds= of an upload session: private, so named, not linked
AUTO = 0  # "image size" option meaning: core's default for the dataset and backbone
SIZES = (32, 48, 64, 96, 128, 160, 192, 224, 240, 260, 299)


def _env(name: str) -> str | None:
    value = os.environ.get(f"TRANSFER_LENS_{name}", "").strip()
    return value or None


def _apply_env_defaults() -> None:
    """Seed the widgets' session-state keys once per session: the link's parameters first
    (url.URL_*), then the environment, then the offline defaults."""
    if state.get(state.SIDEBAR_SEEDED):
        return
    state.put(state.SIDEBAR_SEEDED, True)
    catalog, bundles = datasets.offered_datasets(), published.bundles()
    public = is_public()  # a public app takes no server path, from a link or else

    def known(value: str) -> bool:
        return value in catalog or value in bundles

    dataset = _from_link(url.URL_DATASET,
                         lambda v: v == UPLOAD_LINK or known(v)
                         or (not public and Path(v).exists()),
                         "no such built-in dataset or published bundle here (or one too "
                         "large for this public app)" if public
                         else "no such built-in dataset, folder or .zip here")
    if dataset == UPLOAD_LINK:  # not here: the uploader waits, and no other dataset embeds
        url.reject_url(url.URL_DATASET, dataset,
                       "the link was made on a dataset uploaded in another session, and an "
                       "upload is private to its session: upload the .zip here to see it")
        state.put(state.UPLOAD_LINKED, True)
        state.put(state.DATASET_CHOICE, UPLOAD)
    else:
        env = _env("DATASET")
        if public and env and not known(env):
            env = None
        # a public app opens on its first published bundle: instant, nothing to compute
        default = next(iter(bundles)) if public and bundles else default_dataset_name()
        dataset = dataset or env or default
        if known(dataset):
            state.put(state.DATASET_CHOICE, dataset)
        else:  # a folder or .zip path: load_dataset understands both
            state.put(state.DATASET_CHOICE, FOLDER)
            state.put(state.DATASET_FOLDER, dataset)
    backbone = _from_link(url.URL_BACKBONE,
                          lambda v: v in REGISTRY or (not public and ".keras:" in v),
                          "not a known backbone" if public
                          else "not a known backbone (nor 'model.keras:layer')")
    env = _env("BACKBONE")
    if public and env and env not in REGISTRY:
        env = None
    backbone = backbone or env or DEFAULT_BACKBONE
    if backbone in REGISTRY:
        state.put(state.BACKBONE_CHOICE, backbone)
    else:
        state.put(state.BACKBONE_CHOICE, CUSTOM)
        state.put(state.BACKBONE_CUSTOM, backbone)
    size = _from_link(url.URL_SIZE, lambda v: v == "auto"
                      or 16 <= (whole_number(v) or 0) <= 1024,
                      "an input size is 'auto' or a whole number of pixels (16–1024)")
    size = size or _env("IMAGE_SIZE")
    if size == "auto":
        state.put(state.IMAGE_SIZE, AUTO)
    elif size and whole_number(size) is not None:
        state.put(state.IMAGE_SIZE, whole_number(size))
    limit = _from_link(url.URL_LIMIT, lambda v: v.lower() == "all"
                       or (whole_number(v) or 0) > 0,
                       "the number of images is 'all' or a positive whole number")
    if limit is not None:
        state.put(state.LIMIT_LINKED, limit)
    limit = limit or _env("LIMIT")
    if limit is not None:
        state.put(state.LIMIT_PREFERENCE,
                  ALL if limit.lower() in ("all", "0", "none") else int(limit))


def _from_link(name: str, valid, why: str) -> str | None:
    """The link's value for a sidebar setting, or None (absent, or invalid: then warned)."""
    value = url.take_url(name)
    if value is not None and not valid(value):
        url.reject_url(name, value, why)
        return None
    return value


def no_dataset_note() -> str:
    """What the main pane says while no dataset is chosen."""
    if state.get(state.DATASET_CHOICE) == UPLOAD and state.get(state.UPLOAD_LINKED):
        return ("**This link was made on an uploaded dataset**, and an upload is private to "
                "the session that uploaded it (a reload or another browser is a new "
                "session), so it is not here and no other dataset is shown instead. "
                "Upload the .zip in the sidebar to see it.")
    return "Choose a dataset in the sidebar to begin."


def link_values() -> dict[str, str | None]:
    """The current choices as the link's parameters (see url.URL_KEYS)."""
    choice = state.get(state.DATASET_CHOICE)
    dataset = (state.get(state.DATASET_FOLDER) if choice == FOLDER
               else UPLOAD_LINK if choice == UPLOAD else choice)  # private: named only
    backbone = state.get(state.BACKBONE_CHOICE)
    if backbone == CUSTOM:
        backbone = state.get(state.BACKBONE_CUSTOM)
    size = state.get(state.IMAGE_SIZE)
    limit = state.get(state.LIMIT_PREFERENCE)
    shown = state.get(state.LIMIT_SHOWN)  # the dataset's size: a larger preference means all
    if limit is not None and shown is not None and limit >= shown:
        limit = ALL
    target = state.get(state.TARGET_CHOICE)
    target = None if target in (None, CLASSES) else target
    return {url.URL_DATASET: dataset or None, url.URL_BACKBONE: backbone or None,
            url.URL_SIZE: None if size is None else ("auto" if size == AUTO else size),
            url.URL_LIMIT: None if limit is None else ("all" if limit == ALL else limit),
            url.URL_METHOD: state.get(state.PROJ_METHOD),
            url.URL_COLOUR: state.get(state.PROJ_COLOUR),
            url.URL_HEAD: results.active_head_key(state.get(state.TV_KEY)),
            url.URL_TARGET: target,
            url.URL_REGRESSION_HEAD: results.regression_head_key(state.get(state.TV_KEY),
                                                                 target),
            url.URL_SELECTION: selection.selection_link(state.get(state.TV_KEY)),
            url.URL_CELL: (f"{state.get(state.CM_TRUE)},{state.get(state.CM_PRED)}"
                           if state.has(state.CM_TRUE) and state.has(state.CM_PRED) else None),
            url.URL_SPLIT: state.get(state.CM_SPLIT),
            url.URL_REGRESSION_SELECTION: selection.selection_link(
                state.get(state.TV_KEY), selection.REGRESSION_SELECTION),
            url.URL_SLICE: _slice_shown(),
            **projection.link_values()}


def _slice_shown() -> str | None:
    """Error slices' group shown, for the link: none for the first slice, nor for a
    selection cleared since (a link must not name what its page no longer shows)."""
    focus = state.get(state.SLICE_FOCUS)
    if focus in (None, "1") or (focus == "selection"
                                and not len(selection.selection(state.get(state.TV_KEY)))):
        return None
    return focus


# --- dataset ---

def dataset_source() -> tuple[str, str] | None:
    """The chosen dataset as (name or path for core's load_dataset, label), or None."""
    bundles = published.bundles()
    _apply_env_defaults()
    st.sidebar.subheader("Dataset")
    public = is_public()
    # published bundles open at once; a public app reads no folder of the server's
    options = [*bundles, *datasets.offered_datasets(), *([] if public else [FOLDER]), UPLOAD]

    def label(option: str) -> str:
        if option in bundles:
            return bundles[option]["label"]
        if option == FOLDER:
            return "A folder on this computer…"
        if option == UPLOAD:
            return "Upload a .zip of class folders…"
        info = DATASETS[option]
        return option if info.local() else f"{option} ({info.status()})"

    choice = st.sidebar.selectbox("Dataset", options, format_func=label, key=state.DATASET_CHOICE, persist_state="session",
                                  label_visibility="collapsed")
    if choice in bundles:
        return choice, bundles[choice]["label"]
    if choice in DATASETS:
        info = DATASETS[choice]
        st.sidebar.caption(info.description)
        if not info.local():
            st.sidebar.warning(f"{choice} is {info.status()} here: loading it needs the internet "
                               "once.", icon=":material/cloud_off:")
        return choice, choice
    if choice == FOLDER:
        path = st.sidebar.text_input(
            "Folder path", key=state.DATASET_FOLDER, persist_state="session", placeholder="/path/to/images",
            help="One sub-folder of images per class (optionally inside train/ val/ test/). "
                 "A path to a .zip works too.")
        if not path:
            st.sidebar.info("Enter the path of a folder with one sub-folder per class.")
            return None
        return path, Path(path).name or path
    return _uploaded_zip()


def _uploaded_zip() -> tuple[str, str] | None:
    rules = public_policy()
    upload = st.sidebar.file_uploader(
        "Dataset .zip", type=["zip"], key=state.DATASET_ZIP,
        help="A .zip holding one folder of images per class.",
        max_upload_size=max(1, rules.max_upload_bytes // 1_000_000) if rules.enabled else None)
    if rules.enabled:
        st.sidebar.caption(upload_limits())
    done = state.get(state.EXTRACTED_ZIP)  # (file id, folder, file name)
    if done is not None and not Path(done[1]).is_dir():  # removed after an hour unused
        state.put(state.EXTRACTED_ZIP, None)
        if upload is None:
            st.sidebar.info(f"{done[2]} is no longer on the server (a public app removes "
                            "uploads after an hour without use). Fix: upload it again.",
                            icon=":material/schedule:")
            return None
        done = None
    if upload is None:
        if done is not None:  # an uploader forgets its file when the view (page) changes
            st.sidebar.caption(f"Using {done[2]}, uploaded earlier; upload another to replace "
                               "it.")
            return done[1], Path(done[2]).stem
        st.sidebar.info("Upload a .zip with one folder of images per class "
                        "(e.g. flower_photos.zip).")
        return None
    if upload.size == 0:
        st.sidebar.error(f"{upload.name} is empty (0 bytes). Fix: upload the .zip again, or "
                         "another one.", icon=":material/error:")
        return None
    if done is None or done[0] != upload.file_id:
        with st.sidebar.status(f"Unpacking {upload.name}…") as unpacking:
            folder = datasets.extract_uploaded_zip(upload, replaces=done is not None)
            # the label stays on the page until the next full run, which may be minutes
            # away while the new dataset embeds: it must not say "Unpacking…" meanwhile
            unpacking.update(label=f"Unpacked {upload.name}", state="complete")
        done = (upload.file_id, folder, upload.name)
        state.put(state.EXTRACTED_ZIP, done)
        if state.pop(state.UPLOAD_LINKED):  # the link's "upload the .zip here" is done
            url.withdraw_url_warning(url.URL_DATASET)
    return done[1], Path(upload.name).stem


def skipped_files(dataset: ImageDataset) -> None:
    """Files of a folder dataset that were not loaded (unreadable, not an image, ...)."""
    skipped = dataset.skipped
    if not skipped:
        return
    n = len(skipped)
    st.sidebar.warning(f"{n:,} file{'s' if n != 1 else ''} skipped: not loaded, see below.",
                       icon=":material/broken_image:")
    with st.sidebar.expander(f"Skipped files ({n:,})"):
        import pandas as pd

        st.dataframe(pd.DataFrame({"path": [s.path for s in skipped],
                                   "reason": [s.reason for s in skipped]}),
                     hide_index=True, key="skipped_files",
                     column_config={"path": st.column_config.TextColumn("File"),
                                    "reason": st.column_config.TextColumn("Why")})


# --- backbone, input size, subset ---

def model_settings(source: tuple[str, str], dataset: ImageDataset) -> Settings | None:
    """Backbone, input size and subset for the loaded dataset (None: nothing usable chosen)."""
    st.sidebar.subheader("Backbone")
    specs = list_backbones()
    reasons = datasets.unavailable_reasons(tuple(s.name for s in specs))
    # offline and available first: those work here and now
    specs.sort(key=lambda s: (reasons[s.name] is not None, not s.offline))
    # a public app runs no model file from the server's disk
    names = [s.name for s in specs] + ([] if is_public() else [CUSTOM])
    by_name = {s.name: s for s in specs}

    def label(name: str) -> str:
        if name == CUSTOM:
            return "Your own .keras model…"
        if reasons[name] is not None:
            return f"{name} (unavailable)"
        return f"{name} · offline" if by_name[name].offline else f"{name} · downloads weights"

    choice = st.sidebar.selectbox("Backbone", names, format_func=label, key=state.BACKBONE_CHOICE, persist_state="session",
                                  label_visibility="collapsed")
    if choice == CUSTOM:
        backbone = st.sidebar.text_input(
            "Model and layer", key=state.BACKBONE_CUSTOM, persist_state="session", placeholder="path/to/model.keras:layer",
            help="A Keras model file and the name of the layer whose output to use.")
        if not backbone:
            st.sidebar.info("Enter 'path/to/model.keras:layer_name'.")
            return None
        spec = get_backbone(backbone)
    else:
        backbone, spec = choice, by_name[choice]
        reason = reasons[choice]
        if reason:
            st.sidebar.warning(reason, icon=":material/block:")
        else:
            st.sidebar.caption(f"{spec.description} · {spec.feature_dim}-d transfer values")

    image_size = _size_picker(default_image_size(dataset=dataset, spec=spec), spec.native_size)
    runtime, precision = runtime_picker()
    limit = limit_picker(len(dataset))
    return Settings(dataset=source[0], dataset_label=source[1], backbone=backbone,
                    image_size=image_size, limit=limit, target=_target_picker(dataset),
                    runtime=runtime, precision=precision)


def _target_picker(dataset: ImageDataset) -> str | None:
    """What the heads predict: the classes, or one of the dataset's numeric targets (only
    offered when it has some). The link's `t` seeds it once."""
    names = list(dataset.target_names)
    linked = url.take_url(url.URL_TARGET)
    if linked is not None:
        if linked in names:
            state.put(state.TARGET_CHOICE, linked)
        else:
            url.reject_url(url.URL_TARGET, linked, "this dataset has no such numeric target"
                             + (f" (it has: {', '.join(names)})" if names else ""))
    if not names:
        state.pop(state.TARGET_CHOICE)  # so the link names no target this dataset lacks
        return None
    has_classes = len(dataset.class_names) >= 2
    options = ([CLASSES] if has_classes else []) + names
    if state.get(state.TARGET_CHOICE) not in options:
        state.put(state.TARGET_CHOICE, options[0])
    st.sidebar.subheader("Target")
    choice = st.sidebar.selectbox(
        "Target", options, key=state.TARGET_CHOICE, persist_state="session",
        label_visibility="collapsed",
        format_func=lambda o: "Classes (classification)" if o == CLASSES else f"{o} (a number)",
        help="What the heads predict: the class, or a numeric column of the dataset's targets "
             "file (regression). Switching never re-embeds the images.")
    return None if choice == CLASSES else choice


def _size_picker(auto: int, native: int) -> int:
    """The input size; "auto" is core's default for this dataset and backbone."""
    options = [AUTO, *sorted(set(SIZES) | {native, state.get(state.IMAGE_SIZE) or native})]

    def label(size: int) -> str:
        if size == AUTO:
            why = "small images" if auto != native else "the backbone's native size"
            return f"auto: {auto} px ({why})"
        return f"{size} px" + (" (native)" if size == native else "")

    state.seed(state.IMAGE_SIZE, AUTO)
    size = st.sidebar.selectbox(
        "Input size", options, format_func=label, key=state.IMAGE_SIZE, persist_state="session",
        help="Images are resized to this before the backbone. Larger inputs are slower, and "
             "small images gain little from a large one, so auto picks a smaller input for "
             "them. Measured speeds: the README's Benchmarks section.")
    return auto if size == AUTO else int(size)


def bundle_settings(ws: Workspace) -> None:
    """What a published bundle holds, in place of the backbone and subset pickers: its
    values were computed when it was published, so nothing here can change them."""
    m = ws.bundle.manifest
    head = m["head"]
    st.sidebar.caption(
        f"Published with **{ws.settings.backbone}** at {ws.settings.image_size} px: "
        f"{ws.tv.n:,} images, {ws.tv.dim:,}-d values ({m['value_dtype']}), PCA, t-SNE and "
        f"UMAP projections, {m['knn']['n_neighbors']} neighbours each, a {head['name']} head "
        f"(test accuracy {head['metrics']['test_accuracy']:.1%}) and "
        f"{m['label_issues']['flagged']:,} suspected label errors, all precomputed. "
        "Choose the dataset itself above to change the backbone or the subset.")


# --- original or fine-tuned backbone ---

def feature_space_picker(ws: Workspace) -> None:
    """Once the backbone was fine-tuned on these images, every view can show either."""
    if ws.finetuned is None:
        return
    st.sidebar.segmented_control(
        "Feature space", [state.ORIGINAL, state.FINE_TUNED], key=state.FEATURE_SPACE_KEY, persist_state="session",
        required=True, default=state.ORIGINAL, format_func=str.capitalize,
        help="Fine-tuned: the backbone after fine-tuning on these images. Every view "
             "(projections, confusion matrix, failures, label issues) then uses its transfer "
             "values, so you can compare before and after.")
