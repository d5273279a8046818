"""The one preprocessing from images to a backbone's input, and its description as data.

Any uint8 image (H×W, H×W×1, ×3 or ×4) → float32 size×size×3 in [0, 255]: grey → RGB (alpha
dropped), the centred square of the shorter side, its centred `crop_fraction`, bilinear
resize (antialiased when shrinking). The backbone carries its own normalisation.

Everything goes through it: extraction (in the graph for array datasets, per image in the
loader threads for folders), fine-tuning, prediction and both exported end-to-end models (as
the registered Keras layer `PreprocessImages`). The TensorFlow ops themselves live in
`core.backbones.layers.preprocess_images`, next to the layer that saved models contain, so
`core.backbones` can register that layer without importing upward; this module is cheap to
import (cache keys use it) and loads TensorFlow only inside its functions.
`preprocess_batch_numpy` computes the same values in NumPy (no antialiased shrink) for the
runtimes that run a converted model, which then need no TensorFlow at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Optional

import numpy as np

# names the method in cache keys; change it (and EXTRACTOR_VERSION) when the maths changes
METHOD = "rgb;centre-square;crop;bilinear-antialias-down;0-255"


@dataclass(frozen=True)
class Preprocessing:
    """How images become a backbone's input: the input size and the centre-crop fraction."""

    size: int
    crop_fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.size < 1 or not 0.0 < self.crop_fraction <= 1.0:
            raise ValueError(f"need size ≥ 1 and 0 < crop_fraction ≤ 1, got {self}")
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "crop_fraction", float(self.crop_fraction))

    def fields(self) -> dict[str, Any]:
        """For cache keys and manifests (numbers, not a string to parse back)."""
        return {"image_size": self.size, "crop_fraction": self.crop_fraction,
                "preprocessing": METHOD}

    @property
    def id(self) -> str:
        return f"{METHOD};size={self.size};crop={self.crop_fraction:g}"

    @classmethod
    def from_fields(cls, fields: Optional[Mapping[str, Any]]) -> Optional["Preprocessing"]:
        """The inverse of `fields()`; None when they do not describe one (raw pixels, imported
        arrays, or entries written before the crop fraction was stored as a number)."""
        if not fields or fields.get("preprocessing") != METHOD:
            return None
        return cls(size=int(fields["image_size"]), crop_fraction=float(fields["crop_fraction"]))


def preprocessing_of(manifest: Mapping[str, Any]) -> Optional[Preprocessing]:
    """The preprocessing a feature set's images had (from its manifest's key fields)."""
    return Preprocessing.from_fields(manifest.get("key_fields"))


def preprocess_batch(images, *, preprocessing: Preprocessing):
    """TensorFlow: images (B, H, W, C) of one size, any dtype → float32 (B, S, S, 3).
    For use inside tf.functions (extraction graph, fine-tuning steps)."""
    from core.backbones.layers import preprocess_images

    return preprocess_images(images, size=preprocessing.size,
                             crop_fraction=preprocessing.crop_fraction)


def preprocess_batch_numpy(images: np.ndarray, *,
                           preprocessing: Preprocessing) -> Optional[np.ndarray]:
    """NumPy, without TensorFlow: uint8 images (B, H, W, C) of one size → float32
    (B, S, S, 3), `preprocess_batch`'s values (its crop, channels and TensorFlow's bilinear
    kernel, half-pixel centres, the same float32 operations in the same order); None when
    the crop is shrunk, whose antialiased kernel only TensorFlow runs. For runtimes other
    than TensorFlow, so their extraction neither imports it nor shares the CPU with it."""
    images = np.asarray(images)
    height, width, channels = images.shape[-3:]
    side = np.float32(min(height, width))
    crop = max(1, int(np.round(side * np.float32(preprocessing.crop_fraction))))  # half to even
    size = preprocessing.size
    if crop > size:
        return None
    top, left = (height - crop) // 2, (width - crop) // 2
    grey = channels < 3
    pixels = images[:, top:top + crop, left:left + crop, 0 if grey else slice(0, 3)]
    pixels = pixels.astype(np.float32)  # (B, crop, crop) grey, (B, crop, crop, 3) colour
    # TensorFlow interpolates each output pixel from its four neighbours as top + (bottom -
    # top) * y_lerp with top and bottom interpolated along x first: the same, in place on
    # gathered copies (2-4× faster than broadcasting temporaries at 128-224 px)
    lower, upper, lerp = _bilinear_taps(crop, size)  # a square: the same along y and x
    trailing = (slice(None),) + (() if grey else (None,))  # lerp over a channel axis or not
    rows = pixels.take(upper, axis=2)
    left_taps = pixels.take(lower, axis=2)
    rows -= left_taps
    rows *= lerp[trailing]
    rows += left_taps  # (B, crop, S[, 3])
    top_rows = rows.take(lower, axis=1)
    resized = rows.take(upper, axis=1)
    resized -= top_rows
    resized *= lerp[(slice(None), None) + trailing[1:]]
    resized += top_rows  # (B, S, S[, 3])
    if not grey:
        return resized
    out = np.empty(resized.shape + (3,), np.float32)
    out[...] = resized[..., None]  # a grey channel broadcast to RGB
    return out


def _bilinear_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TensorFlow's ResizeBilinear weights with half-pixel centres, in float32: each output
    position's lower and upper input index and the weight of the upper one."""
    scale = np.float32(size_in) / np.float32(size_out)
    centre = (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(centre)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(centre).astype(np.int64), size_in - 1)
    return lower, upper, (centre - floor).astype(np.float32)


def preprocess_image(image: np.ndarray, *, preprocessing: Preprocessing) -> np.ndarray:
    """One uint8 image (H, W) or (H, W, C) of any size → float32 (S, S, 3), NumPy in and out.
    Thread-safe, so folder loaders run it in their threads."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return _image_function(preprocessing)(image).numpy()


def preprocessing_layer(*, preprocessing: Preprocessing, name: str = "preprocess"):
    """The Keras layer (registered, serializable) for the front of an end-to-end model."""
    from core.backbones.layers import PreprocessImages

    return PreprocessImages(size=preprocessing.size, crop_fraction=preprocessing.crop_fraction,
                            name=name)


@lru_cache(maxsize=8)
def _image_function(preprocessing: Preprocessing):
    from core.base.tf_env import import_tensorflow

    tf = import_tensorflow()

    # one trace for every image size and channel count
    @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.uint8)])
    def one(image):
        return preprocess_batch(image, preprocessing=preprocessing)

    return one
