"""Fine-tuning the workspace's backbone on its images (core.finetune)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.base.errors import TransferLensError

if TYPE_CHECKING:
    from dashboard.services.workspace import Workspace


def finetune_config(ws: Workspace, params: dict):
    """core's FineTuneConfig for the form's `params` at the sidebar's input size."""
    from core.finetune.evaluate import config_from_params

    return config_from_params({**params, "image_size": ws.settings.image_size},
                              backbone=ws.settings.backbone)


def fine_tune(ws: Workspace, params: dict, *, progress=None, on_epoch=None):
    """Fine-tune the workspace's backbone on its images (core.finetune.evaluate)."""
    from core.finetune.evaluate import fine_tune_and_evaluate

    if ws.bundle is not None:
        raise TransferLensError(
            "A published bundle holds thumbnails, not the original images, so its backbone "
            "cannot be fine-tuned here. Fix: open the dataset itself "
            f"({ws.bundle.manifest['dataset']['source']}) to fine-tune.")
    config = finetune_config(ws, params)
    return fine_tune_and_evaluate(dataset=ws.dataset, backbone=ws.settings.backbone,
                                  config=config, progress=progress, on_epoch=on_epoch)


def finetune_estimate(ws: Workspace, params: dict, *, measure: bool, progress=None):
    """How long fine-tuning with `params` takes here (core.finetune.estimate): from timings
    kept in the cache, or measured now (a few real steps) when `measure`; else None."""
    from core.finetune.estimate import estimate_fine_tune

    return estimate_fine_tune(dataset=ws.dataset, backbone=ws.settings.backbone,
                              config=finetune_config(ws, params), values_cached=True,
                              measure=measure, progress=progress)
