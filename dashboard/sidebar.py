"""The sidebar: what to look at (dataset, backbone, input size, subset) and the cache.

Defaults come from the environment first (TRANSFER_LENS_DATASET, TRANSFER_LENS_BACKBONE,
TRANSFER_LENS_IMAGE_SIZE, TRANSFER_LENS_LIMIT), then from the offline defaults, and are
written into session state once, so the widgets own their values afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.datasets.base import ImageDataset
from dashboard import components, resources, state
from dashboard.resources import Settings, Workspace

FOLDER, UPLOAD = "__folder__", "__upload__"
CUSTOM = "__custom__"
ALL = 0  # "limit" option meaning the whole dataset
LIMITS = (1_000, 2_000, 5_000, 10_000, 20_000, ALL)
DEFAULT_LIMIT = 10_000  # embed a subset first: a useful picture in well under a minute
AUTO = 0  # "image size" option meaning: chosen from the dataset and backbone
SIZES = (32, 48, 64, 96, 128, 160, 192, 224, 240, 260, 299)
SMALL_IMAGE = 64  # px: images up to this size gain nothing from 224 px input...
SMALL_IMAGE_INPUT = 96  # ...and 96 px input is ~5× faster


def _env(name: str) -> str | None:
    value = os.environ.get(f"TRANSFER_LENS_{name}", "").strip()
    return value or None


def _apply_env_defaults() -> None:
    """Seed the widgets' session-state keys once per session."""
    if st.session_state.get("_sidebar_seeded"):
        return
    st.session_state["_sidebar_seeded"] = True
    from core.backbones.registry import DEFAULT_BACKBONE, REGISTRY
    from core.datasets.registry import DATASETS, default_dataset_name

    dataset = _env("DATASET") or default_dataset_name()
    if dataset in DATASETS:
        st.session_state["dataset_choice"] = dataset
    else:  # a folder or .zip path: load_dataset understands both
        st.session_state["dataset_choice"] = FOLDER
        st.session_state["dataset_folder"] = dataset
    backbone = _env("BACKBONE") or DEFAULT_BACKBONE
    if backbone in REGISTRY:
        st.session_state["backbone_choice"] = backbone
    else:
        st.session_state["backbone_choice"] = CUSTOM
        st.session_state["backbone_custom"] = backbone
    if (size := _env("IMAGE_SIZE")) and size.isdigit():
        st.session_state["image_size"] = int(size)
    limit = _env("LIMIT")
    if limit is not None:
        st.session_state["limit_preference"] = (ALL if limit.lower() in ("all", "0", "none")
                                                else int(limit))


# --- dataset ---

def dataset_source() -> tuple[str, str] | None:
    """The chosen dataset as (name or path for core's load_dataset, label), or None."""
    from core.datasets.registry import DATASETS

    _apply_env_defaults()
    st.sidebar.subheader("Dataset")
    options = [*DATASETS, FOLDER, UPLOAD]

    def label(option: str) -> str:
        if option == FOLDER:
            return "A folder on this computer…"
        if option == UPLOAD:
            return "Upload a .zip of class folders…"
        info = DATASETS[option]
        return option if info.local() else f"{option} ({info.status()})"

    choice = st.sidebar.selectbox("Dataset", options, format_func=label, key="dataset_choice",
                                  label_visibility="collapsed")
    if choice in DATASETS:
        info = DATASETS[choice]
        st.sidebar.caption(info.description)
        if not info.local():
            st.sidebar.warning(f"{choice} is {info.status()} here: loading it needs the internet "
                               "once.", icon=":material/cloud_off:")
        return choice, choice
    if choice == FOLDER:
        path = st.sidebar.text_input(
            "Folder path", key="dataset_folder", placeholder="/path/to/images",
            help="One sub-folder of images per class (optionally inside train/ val/ test/). "
                 "A path to a .zip works too.")
        if not path:
            st.sidebar.info("Enter the path of a folder with one sub-folder per class.")
            return None
        return path, Path(path).name or path
    return _uploaded_zip()


def _uploaded_zip() -> tuple[str, str] | None:
    upload = st.sidebar.file_uploader("Dataset .zip", type=["zip"], key="dataset_zip",
                                      help="A .zip holding one folder of images per class.")
    if upload is None:
        st.sidebar.info("Upload a .zip with one folder of images per class "
                        "(e.g. flower_photos.zip).")
        return None
    done = st.session_state.get("extracted_zip")
    if done is None or done[0] != upload.file_id:
        from core.datasets.zip_import import extract_zip_dataset
        from core.base.paths import cache_root

        with st.sidebar.status(f"Unpacking {upload.name}…"):
            folder = extract_zip_dataset(zip_path_or_fileobj=upload,
                                         dest_dir=cache_root() / "uploads")
        done = (upload.file_id, str(folder))
        st.session_state["extracted_zip"] = done
    return done[1], Path(upload.name).stem


# --- backbone, input size, subset ---

def model_settings(source: tuple[str, str], dataset: ImageDataset) -> Settings | None:
    """Backbone, input size and subset for the loaded dataset (None: nothing usable chosen)."""
    from core.backbones.registry import get_backbone, list_backbones

    st.sidebar.subheader("Backbone")
    specs = list_backbones()
    reasons = _unavailable_reasons(tuple(s.name for s in specs))
    # offline and available first: those work here and now
    specs.sort(key=lambda s: (reasons[s.name] is not None, not s.offline))
    names = [s.name for s in specs] + [CUSTOM]
    by_name = {s.name: s for s in specs}

    def label(name: str) -> str:
        if name == CUSTOM:
            return "Your own .keras model…"
        if reasons[name] is not None:
            return f"{name} (unavailable)"
        return f"{name} · offline" if by_name[name].offline else f"{name} · downloads weights"

    choice = st.sidebar.selectbox("Backbone", names, format_func=label, key="backbone_choice",
                                  label_visibility="collapsed")
    if choice == CUSTOM:
        backbone = st.sidebar.text_input(
            "Model and layer", key="backbone_custom", placeholder="path/to/model.keras:layer",
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

    image_size = _size_picker(dataset, spec.native_size)
    limit = _limit_picker(len(dataset))
    return Settings(dataset=source[0], dataset_label=source[1], backbone=backbone,
                    image_size=image_size, limit=limit)


@st.cache_resource(ttl=60, show_spinner=False)
def _unavailable_reasons(names: tuple[str, ...]) -> dict[str, str | None]:
    """Why each backbone cannot be used here (None: it can). Checking looks for packages
    and cached weights on disk, so it is done at most once a minute, not on every rerun."""
    from core.backbones.registry import get_backbone

    return {name: get_backbone(name).unavailable_reason() for name in names}


def _auto_size(dataset: ImageDataset, native: int) -> int:
    shape = dataset.images.uniform_shape
    if shape is not None and max(shape[:2]) <= SMALL_IMAGE:
        return min(SMALL_IMAGE_INPUT, native)  # never above the size the backbone was made for
    return native


def _size_picker(dataset: ImageDataset, native: int) -> int:
    auto = _auto_size(dataset, native)
    options = [AUTO, *sorted(set(SIZES) | {native, st.session_state.get("image_size") or native})]

    def label(size: int) -> str:
        if size == AUTO:
            why = "small images" if auto != native else "the backbone's native size"
            return f"auto: {auto} px ({why})"
        return f"{size} px" + (" (native)" if size == native else "")

    st.session_state.setdefault("image_size", AUTO)
    size = st.sidebar.selectbox(
        "Input size", options, format_func=label, key="image_size",
        help="Images are resized to this before the backbone. Small images (≤64 px) gain "
             "little from 224 px, and 96 px runs about five times faster.")
    return auto if size == AUTO else int(size)


def _limit_picker(n_total: int) -> int | None:
    """How many images to embed; the choice is remembered per session across datasets."""
    preferred = st.session_state.setdefault("limit_preference", DEFAULT_LIMIT)
    sizes = {limit for limit in LIMITS if limit != ALL} | ({preferred} - {ALL})
    options = sorted(limit for limit in sizes if limit < n_total) + [ALL]
    # the widget shows the preference when this dataset is big enough for it, else "all"
    st.session_state["limit"] = preferred if preferred in options else ALL

    def label(limit: int) -> str:
        return f"all {n_total:,}" if limit == ALL else f"{limit:,}"

    if len(options) > 1:
        limit = st.sidebar.select_slider(
            "Images to embed", options, format_func=label, key="limit",
            on_change=_remember_limit,
            help="Start with a random subset (each split keeps its share); embed the full "
                 "set when the picture looks right.")
    else:
        limit = ALL
    if limit == ALL:
        st.sidebar.caption(f"Embedding all {n_total:,} images.")
        return None
    st.sidebar.caption(f"Embedding a random {limit:,} of {n_total:,} images.")
    return int(limit)


def _remember_limit() -> None:
    st.session_state["limit_preference"] = st.session_state["limit"]


# --- original or fine-tuned backbone ---

def feature_space_picker(ws: Workspace) -> None:
    """Once the backbone was fine-tuned on these images, every view can show either."""
    if ws.finetuned is None:
        return
    st.sidebar.segmented_control(
        "Feature space", [state.ORIGINAL, state.FINE_TUNED], key=state.FEATURE_SPACE_KEY,
        required=True, default=state.ORIGINAL, format_func=str.capitalize,
        help="Fine-tuned: the backbone after fine-tuning on these images. Every view "
             "(projections, confusion matrix, failures, label issues) then uses its transfer "
             "values, so you can compare before and after.")


# --- cache and head status ---

def status_panel(where, tv_key: str | None) -> None:
    """Cache hit/miss for the current transfer values, the head, the cache's size and
    location, and clearing it; drawn into `where` (a sidebar container)."""
    from core.base.paths import cache_root

    where.subheader("Cache")
    if tv_key is not None:
        record = state.tv_status(tv_key)
        if record is not None and record[0] == "miss":
            where.markdown(f":orange[●] Transfer values: **computed** (cache miss) "
                           f"in {record[1]:.1f} s, now cached")
        else:
            where.markdown(":green[●] Transfer values: **cache hit**")
        head = state.head_record(tv_key)
        if head is not None:
            acc = head.head.metrics["test_accuracy"]
            where.markdown(f":green[●] Head: **{head.head.head}**, test accuracy {acc:.1%}")
        else:
            where.markdown(":gray[●] Head: none trained on these transfer values yet")
    overview = resources.cache_overview(str(cache_root()))
    entries = sum(kind["entries"] for kind in overview["kinds"].values())
    where.caption(f"{components.human_bytes(overview['bytes'])} in {entries} "
                  f"entr{'y' if entries == 1 else 'ies'} at")
    where.code(overview["path"], language=None)
    where.button("Clear cache", on_click=_clear_cache, icon=":material/delete:",
                 key="clear_cache",
                 help="Deletes every cached array (transfer values, projections, ...). "
                      "They are recomputed when needed.")
    if (freed := st.session_state.pop("cache_cleared", None)) is not None:
        where.success(f"Cache cleared: {components.human_bytes(freed)} freed.")


def _clear_cache() -> None:
    from core.base.cache import clear_cache

    freed = clear_cache()
    resources.forget_everything()
    st.session_state["cache_cleared"] = freed
    st.session_state["tv_status"] = {}
    st.session_state.pop("extracted_zip", None)  # uploads live in the cache folder too
