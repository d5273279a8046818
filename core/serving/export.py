"""Exports: one end-to-end Keras model (raw uint8 images → class probabilities, or a
regression head's number), transfer values as .npy/.parquet (with a head's predictions),
projections and lists of samples (a selection, failures, label issues) as CSV. Every file is
written atomically."""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from core.base.atomic import atomic_path, atomic_save_npy, atomic_write_bytes
from core.base.splits import SPLIT_NAMES

# what an end-to-end model file may take (Lite0 plus a head: ~20 MB), for the budget below
MODEL_EXPORT_BYTES = 64 * 2**20


def export_bytes_bound(*, tv) -> int:
    """The most one export of `tv` may write: its float32 values with a head's predictions
    (a row of class probabilities each, at most 256 of them, and metadata), or a model file."""
    return max(int(tv.n) * (int(tv.dim) + 256 + 16) * 4, MODEL_EXPORT_BYTES)


@contextmanager
def public_export_room(*, tv, folder: str | Path) -> Iterator[None]:
    """Hold room for one export of `tv` into `folder` (a public session's own folder) in the
    public budget of visitors' files, which uploads and exports share
    (`core.datasets.uploads.upload_room`: room is made from other sessions' old files, or
    PublicModeError says when to try again). Does nothing outside a public app."""
    from core.datasets.uploads import upload_room

    with upload_room(needed=export_bytes_bound(tv=tv), folder=Path(folder)):
        yield


def build_end_to_end_model(*, head, backbone: str, image_size: int | None = None,
                           crop_fraction: float | None = None):
    """A Keras model: uint8 images (B, H, W, 1|3) of any size → probabilities (B, C), or
    for a regression head the number (B, 1) in the target's units.

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


def meta_frame(*, tv, rows=None):
    """sample_id, label, class and split of every sample, in order; for a list of sample
    indices `rows`, of those, with their `index` after sample_id."""
    import pandas as pd

    index = np.arange(tv.n) if rows is None else np.asarray(rows, dtype=np.int64)
    labels = np.asarray(tv.labels)[index]
    frame = pd.DataFrame({"sample_id": np.asarray(tv.sample_ids)[index], "label": labels,
                          "class": np.asarray(tv.class_names, dtype=object)[labels],
                          "split": SPLIT_NAMES[np.asarray(tv.splits)[index]]})
    if rows is not None:
        frame.insert(1, "index", index)
    return frame


def prediction_frame(*, head, rows=None):
    """predicted, predicted_class, confidence and p_<class> per class of `rows` (None: all),
    from the head's probabilities on the values it was trained on (out-of-fold on train when
    it was cross-fitted)."""
    import pandas as pd

    if getattr(head, "task", "") == "regression":  # a number per sample, no classes
        predicted = np.asarray(head.predictions, dtype=np.float64)
        return pd.DataFrame({f"predicted_{head.target}": predicted if rows is None
                             else predicted[np.asarray(rows, dtype=np.int64)]})
    probabilities = np.asarray(head.probabilities, dtype=np.float32)
    if rows is not None:
        probabilities = probabilities[np.asarray(rows, dtype=np.int64)]
    predicted = probabilities.argmax(axis=1)
    frame = pd.DataFrame({"predicted": predicted,
                          "predicted_class": np.asarray(head.classes, dtype=object)[predicted],
                          "confidence": probabilities.max(axis=1, initial=0.0)})
    for c, name in enumerate(head.classes):
        frame[f"p_{name}"] = probabilities[:, c]
    return frame


def values_frame(*, tv, head=None, target=None):
    """A DataFrame of sample_id, label, class, split, with `target` (a numeric Target of
    tv's samples) its values, with `head` its predictions (`prediction_frame`), then one
    column per feature."""
    import pandas as pd

    values = np.asarray(tv.values, dtype=np.float32)
    parts = [meta_frame(tv=tv)]
    if target is not None:
        target.check_aligned(tv.sample_ids)
        parts.append(pd.DataFrame({target.name: np.asarray(target.values, dtype=np.float64)}))
    if head is not None:
        _check_head(head, tv)
        parts.append(prediction_frame(head=head))
    parts.append(pd.DataFrame(values, columns=[f"f{i}" for i in range(values.shape[1])]))
    return pd.concat(parts, axis=1)


def _check_head(head, tv) -> None:
    n = len(head.predictions if getattr(head, "task", "") == "regression"
            else head.probabilities)
    if n != tv.n:
        raise ValueError(f"the head has predictions for {n} samples, these transfer values "
                         f"hold {tv.n}")


def export_values(*, tv, path: str | Path, format: str = "npy", head=None,
                  target=None) -> Path:
    """npy: the (N, D) matrix alone; parquet: metadata columns (plus a numeric `target`'s
    values and the predictions of `head`, a TrainedHead on `tv`) and one column per
    feature."""
    path = Path(path)
    if format == "npy":
        atomic_save_npy(path, np.asarray(tv.values))
    elif format == "parquet":
        buffer = io.BytesIO()
        values_frame(tv=tv, head=head, target=target).to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue())
    else:
        raise ValueError("format must be npy or parquet")
    return path


def rows_frame(*, tv, rows, head=None, extra_columns=None):
    """One row per sample index in `rows`: `meta_frame`, `head`'s predictions if given, then
    `extra_columns` (name → values aligned with `rows`, e.g. score, suggested label)."""
    import pandas as pd

    parts = [meta_frame(tv=tv, rows=rows)]
    if head is not None:
        _check_head(head, tv)
        parts.append(prediction_frame(head=head, rows=rows))
    frame = pd.concat(parts, axis=1)
    for name, column in (extra_columns or {}).items():
        if len(column) != len(frame):
            raise ValueError(f"column {name!r} has {len(column)} values for {len(frame)} rows")
        frame[name] = np.asarray(column)
    return frame


def export_rows_csv(*, tv, rows, path: str | Path, head=None, extra_columns=None) -> Path:
    """`rows_frame(...)` as CSV at `path`: a selection, the failures, the label issues."""
    return _write_csv(rows_frame(tv=tv, rows=rows, head=head, extra_columns=extra_columns), path)


def _write_csv(frame, path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, frame.to_csv(index=False).encode())
    return path


def projection_frame(*, projection, tv):
    frame = meta_frame(tv=tv)
    coords = np.asarray(projection.coords)
    for axis, name in zip(range(coords.shape[1]), "xyz"):
        frame[name] = coords[:, axis]
    return frame


def export_projection_csv(*, projection, tv, path: str | Path) -> Path:
    return _write_csv(projection_frame(projection=projection, tv=tv), path)
