"""Datasets and backbones as the sidebar offers them: loaded once per process, a public
session kept out of other sessions' uploads."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.base.paths import cache_root
from core.base.public import PublicModeError
from core.datasets.base import ImageDataset
from core.datasets.registry import DATASETS
from dashboard.services.public import (forget_session_uploads, is_public, megabytes,
                                       public_policy, session_uploads)


def full_dataset(name: str) -> ImageDataset:
    """A built-in dataset, or a folder / .zip (core refuses server paths in a public app;
    here a public session is also kept out of other sessions' uploads)."""
    _refuse_others_upload(name)
    return load_dataset(name)


def offered_datasets() -> list[str]:
    """The built-in datasets to offer: in a public app only those core loads there (at most
    PublicPolicy.max_dataset_images images; fashion_mnist_1m is refused)."""
    rules = public_policy()
    return [name for name, info in DATASETS.items()
            if not rules.enabled or info.images is None
            or info.images <= rules.max_dataset_images]


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def load_dataset(name: str) -> ImageDataset:
    from core.datasets.registry import load_dataset as load

    return load(name=name)


def _refuse_others_upload(name: str) -> None:
    from core.base.public import is_inside, uploads_root

    if not is_public() or name in DATASETS:
        return
    path = Path(name)
    if is_inside(path, uploads_root(cache_root())) and not is_inside(path, session_uploads()):
        raise PublicModeError("Another visitor's upload is not available in this public "
                              "Transfer Lens: every session sees only its own uploads. "
                              "Fix: upload your .zip in this session.")


@st.cache_resource(show_spinner=False, max_entries=8)
def limited_dataset(name: str, limit: int | None) -> ImageDataset:
    """A reproducible random subset that keeps each split's share (or the whole set)."""
    return full_dataset(name).limited(limit=limit)


def extract_uploaded_zip(upload, *, replaces: bool = False) -> str:
    """Unpack an uploaded .zip of class folders into this session's uploads folder (shared
    <cache>/uploads locally; a private per-session folder in a public app); returns the
    dataset folder. A public app refuses an upload over its size limit before writing, and
    removes the session's earlier upload when this one `replaces` it."""
    from core.datasets.zip_import import extract_zip_dataset

    rules = public_policy()
    if rules.enabled and upload.size > rules.max_upload_bytes:
        raise PublicModeError(
            f"{upload.name} is {megabytes(upload.size)}; this public Transfer Lens takes a "
            f".zip of up to {megabytes(rules.max_upload_bytes)}. Fix: upload fewer or smaller "
            "images, or run Transfer Lens on your own machine for larger datasets.")
    if replaces:
        forget_session_uploads()
    return str(extract_zip_dataset(zip_path_or_fileobj=upload, dest_dir=session_uploads()))


@st.cache_resource(ttl=60, show_spinner=False)
def unavailable_reasons(names: tuple[str, ...]) -> dict[str, str | None]:
    """Why each backbone cannot be used here (None: it can). Checking looks for packages
    and cached weights on disk, so it is done at most once a minute, not on every rerun."""
    from core.backbones.registry import get_backbone

    return {name: get_backbone(name).unavailable_reason() for name in names}
