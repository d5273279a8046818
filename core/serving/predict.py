"""Predict new images with a trained head: top-k classes and the nearest training images."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from core.backbones.runtime import AUTO, F32, RUNTIME_DEFAULTS, resolve_runtime
from core.base.splits import split_indices
from core.features.transfer_values import TransferValues


def image_features(*, images: Sequence[np.ndarray], backbone: str, image_size: int | None,
                   tv: TransferValues | None = None, crop_fraction: float = 1.0,
                   runtime: str = RUNTIME_DEFAULTS["runtime"]) -> np.ndarray:
    """Transfer values of new uint8 images (any sizes, 1 or 3 channels), computed the way the
    training ones were (`core.features.preprocessing`), at the precision `tv` was extracted
    at (f32 when unknown) on `runtime` (`core.backbones.runtime`)."""
    from core.features.feature_sets import PIXELS

    if backbone == PIXELS:
        return _pixel_features(images, tv)
    from core.backbones.registry import get_backbone
    from core.features.extractor import FeatureExtractor

    spec = get_backbone(backbone)
    manifest = tv.manifest if tv is not None else {}
    precision = manifest.get("precision", F32)
    choice = resolve_runtime(runtime=runtime if precision == F32 else AUTO, precision=precision)
    if manifest.get("calibration"):  # int8: the model calibrated on the training images
        choice = replace(choice, calibration=manifest["calibration"])
    extractor = FeatureExtractor.for_backbone(
        spec=spec, image_size=int(image_size or spec.native_size), runtime=choice)
    return extractor.image_features(images, crop_fraction=crop_fraction)


def _hwc(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.uint8)
    return image[..., None] if image.ndim == 2 else image


def _pixel_features(images: Sequence[np.ndarray], tv: TransferValues | None) -> np.ndarray:
    from PIL import Image

    if tv is None or "image_shape" not in tv.manifest:
        raise ValueError("pixel features need the training feature set (tv) for the image shape")
    height, width, channels = tv.manifest["image_shape"]
    rows = []
    for image in images:
        pil = Image.fromarray(np.squeeze(_hwc(image)))
        pil = pil.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
        rows.append(np.asarray(pil, np.float32).reshape(-1) / 255.0)
    return np.stack(rows)


def predict_images(*, images: Sequence[np.ndarray], head, backbone: str, image_size: int | None,
                   tv: TransferValues, top_k: int = 5, n_neighbors: int = 5,
                   crop_fraction: float | None = None) -> list[dict[str, Any]]:
    """For each image: {"prediction", "top_k": [{class, class_index, probability}],
    "neighbors": [{index, sample_id, label, class, distance}]}, or for a regression head
    {"value", "target", "neighbors"} — neighbours are training
    samples, by euclidean distance in the full transfer-value space. crop_fraction defaults
    to the one tv was extracted with."""
    from sklearn.neighbors import NearestNeighbors

    from core.features.preprocessing import preprocessing_of

    if not len(images):
        return []
    if crop_fraction is None:
        trained = preprocessing_of(tv.manifest)
        crop_fraction = trained.crop_fraction if trained else 1.0
    features = image_features(images=images, backbone=backbone, image_size=image_size, tv=tv,
                              crop_fraction=crop_fraction)
    regression = getattr(head, "task", "") == "regression"
    probabilities = None if regression else head.predict_proba(features)
    values = head.predict(features) if regression else None
    train = split_indices(tv.splits, "train")
    k = min(n_neighbors, len(train))
    distances, positions = (NearestNeighbors(n_neighbors=k, algorithm="brute")
                            .fit(np.asarray(tv.values[train], np.float32)).kneighbors(features))
    names = tv.class_names
    labels = np.asarray(tv.labels)
    results = []
    for row in range(len(features)):
        neighbours = [{"index": int(train[p]), "sample_id": str(tv.sample_ids[train[p]]),
                       "label": int(labels[train[p]]), "class": names[labels[train[p]]],
                       "distance": float(d)}
                      for p, d in zip(positions[row], distances[row])]
        if regression:  # the head's number for the target, no classes to rank
            results.append({"value": float(values[row]), "target": head.target,
                            "neighbors": neighbours})
            continue
        order = np.argsort(-probabilities[row], kind="stable")[:top_k]
        results.append({"prediction": names[order[0]],
                        "top_k": [{"class": names[c], "class_index": int(c),
                                   "probability": float(probabilities[row, c])} for c in order],
                        "neighbors": neighbours})
    return results
