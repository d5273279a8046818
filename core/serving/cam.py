"""Class activation maps: where in an image the evidence for a class lies.

- Heads linear on the pooled features (logreg, softmax without a hidden layer): the exact
  CAM (Zhou et al., CVPR 2016). The backbone ends in a global average pool over its last
  convolutional map A (h × w × D), so the head's logit for class c is
  mean_ij(A_ij) · w_c + b_c with the head's standardisation folded into w_c and b_c; the map
  M_c(i, j) = A_ij · w_c + b_c therefore averages over the positions to the logit itself.
- Other heads (the MLP): Grad-CAM (Selvaraju et al., ICCV 2017), ReLU(Σ_k α_k A_k) with
  α_k the mean over positions of ∂logit_c/∂A_ijk. Because A reaches the head only through
  the average pool, α = ∂logit_c/∂pooled / (h·w): only the head is differentiated.
- The fine-tuned model (head "finetune"): its classifier is linear on the fine-tuned
  backbone's pooled values, so its map is the exact CAM too; pass that backbone's name
  (`FineTuneResult.backbone_name`, "path.keras:avg_pool") as `backbone`.

The last convolutional map is a second output of the same backbone model (the input of its
final GlobalAveragePooling2D layer), so one run per batch gives the map and the pooled
values. Maps are cached at the conv grid's resolution and returned at each image's size
(NaN outside the centre square / crop the backbone saw).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from core.base.cache import ArrayCache
from core.base.errors import ResourceLimitError, TransferLensError
from core.base.public import check_public_cam
from core.base.hashing import hash_array, hash_key
from core.features.transfer_values import TransferValues

KIND = "cam"
CAM_VERSION = 1
MAX_IMAGES = 1024  # per call: a gallery, a selection's page, an export
BATCH = 32  # images per backbone run
METHODS = ("cam", "grad-cam")


@dataclass
class ActivationMaps:
    """Maps for dataset rows `indices`: `predicted_grid`/`given_grid` (N, h, w) at the conv
    grid's resolution for the head's predicted class and the given label; `logits` (N, C)
    from the pooled values of this run; `method` "cam" (exact) or "grad-cam"."""

    indices: np.ndarray
    predicted: np.ndarray
    given: np.ndarray
    logits: np.ndarray
    predicted_grid: np.ndarray
    given_grid: np.ndarray
    method: str
    image_shapes: list[tuple[int, int]]
    crop_fraction: float = 1.0
    key: str = ""
    cache: str = "miss"
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.indices)

    def predicted_map(self, position: int) -> np.ndarray:
        """The predicted class's map of the `position`-th image, at the image's size."""
        return to_image_size(self.predicted_grid[position], self.image_shapes[position],
                             crop_fraction=self.crop_fraction)

    def given_map(self, position: int) -> np.ndarray:
        """The given class's map of the `position`-th image, at the image's size."""
        return to_image_size(self.given_grid[position], self.image_shapes[position],
                             crop_fraction=self.crop_fraction)


# --- the head as a linear map or a differentiable function of the pooled values ---


def linear_weights(model) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(kernel (D, C), bias (C,)) with which the head's logits are pooled @ kernel + bias, for
    heads linear on the pooled values (standardisation folded in); None for other heads."""
    if hasattr(model, "folded_weights"):
        return model.folded_weights()
    keras_model = getattr(model, "model_", None)
    if keras_model is None or not hasattr(model, "params"):
        return None
    if int(model.params.get("hidden", 0)) > 0:
        return None
    inner, kernel, bias = _before_last_dense(keras_model)
    dim = keras_model.input_shape[-1]
    # the layers before the last Dense are affine here (Normalization; Dropout is identity
    # at inference): probing with 0 and the unit vectors reads their map off exactly
    probe = np.vstack([np.zeros((1, dim), np.float32), np.eye(dim, dtype=np.float32)])
    z = np.asarray(inner(probe, training=False), np.float64)
    offset, slope = z[0], z[1:] - z[0]
    return ((slope @ kernel).astype(np.float32),
            (offset @ kernel + bias).astype(np.float32))


def _before_last_dense(keras_model):
    """(model to the last Dense layer's input, its kernel, its bias) of a Keras head."""
    import keras

    dense = [layer for layer in keras_model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise TransferLensError(f"the head model {keras_model.name} has no Dense layer")
    last = dense[-1]
    kernel, bias = (np.asarray(w, np.float64) for w in last.get_weights())
    return keras.Model(keras_model.input, last.input), kernel, bias


def _logit_gradients(model, pooled: np.ndarray,
                     given: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logits (B, C), ∂logit_predicted/∂pooled, ∂logit_given/∂pooled (B, D)) of a Keras
    head, by TensorFlow: one forward pass and one tape for both classes."""
    from core.base.tf_env import import_tensorflow

    tf = import_tensorflow()
    keras_model = getattr(model, "model_", None)
    if keras_model is None:
        raise TransferLensError("Grad-CAM needs a head with a Keras model (logreg, softmax, mlp)")
    inner, kernel, bias = _before_last_dense(keras_model)
    x = tf.constant(pooled, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        logits = tf.matmul(inner(x, training=False), tf.constant(kernel, tf.float32)) + bias
        predicted = tf.gather(logits, tf.argmax(logits, axis=1), axis=1, batch_dims=1)
        labelled = tf.gather(logits, tf.constant(given, tf.int64), axis=1, batch_dims=1)
    return logits.numpy(), tape.gradient(predicted, x).numpy(), tape.gradient(labelled, x).numpy()


# --- the backbone's last convolutional map ---


_DUAL: dict[tuple[str, int], Any] = {}


def conv_map_model(model):
    """A model of the same layers with two outputs: the map entering the backbone's final
    GlobalAveragePooling2D layer, and the pooled values."""
    import keras

    last = model.layers[-1]
    if not isinstance(last, keras.layers.GlobalAveragePooling2D):
        raise TransferLensError(f"backbone {model.name} does not end in a global average pool "
                                f"({type(last).__name__}): class activation maps need one")
    return keras.Model(model.inputs, [last.input, last.output])


def _dual_function(backbone: str, image_size: int):
    """A tf.function: preprocessed images → (conv map, pooled values), built once."""
    cached = _DUAL.get((backbone, image_size))
    if cached is None:
        from core.backbones.registry import get_backbone
        from core.base.tf_env import import_tensorflow
        from core.features.extractor import FeatureExtractor

        tf = import_tensorflow()
        extractor = FeatureExtractor.for_backbone(spec=get_backbone(backbone),
                                                  image_size=image_size)
        dual = conv_map_model(extractor.model)
        cached = tf.function(lambda x: dual(x, training=False), reduce_retracing=True,
                             input_signature=[tf.TensorSpec([None, image_size, image_size, 3],
                                                            tf.float32)])
        _DUAL[(backbone, image_size)] = cached
    return cached


# --- entry point ---


def class_activation_maps(*, dataset, tv: TransferValues, trained, indices: Sequence[int],
                          backbone: str, cache_dir: str | Path | None = None,
                          batch_size: int = BATCH,
                          preprocessing=None) -> ActivationMaps:
    """Maps of the predicted and the given class for dataset rows `indices` (at most
    MAX_IMAGES), with `trained` (a TrainedHead on `tv`, the values of `dataset` from
    `backbone`). The backbone runs once per batch; the result is cached per (tv, head,
    indices). `preprocessing` (a `Preprocessing`) defaults to the one tv's manifest records;
    pass it for values assembled from parts (`from_arrays`), which record none."""
    from core.features.preprocessing import preprocessing_of

    started = time.perf_counter()
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(indices) > MAX_IMAGES:
        raise ResourceLimitError(f"class activation maps for at most {MAX_IMAGES} images at "
                                 f"once, got {len(indices)}: ask for a page at a time")
    if len(indices) and (indices.min() < 0 or indices.max() >= len(dataset)):
        raise ValueError(f"sample indices must lie in 0..{len(dataset) - 1}")
    if getattr(trained, "task", "classification") != "classification":
        raise TransferLensError("class activation maps need a classification head")
    head_class = type(trained.model)
    if getattr(head_class, "needs_images", False):
        raise TransferLensError(f"class activation maps for the fine-tuned head "
                                f"'{trained.head}' are not available yet")
    preprocessing = preprocessing or preprocessing_of(tv.manifest)
    if preprocessing is None:
        raise TransferLensError("class activation maps need backbone transfer values (these "
                                "are raw pixels or imported arrays)")
    check_public_cam(images=len(indices), image_size=preprocessing.size)
    weights = linear_weights(trained.model)
    method = "cam" if weights is not None else "grad-cam"
    shapes = [tuple(np.shape(dataset.images.get(int(i)))[:2]) for i in indices]
    fields = {"tv": tv.key, "head": trained.key or _head_fingerprint(weights, trained),
              "indices": hash_array(indices), "method": method,
              "preprocessing": preprocessing.fields(), "version": CAM_VERSION}
    key = hash_key(fields)
    cache = ArrayCache(kind=KIND, root=cache_dir)

    def compute():
        arrays = _compute(dataset=dataset, trained=trained, indices=indices, weights=weights,
                          backbone=backbone, preprocessing=preprocessing,
                          batch_size=max(1, int(batch_size)))
        return arrays, {"key_fields": fields}

    entry, status = cache.load_or_compute(key, compute)
    return ActivationMaps(indices=indices, predicted=np.asarray(entry["predicted"]),
                          given=np.asarray(entry["given"]), logits=np.asarray(entry["logits"]),
                          predicted_grid=np.asarray(entry["predicted_grid"]),
                          given_grid=np.asarray(entry["given_grid"]), method=method,
                          image_shapes=shapes, crop_fraction=preprocessing.crop_fraction,
                          key=key, cache=status, seconds=time.perf_counter() - started)


def _head_fingerprint(weights, trained) -> str:
    """A key for a head trained without the cache (no `key`): its linear weights, else its
    probabilities on the training values."""
    if weights is not None:
        return hash_array(np.concatenate([weights[0].ravel(), weights[1]]))
    return hash_array(np.asarray(trained.probabilities))


def _compute(*, dataset, trained, indices, weights, backbone, preprocessing,
             batch_size) -> dict[str, np.ndarray]:
    from core.features.preprocessing import preprocess_image

    run = _dual_function(backbone, preprocessing.size)
    given = np.asarray(dataset.labels, np.int64)[indices]
    parts: dict[str, list[np.ndarray]] = {"logits": [], "predicted_grid": [], "given_grid": []}
    for start in range(0, len(indices), batch_size):
        rows = indices[start:start + batch_size]
        batch = np.stack([preprocess_image(dataset.images.get(int(i)), preprocessing=preprocessing)
                          for i in rows])
        conv, pooled = (np.asarray(t, np.float32) for t in run(batch))
        labels = given[start:start + batch_size]
        if weights is not None:
            kernel, bias = weights
            logits = pooled @ kernel + bias
            predicted = logits.argmax(axis=1)
            maps = {"predicted_grid": np.einsum("bhwd,db->bhw", conv, kernel[:, predicted])
                    + bias[predicted][:, None, None],
                    "given_grid": np.einsum("bhwd,db->bhw", conv, kernel[:, labels])
                    + bias[labels][:, None, None]}
        else:
            logits, *gradients = _logit_gradients(trained.model, pooled, labels)
            maps = {name: _grad_cam(conv, gradient)
                    for name, gradient in zip(("predicted_grid", "given_grid"), gradients)}
        parts["logits"].append(logits.astype(np.float32))
        for name, grid in maps.items():
            parts[name].append(grid.astype(np.float32))
    if not len(indices):
        empty = np.zeros((0, 1, 1), np.float32)
        return {"predicted": np.zeros(0, np.int64), "given": given,
                "logits": np.zeros((0, len(trained.classes)), np.float32),
                "predicted_grid": empty, "given_grid": empty}
    logits = np.concatenate(parts["logits"])
    return {"predicted": logits.argmax(axis=1).astype(np.int64), "given": given,
            "logits": logits, "predicted_grid": np.concatenate(parts["predicted_grid"]),
            "given_grid": np.concatenate(parts["given_grid"])}


def _grad_cam(conv: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """ReLU(Σ_k α_k A_k), α = ∂logit/∂pooled spread over the h·w positions it averages."""
    alpha = gradient / (conv.shape[1] * conv.shape[2])
    return np.maximum(np.einsum("bhwd,bd->bhw", conv, alpha), 0.0)


# --- at the image's size, and overlays (numpy + PIL) ---


def to_image_size(grid: np.ndarray, shape: tuple[int, int], *, crop_fraction: float = 1.0) -> np.ndarray:
    """A conv-grid map stretched (bilinear) over the region of an H × W image the backbone
    saw (the centred square of the shorter side, its centred crop); NaN elsewhere."""
    from PIL import Image

    height, width = int(shape[0]), int(shape[1])
    crop = max(1, int(round(min(height, width) * crop_fraction)))
    top, left = (height - crop) // 2, (width - crop) // 2
    stretched = np.asarray(Image.fromarray(np.asarray(grid, np.float32), mode="F")
                           .resize((crop, crop), Image.BILINEAR), np.float32)
    out = np.full((height, width), np.nan, np.float32)
    out[top:top + crop, left:left + crop] = stretched
    return out


def peak(map_: np.ndarray) -> tuple[int, int]:
    """(row, column) of the map's largest value (NaN ignored)."""
    return tuple(int(v) for v in np.unravel_index(np.nanargmax(map_), map_.shape))


def heat_colors(map_: np.ndarray) -> np.ndarray:
    """A map scaled to its own range (min → 0, max → 1) as RGB uint8 (dark blue → red →
    yellow); NaN stays black."""
    values = np.asarray(map_, np.float64)
    low, high = np.nanmin(values), np.nanmax(values)
    unit = np.clip((values - low) / (high - low if high > low else 1.0), 0, 1)
    unit = np.nan_to_num(unit, nan=0.0)
    # a three-segment ramp: blue → magenta → red → yellow
    red = np.clip(unit * 2, 0, 1)
    green = np.clip(unit * 2 - 1, 0, 1)
    blue = np.clip(1 - np.abs(unit * 2 - 0.6) * 1.5, 0, 1) * (unit < 0.8)
    return (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


def overlay(image: np.ndarray, map_: np.ndarray, *, alpha: float = 0.5) -> np.ndarray:
    """The image (grey or RGB uint8) blended with the map's heat colours: RGB uint8."""
    rgb = _rgb(image)
    heat = heat_colors(map_).astype(np.float32)
    seen = ~np.isnan(np.asarray(map_, np.float64))[..., None]
    blended = np.where(seen, (1 - alpha) * rgb + alpha * heat, rgb)
    return np.clip(blended, 0, 255).astype(np.uint8)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.uint8)
    image = image[..., None] if image.ndim == 2 else image[..., :3]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def side_by_side(image: np.ndarray, predicted_map: np.ndarray, given_map: np.ndarray, *,
                 scale: int = 1, gap: int = 2) -> np.ndarray:
    """[image | predicted-class overlay | given-class overlay] as one RGB uint8 strip,
    enlarged `scale` times (nearest neighbour)."""
    rgb = _rgb(image)
    tiles = [rgb, overlay(image, predicted_map), overlay(image, given_map)]
    height = tiles[0].shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    strip = np.concatenate([tiles[0], spacer, tiles[1], spacer, tiles[2]], axis=1)
    if scale > 1:
        strip = strip.repeat(scale, axis=0).repeat(scale, axis=1)
    return strip
