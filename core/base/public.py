"""Public mode: what a hosted demo refuses, decided in one place and enforced in core.

Turned on by the environment variable TRANSFER_LENS_PUBLIC=1 (on Streamlit Community Cloud,
a root-level `TRANSFER_LENS_PUBLIC = "1"` in the app's secrets becomes that variable). The
refusals live in core's entry points (dataset paths, custom models, the cache location,
clearing the cache, fine-tuning, upload sizes), so a front end that forgets to hide a
widget, or a forged request, still gets the refusal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.base.errors import TransferLensError

PUBLIC_ENV = "TRANSFER_LENS_PUBLIC"
FINETUNE_ENV = "TRANSFER_LENS_PUBLIC_FINETUNE"  # the operator allows fine-tuning anyway
UPLOADS_DIR = "public_uploads"  # under the cache root: one private folder per session


class PublicModeError(TransferLensError):
    """Refused because this is a public (hosted) Transfer Lens."""


@dataclass(frozen=True)
class PublicPolicy:
    """The limits of a public app; every number is stated to visitors by the app."""

    enabled: bool
    allow_fine_tuning: bool
    max_upload_bytes: int = 50_000_000  # one .zip of class folders
    max_upload_images: int = 2_000
    max_image_pixels: int = 4_000_000  # per image (e.g. 2000×2000)
    max_inspect_bytes: int = 10_000_000  # one image uploaded to "Inspect an image"
    upload_ttl_seconds: int = 3_600  # uploads older than this are removed
    # All sessions' upload folders together (their uploads, exports, corrections) stay under
    # this (20 uploads at the 50 MB limit): over it, a new upload first removes the folders
    # least recently used, but never one its session used in the last `upload_protect_seconds`
    # (a session renews its lease at every interaction, core.datasets.uploads), then is refused
    # with the wait until one may go.
    max_public_upload_bytes: int = 1_000_000_000
    upload_protect_seconds: int = 600
    # Heavy work, bounded so one visitor cannot hold the shared CPU (or fill the disk with a
    # new cache entry per size) for hours: extraction of at most the committed bundle's
    # 10,000 images, at most EfficientNet-Lite0's native 224 px (a larger input costs px²
    # and shows these small images no better); built-in datasets up to 100,000 images
    # (Fashion-MNIST's 70,000 fit, the generated 1,000,000 do not); a head's training at
    # most an hour by core.heads.cost's upper-bound estimate (no early stop counted).
    max_extract_images: int = 10_000
    max_image_size: int = 224
    max_dataset_images: int = 100_000
    max_head_seconds: float = 3_600.0
    # Shares of the one job slot (core.base.background): one unfinished background job per
    # session, so nobody queues many; a turn of at most 10 minutes running (the 10,000-image
    # extraction at 224 px takes a few), after which it stops cleanly (finished chunks kept)
    # and asking again resumes behind whoever waits.
    max_jobs_per_session: int = 1
    max_job_seconds: float = 600.0
    # What public visitors add to the cache (new subsets, sizes, heads) is kept under this,
    # least recently used first out (core.base.cache_budget); the operator's entries stay.
    max_public_cache_bytes: int = 2_000_000_000
    # ... and at most this many entries: every public write walks them all (0.5–1.2 s per
    # 1,000 measured under heavy load), and class activation maps add a tiny one per page
    max_public_cache_entries: int = 2_000
    max_corrections: int = 2_000  # relabelled/excluded/kept samples per visitor and dataset
    # class activation maps run the backbone once per image shown: one gallery page at a time
    max_cam_images: int = 48


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def policy() -> PublicPolicy:
    """The policy in force (read from the environment on every call: cheap, and tests can
    switch it with monkeypatch)."""
    return PublicPolicy(enabled=_flag(PUBLIC_ENV), allow_fine_tuning=_flag(FINETUNE_ENV))


def is_public() -> bool:
    return policy().enabled


def refuse_if_public(what: str, *, why: str) -> None:
    """Raise PublicModeError saying `what` is not available in a public app, and why."""
    if is_public():
        raise PublicModeError(f"{what} is not available in this public Transfer Lens: {why}. "
                              f"Run Transfer Lens on your own machine to use it.")


def refuse_fine_tuning_if_public(what: str = "Fine-tuning") -> None:
    """A public app fine-tunes (or times fine-tuning steps) only when its operator allows
    it: either takes the shared CPU for long."""
    if not policy().allow_fine_tuning:
        refuse_if_public(what, why=f"it would hold the shared CPU for many minutes (the "
                                   f"operator can allow it with {FINETUNE_ENV}=1)")


def refuse_heavy_if_public(what: str, *, over: list[str], fix: str) -> None:
    """Raise PublicModeError when `over` lists a public limit that `what` exceeds (each a
    phrase like "70,000 images, over the limit of 10,000")."""
    if over and is_public():
        raise PublicModeError(f"{what} is not available in this public Transfer Lens: "
                              f"{'; '.join(over)}. These limits keep one visitor from holding "
                              f"the shared CPU for hours. Fix: {fix}, or run Transfer Lens on "
                              f"your own machine.")


def check_public_extraction(*, images: int, image_size: int) -> None:
    """A public app extracts at most `max_extract_images` images at most `max_image_size`
    px (PublicPolicy says why); called where an extraction would start."""
    rules = policy()
    over = []
    if images > rules.max_extract_images:
        over.append(f"{images:,} images, over the limit of {rules.max_extract_images:,} (the "
                    f"published bundle's size)")
    if image_size > rules.max_image_size:
        over.append(f"{image_size} px input, over the limit of {rules.max_image_size} px")
    refuse_heavy_if_public(f"Extracting {images:,} images at {image_size} px", over=over,
                           fix=f"choose a subset of at most {rules.max_extract_images:,} images "
                               f"and an input size of at most {rules.max_image_size} px")


def check_public_dataset(*, name: str, images: int) -> None:
    """A public app loads built-in datasets of at most `max_dataset_images` images."""
    rules = policy()
    over = ([f"it has {images:,} images, over the limit of {rules.max_dataset_images:,}"]
            if images > rules.max_dataset_images else [])
    refuse_heavy_if_public(f"The dataset {name}", over=over,
                           fix="choose a smaller dataset (e.g. fashion_mnist, or a subset of "
                               "it) or the published bundle")


def check_public_cam(*, images: int, image_size: int) -> None:
    """A public app computes class activation maps for at most `max_cam_images` images at a
    time, at most `max_image_size` px (each map is a backbone run on the image)."""
    rules = policy()
    over = []
    if images > rules.max_cam_images:
        over.append(f"{images:,} images at once, over the limit of {rules.max_cam_images}")
    if image_size > rules.max_image_size:
        over.append(f"{image_size} px input, over the limit of {rules.max_image_size} px")
    refuse_heavy_if_public(f"Class activation maps for {images:,} images at {image_size} px",
                           over=over, fix=f"show at most {rules.max_cam_images} images at a "
                                          f"time at an input size of at most "
                                          f"{rules.max_image_size} px")


def check_public_slices(*, rows: int) -> None:
    """A public app searches error slices over at most `max_extract_images` evaluated images
    (the bundle's size: about 4 CPU-s there; the search's cluster tree grows faster than
    the rows), called where a search would start (a cached one opens at any size)."""
    rules = policy()
    over = ([f"{rows:,} evaluated images, over the limit of {rules.max_extract_images:,} (the "
             f"published bundle's size)"] if rows > rules.max_extract_images else [])
    refuse_heavy_if_public(f"Searching error slices over {rows:,} images", over=over,
                           fix=f"embed at most {rules.max_extract_images:,} images")


def uploads_root(cache_root: Path) -> Path:
    """Where a public app keeps its visitors' uploads (each in a session's own folder)."""
    return cache_root / UPLOADS_DIR


def is_inside(path: Path, folder: Path) -> bool:
    """Whether `path` (resolved, links followed) lies inside `folder`."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
