"""Exports: one end-to-end Keras model (raw uint8 images → class probabilities), transfer
values as .npy/.parquet, and projections as CSV. Every file is written atomically."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from core.base.atomic import atomic_path, atomic_save_npy, atomic_write_bytes
from core.base.splits import SPLIT_NAMES


def build_end_to_end_model(*, head, backbone: str, image_size: int | None = None,
                           crop_fraction: float | None = None):
    """A Keras model: uint8 images (B, H, W, 1|3) of any size → probabilities (B, C).

    The model starts with the registered `PreprocessImages` layer, the same preprocessing as
    extraction (`core.features.preprocessing`); `image_size` and `crop_fraction` default to
    the ones the head's training images had (else the backbone's native size, no crop). The
    file loads with safe_mode=True in a process that has imported `core.backbones.layers`
    (which registers the layer), so it needs this project's `core` package.
    """
    from core.backbones.registry import get_backbone
    from core.base.tf_env import import_tensorflow
    from core.features.preprocessing import Preprocessing, preprocessing_layer

    import_tensorflow()
    import keras

    trained = getattr(head, "preprocessing", None)
    spec = get_backbone(backbone)
    preprocessing = Preprocessing(
        size=image_size or (trained.size if trained else spec.native_size),
        crop_fraction=crop_fraction if crop_fraction is not None
        else (trained.crop_fraction if trained else 1.0))
    features = spec.build(input_size=preprocessing.size)
    head_model = (head.model if hasattr(head, "model") else head).to_keras()

    inputs = keras.Input((None, None, None), dtype="uint8", name="images")
    x = preprocessing_layer(preprocessing=preprocessing)(inputs)
    outputs = head_model(features(x))
    return keras.Model(inputs, outputs, name=f"{spec.name}_{getattr(head, 'head', 'head')}")


def export_end_to_end_model(*, head, backbone: str, image_size: int | None, path: str | Path,
                            crop_fraction: float | None = None) -> Path:
    """Save `build_end_to_end_model(...)` as a .keras file at `path`."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError("the end-to-end model is saved as a .keras file")
    model = build_end_to_end_model(head=head, backbone=backbone, image_size=image_size,
                                   crop_fraction=crop_fraction)
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def values_frame(*, tv):
    """A DataFrame of sample_id, label, class, split and one column per feature."""
    import pandas as pd

    values = np.asarray(tv.values, dtype=np.float32)
    frame = pd.DataFrame(values, columns=[f"f{i}" for i in range(values.shape[1])])
    meta = pd.DataFrame({"sample_id": np.asarray(tv.sample_ids), "label": np.asarray(tv.labels),
                         "class": np.asarray(tv.class_names, dtype=object)[np.asarray(tv.labels)],
                         "split": SPLIT_NAMES[np.asarray(tv.splits)]})
    return pd.concat([meta, frame], axis=1)


def export_values(*, tv, path: str | Path, format: str = "npy") -> Path:
    """npy: the (N, D) matrix alone; parquet: metadata columns plus one column per feature."""
    path = Path(path)
    if format == "npy":
        atomic_save_npy(path, np.asarray(tv.values))
    elif format == "parquet":
        buffer = io.BytesIO()
        values_frame(tv=tv).to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        raise ValueError("format must be npy or parquet")
    return path


def projection_frame(*, projection, tv):
    import pandas as pd

    coords = np.asarray(projection.coords)
    frame = pd.DataFrame({"sample_id": np.asarray(tv.sample_ids), "label": np.asarray(tv.labels),
                          "class": np.asarray(tv.class_names, dtype=object)[np.asarray(tv.labels)],
                          "split": SPLIT_NAMES[np.asarray(tv.splits)]})
    for axis, name in zip(range(coords.shape[1]), "xyz"):
        frame[name] = coords[:, axis]
    return frame


def export_projection_csv(*, projection, tv, path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, projection_frame(projection=projection, tv=tv)
                       .to_csv(index=False).encode())
    return path
