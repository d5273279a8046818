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
    max_corrections: int = 2_000  # relabelled/excluded/kept samples per visitor and dataset


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
