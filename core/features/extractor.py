"""Runs a backbone over uint8 images in batches: the only place extraction touches TensorFlow.

Every image goes through `core.features.preprocessing`. Array datasets (digits,
Fashion-MNIST, CIFAR) are preprocessed inside the TensorFlow graph from uint8 batches, so
memory stays at the dataset's uint8 size. Folder images differ in size, so a thread pool
decodes and preprocesses them one by one (the same TensorFlow function) while the model
runs the previous batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

from core.backbones.registry import BackboneSpec
from core.datasets.base import ImageDataset, ImageStore
from core.features.preprocessing import Preprocessing, preprocess_batch, preprocess_image


class FeatureExtractor:
    """A backbone at one input size, compiled once per process."""

    def __init__(self, *, model, image_size: int) -> None:
        from core.base.tf_env import import_tensorflow

        tf = import_tensorflow()
        self.model = model
        self.image_size = image_size
        self._tf = tf
        self._functions: dict[Preprocessing, object] = {}
        self._model_function = tf.function(
            lambda x: model(x, training=False), reduce_retracing=True,
            input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32)])

    @staticmethod
    def for_backbone(*, spec: BackboneSpec, image_size: int) -> "FeatureExtractor":
        return _cached_extractor(spec.name, image_size)

    def preprocessing(self, crop_fraction: float) -> Preprocessing:
        return Preprocessing(size=self.image_size, crop_fraction=crop_fraction)

    def _graph(self, preprocessing: Preprocessing):
        """A tf.function: uint8 (B, H, W, C) → features (B, D), preprocessing in the graph."""
        if preprocessing not in self._functions:
            tf, model = self._tf, self.model

            @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8)],
                         reduce_retracing=True)
            def features(batch):
                return model(preprocess_batch(batch, preprocessing=preprocessing), training=False)

            self._functions[preprocessing] = features
        return self._functions[preprocessing]

    def features(self, batch: np.ndarray, *, crop_fraction: float = 1.0) -> np.ndarray:
        """Features of a uint8 batch (B, H, W) or (B, H, W, C) of images of one size."""
        batch = np.asarray(batch, dtype=np.uint8)
        if batch.ndim == 3:
            batch = batch[..., None]
        return self._graph(self.preprocessing(crop_fraction))(batch).numpy()

    def image_features(self, images: Sequence[np.ndarray], *,
                       crop_fraction: float = 1.0) -> np.ndarray:
        """Features of uint8 images of any sizes and channel counts."""
        return self._model_function(
            _preprocessed(images, self.preprocessing(crop_fraction))).numpy()

    def run(self, *, dataset: ImageDataset, indices: np.ndarray, batch_size: int,
            crop_fraction: float) -> Iterator[np.ndarray]:
        """Features for dataset[indices], batch by batch, in order."""
        yield from self.run_images(images=dataset.images, indices=indices,
                                   batch_size=batch_size, crop_fraction=crop_fraction)

    def run_images(self, *, images: ImageStore, indices: np.ndarray, batch_size: int,
                   crop_fraction: float) -> Iterator[np.ndarray]:
        """Features for images[indices] of an image store (a Ray worker's own FileImages of
        its chunk's paths, or a re-opened dataset's), batch by batch, in order."""
        batches = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
        store = images
        if store.uniform_shape is not None:
            for rows in batches:
                yield self.features(store.batch(rows), crop_fraction=crop_fraction)
            return
        # Variable-size files: decode+preprocess the next batch in threads while this one runs.
        preprocessing = self.preprocessing(crop_fraction)

        def load(rows: np.ndarray) -> np.ndarray:
            return _preprocessed([store.get(int(i)) for i in rows], preprocessing)

        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = pool.submit(load, batches[0]) if batches else None
            for position in range(len(batches)):
                ready = pending.result()
                if position + 1 < len(batches):
                    pending = pool.submit(load, batches[position + 1])
                yield self._model_function(ready).numpy()


def _preprocessed(images: Sequence[np.ndarray], preprocessing: Preprocessing) -> np.ndarray:
    return np.stack([preprocess_image(image, preprocessing=preprocessing) for image in images])


@lru_cache(maxsize=4)
def _cached_extractor(backbone: str, image_size: int) -> FeatureExtractor:
    from core.backbones.registry import get_backbone

    model = get_backbone(backbone).build(input_size=image_size)
    return FeatureExtractor(model=model, image_size=image_size)
