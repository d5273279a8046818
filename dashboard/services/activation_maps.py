"""Class activation maps (core.serving.cam) for the images a gallery shows: one backbone run
per page, cached by core on disk and memoised here; why a workspace or head has none."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dashboard.services.memo import remembered
from dashboard.services.report import Report

if TYPE_CHECKING:
    from dashboard.services.workspace import Workspace


def unavailable(ws: Workspace, head) -> str | None:
    """Why `head` on these values can have no class activation maps (before any backbone
    runs), or None. Fine-tuned values have them: `ws.values_backbone` is then the fine-tuned
    backbone, and every head on them (its own "finetune" classifier too) is linear on its
    pooled values or differentiable. The backbone's own limits (a custom model without a
    last conv map) show when the maps are computed (core raises TransferLensError)."""
    if getattr(head, "task", "classification") != "classification":
        return "class activation maps are for classification heads"
    if getattr(type(head.model), "needs_images", False):
        return ("this head trains on images, not on transfer values, so it has no weights on "
                "the pooled values to weight the conv map with")
    from core.features.preprocessing import preprocessing_of

    if preprocessing_of(ws.tv.manifest) is None:
        return "these transfer values are raw pixels or imported arrays, with no backbone"
    return None


def activation_maps(ws: Workspace, head, indices, *, report: Report):
    """Maps of the predicted and the given class of dataset rows `indices`
    (core.serving.cam.ActivationMaps). Running the backbone is heavy work: one at a time
    (core.base.jobs.heavy_job); a public app bounds it (core.base.public.check_public_cam)."""
    from core.base.jobs import heavy_job
    from core.serving.cam import class_activation_maps

    indices = np.asarray(indices, dtype=np.int64)

    def compute():
        with report.progress(f"Class activation maps of {len(indices)} images…") as panel, \
                heavy_job(name="class activation maps", progress=panel):
            return class_activation_maps(dataset=ws.dataset, tv=ws.tv, trained=head,
                                         indices=indices, backbone=ws.values_backbone)

    key = (head.key or id(head), indices.tobytes())
    return remembered(("cam", ws.tv.key, *key), compute, kept=report.kept)
