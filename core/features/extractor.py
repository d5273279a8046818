"""Runs a backbone over uint8 images in batches: the only place extraction touches TensorFlow.

Array datasets (digits, Fashion-MNIST, CIFAR) are resized inside the TensorFlow graph from
uint8 batches, so memory stays at the dataset's uint8 size. Folder images differ in size, so
a thread pool decodes and resizes them (EfficientNet-Lite reference: shorter side to
size/crop, centre crop) while the model runs the previous batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Iterator

import numpy as np

from core.backbones.registry import BackboneSpec
from core.datasets.base import ImageDataset


def resize_for_backbone(image: np.ndarray, *, size: int, crop_fraction: float) -> np.ndarray:
    """uint8 H×W×C → uint8 size×size×3: shorter side to size/crop, centre crop (PIL bilinear)."""
    from PIL import Image

    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    pil = Image.fromarray(image)
    scale = size / crop_fraction / min(pil.size)
    resized = pil.resize((max(size, round(pil.width * scale)), max(size, round(pil.height * scale))),
                         Image.BILINEAR)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)))


class FeatureExtractor:
    """A backbone at one input size, compiled once per process."""

    def __init__(self, *, model, image_size: int) -> None:
        from core.base.tf_env import import_tensorflow

        tf = import_tensorflow()
        self.model = model
        self.image_size = image_size
        self._tf = tf
        self._functions: dict[tuple, object] = {}

    @staticmethod
    def for_backbone(*, spec: BackboneSpec, image_size: int) -> "FeatureExtractor":
        return _cached_extractor(spec.name, image_size)

    def _graph(self, crop_fraction: float, channels: int):
        """A tf.function: uint8 (B, H, W, C) → features (B, D), resizing in the graph."""
        key = (crop_fraction, channels)
        if key not in self._functions:
            tf, size, model = self._tf, self.image_size, self.model

            @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8)],
                         reduce_retracing=True)
            def features(batch):
                x = tf.cast(batch, tf.float32)
                if channels == 1:
                    x = tf.image.grayscale_to_rgb(x)
                if crop_fraction < 1.0:
                    x = tf.image.central_crop(x, crop_fraction)
                if tf.shape(x)[1] != size or tf.shape(x)[2] != size:
                    x = tf.image.resize(x, (size, size), method="bilinear", antialias=False)
                return model(x, training=False)

            self._functions[key] = features
        return self._functions[key]

    def features(self, batch: np.ndarray, *, crop_fraction: float = 1.0) -> np.ndarray:
        return self._graph(crop_fraction, batch.shape[-1])(batch).numpy()

    def run(self, *, dataset: ImageDataset, indices: np.ndarray, batch_size: int,
            crop_fraction: float) -> Iterator[np.ndarray]:
        """Features for dataset[indices], batch by batch, in order."""
        batches = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
        store = dataset.images
        if store.uniform_shape is not None:
            for rows in batches:
                yield self.features(store.batch(rows), crop_fraction=crop_fraction)
            return
        # Variable-size files: decode+resize the next batch in threads while this one runs.
        size = self.image_size

        def load(rows: np.ndarray) -> np.ndarray:
            return np.stack([resize_for_backbone(store.get(int(i)), size=size,
                                                 crop_fraction=crop_fraction) for i in rows])

        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = pool.submit(load, batches[0]) if batches else None
            for position in range(len(batches)):
                ready = pending.result()
                if position + 1 < len(batches):
                    pending = pool.submit(load, batches[position + 1])
                yield self.features(ready, crop_fraction=1.0)


@lru_cache(maxsize=4)
def _cached_extractor(backbone: str, image_size: int) -> FeatureExtractor:
    from core.backbones.registry import get_backbone

    model = get_backbone(backbone).build(input_size=image_size)
    return FeatureExtractor(model=model, image_size=image_size)
