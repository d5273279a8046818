"""New images: decoded with core's reader and classified through the values' backbone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboard.services.public import check_inspect_image, public_policy
from dashboard.services.report import Report

if TYPE_CHECKING:
    from dashboard.services.workspace import Workspace


def decode_image(path: str):
    """Decode with core's reader (EXIF rotation, alpha, 16-bit handled there); a public app
    caps the pixels (the policy's max_image_pixels)."""
    from core.datasets.image_io import load_rgb

    rules = public_policy()
    return load_rgb(path, max_pixels=rules.max_image_pixels if rules.enabled else None)


def predict(ws: Workspace, image, *, top_k: int, n_neighbors: int, report: Report,
            head=None) -> dict:
    """`head`'s (default: the active head's) top-k, or a regression head's number, for one
    new image, through the backbone the values came from."""
    from core.base.jobs import heavy_job
    from core.serving.predict import predict_images

    check_inspect_image(image)
    # running the backbone is heavy work (TensorFlow, a model in memory): one at a time
    with report.progress(f"Running {ws.values_backbone} on the image…") as panel, \
            heavy_job(name="classifying an uploaded image", progress=panel):
        return predict_images(images=[image], head=head or ws.head.head,
                              backbone=ws.values_backbone,
                              image_size=ws.settings.image_size, tv=ws.tv, top_k=top_k,
                              n_neighbors=n_neighbors)[0]
