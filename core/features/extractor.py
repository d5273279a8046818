"""Runs a backbone over uint8 images in batches: the only place extraction touches a runtime.

Every image goes through `core.features.preprocessing`. Array datasets (digits,
Fashion-MNIST, CIFAR) are preprocessed batch by batch from uint8, so memory stays at the
dataset's uint8 size: inside the TensorFlow graph when TensorFlow runs the model, in NumPy
(TensorFlow's kernel, the same values) when OpenVINO or ONNX Runtime runs it, so those
neither import TensorFlow nor share the CPU with its threads (a shrinking crop, whose
antialiased kernel only TensorFlow has, still goes through TensorFlow). Folder images differ
in size, so a thread pool decodes and preprocesses them one by one (the TensorFlow
function) while the model runs the previous batch. The forward pass runs on the chosen
runtime (`core.backbones.runtime`): TensorFlow (fused with the preprocessing in one graph),
or OpenVINO or ONNX Runtime on the preprocessed batches, the next batch prepared while one
runs. OpenVINO's own conversion of the preprocessing differs from TensorFlow's by up to 0.5
grey levels, so it never runs there.
"""

from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from core.backbones.registry import BackboneSpec
from core.backbones.runtime import TENSORFLOW, RuntimeChoice
from core.base.errors import BackboneUnavailableError
from core.datasets.base import ImageDataset, ImageStore
from core.features.preprocessing import (Preprocessing, preprocess_batch, preprocess_batch_numpy,
                                         preprocess_image)


class FeatureExtractor:
    """A backbone at one input size, compiled once per process: a Keras `model` run by
    TensorFlow, or `forward` (`core.backbones.converted`) when another runtime runs it.
    `runtime` says which runtime and precision run (after any fallback)."""

    def __init__(self, *, model=None, image_size: int, forward=None,
                 runtime: RuntimeChoice = RuntimeChoice()) -> None:
        if (model is None) == (forward is None):
            raise ValueError("give a Keras model or a forward function, not both or neither")
        self.model = model
        self.image_size = image_size
        self.runtime = runtime
        self._forward = forward
        self._functions: dict[Preprocessing, object] = {}
        if model is not None:
            tf = _tensorflow()
            function = tf.function(
                lambda x: model(x, training=False), reduce_retracing=True,
                input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32)])
            self._forward = lambda x: function(x).numpy()

    @staticmethod
    def for_backbone(*, spec: BackboneSpec, image_size: int,
                     runtime: RuntimeChoice = RuntimeChoice(),
                     cache_dir: str | Path | None = None) -> "FeatureExtractor":
        """The process's extractor for this backbone, size and runtime (built once)."""
        return _cached_extractor(spec.name, image_size, runtime,
                                 None if cache_dir is None else str(cache_dir))

    def preprocessing(self, crop_fraction: float) -> Preprocessing:
        return Preprocessing(size=self.image_size, crop_fraction=crop_fraction)

    def _graph(self, preprocessing: Preprocessing):
        """A tf.function: uint8 (B, H, W, C) → features (B, D) with preprocessing and model in
        one graph (TensorFlow runtime), or → the model's input (B, S, S, 3) (others)."""
        if preprocessing not in self._functions:
            tf, model = _tensorflow(), self.model

            @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8)],
                         reduce_retracing=True)
            def features(batch):
                pixels = preprocess_batch(batch, preprocessing=preprocessing)
                return pixels if model is None else model(pixels, training=False)

            self._functions[preprocessing] = features
        return self._functions[preprocessing]

    def _uniform(self, batches: Iterable[np.ndarray], crop_fraction: float) -> Iterator[np.ndarray]:
        """Features of uint8 batches (B, H, W[, C]) of one image size each, in order."""
        preprocessing = self.preprocessing(crop_fraction)
        batches = (_hwc_batch(batch) for batch in batches)
        if self.model is not None:
            graph = self._graph(preprocessing)
            for batch in batches:
                yield graph(batch).numpy()
        else:  # preprocess the next batch while the runtime works on this one
            yield from self._many(self._model_input(batch, preprocessing) for batch in batches)

    def _model_input(self, batch: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
        """A uint8 batch as the converted model's float32 input: in NumPy (TensorFlow's
        values, without importing it or sharing the CPU with its threads), or in
        TensorFlow's graph where only it has the kernel (an antialiased shrink)."""
        ready = preprocess_batch_numpy(batch, preprocessing=preprocessing)
        return ready if ready is not None else self._graph(preprocessing)(batch).numpy()

    def _many(self, inputs: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The forward pass over preprocessed batches, in order."""
        run_many = getattr(self._forward, "map", None)
        if run_many is not None:
            yield from run_many(inputs)
        else:
            for batch in inputs:
                yield self._forward(batch)

    def release_memory(self) -> None:
        """Let the runtime hand back what it keeps between runs (ONNX Runtime's arena); the
        next run builds it again. TensorFlow keeps nothing worth it."""
        release = getattr(self._forward, "release_memory", None)
        if release is not None:
            release()

    def features(self, batch: np.ndarray, *, crop_fraction: float = 1.0) -> np.ndarray:
        """Features of a uint8 batch (B, H, W) or (B, H, W, C) of images of one size."""
        return next(self._uniform([batch], crop_fraction))

    def image_features(self, images: Sequence[np.ndarray], *,
                       crop_fraction: float = 1.0) -> np.ndarray:
        """Features of uint8 images of any sizes and channel counts."""
        return self._forward(_preprocessed(images, self.preprocessing(crop_fraction)))

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
            yield from self._uniform((store.batch(rows) for rows in batches), crop_fraction)
            return
        # Variable-size files: decode+preprocess the next batch in threads while this one runs.
        preprocessing = self.preprocessing(crop_fraction)

        def load(rows: np.ndarray) -> np.ndarray:
            return _preprocessed([store.get(int(i)) for i in rows], preprocessing)

        def loaded(pool: ThreadPoolExecutor) -> Iterator[np.ndarray]:
            pending = pool.submit(load, batches[0]) if batches else None
            for position in range(len(batches)):
                ready = pending.result()
                if position + 1 < len(batches):
                    pending = pool.submit(load, batches[position + 1])
                yield ready

        with ThreadPoolExecutor(max_workers=2) as pool:
            yield from self._many(loaded(pool))


def _hwc_batch(batch: np.ndarray) -> np.ndarray:
    batch = np.asarray(batch, dtype=np.uint8)
    return batch[..., None] if batch.ndim == 3 else batch


def _preprocessed(images: Sequence[np.ndarray], preprocessing: Preprocessing) -> np.ndarray:
    return np.stack([preprocess_image(image, preprocessing=preprocessing) for image in images])


_built: "weakref.WeakSet[FeatureExtractor]" = weakref.WeakSet()  # the process's extractors


@lru_cache(maxsize=4)
def _cached_extractor(backbone: str, image_size: int, runtime: RuntimeChoice,
                      cache_dir: str | None) -> FeatureExtractor:
    from core.backbones.registry import get_backbone

    extractor = build_extractor(spec=get_backbone(backbone), image_size=image_size,
                                runtime=runtime, cache_dir=cache_dir)
    _built.add(extractor)
    return extractor


def release_run_memory() -> None:
    """Every extractor this process built hands back what its runtime keeps between runs
    (FeatureExtractor.release_memory). A long-lived server calls it when an extraction
    ends, so a visitor's embedding leaves no arena behind; a command's process ends anyway."""
    for extractor in list(_built):
        extractor.release_memory()


# int8's calibration sets by dataset fingerprint (weakly: a dataset gone is not kept for this)
_calibration_sets: "weakref.WeakValueDictionary[str, ImageDataset]" = weakref.WeakValueDictionary()


def calibrated_runtime(runtime: RuntimeChoice, dataset: ImageDataset) -> RuntimeChoice:
    """int8: `runtime` naming `dataset` as its calibration set, whose images quantise the
    model when this process first builds it (then it is cached); other precisions as given."""
    from dataclasses import replace

    from core.backbones.runtime import INT8

    if runtime.precision != INT8:
        return runtime
    _calibration_sets[dataset.fingerprint] = dataset
    return replace(runtime, calibration=dataset.fingerprint)


def calibration_inputs(*, dataset: ImageDataset, image_size: int) -> np.ndarray:
    """int8's calibration set: a seeded sample of the dataset's images, preprocessed as
    extraction preprocesses them (float32 model inputs)."""
    from core.backbones.runtime import CALIBRATION_IMAGES

    rows = np.random.default_rng(0).choice(len(dataset), min(CALIBRATION_IMAGES, len(dataset)),
                                           replace=False)
    preprocessing = Preprocessing(size=image_size, crop_fraction=dataset.crop_fraction)
    return _preprocessed([dataset.images.get(int(i)) for i in np.sort(rows)], preprocessing)


def build_extractor(*, spec: BackboneSpec, image_size: int, runtime: RuntimeChoice,
                    cache_dir: str | Path | None = None, threads: int | None = None
                    ) -> FeatureExtractor:
    """The backbone on `runtime`. When another runtime cannot convert or run it, f32 falls back
    to TensorFlow (the same values) with a note in `extractor.runtime`; a reduced precision
    cannot (its values would land under the wrong key), so that is an error naming the cause.
    int8 finds its quantised model in the cache, or quantises it with the calibration set
    `calibrated_runtime` named in this process."""
    if runtime.runtime != TENSORFLOW:
        from core.backbones.converted import backbone_forward, could_not_run

        source = _calibration_sets.get(runtime.calibration)
        calibration_images = None if source is None else (
            lambda: calibration_inputs(dataset=source, image_size=image_size))
        try:
            forward = backbone_forward(
                spec=spec, runtime=runtime.runtime, image_size=image_size,
                precision=runtime.precision, threads=threads, cache_dir=cache_dir,
                calibration=runtime.calibration, calibration_images=calibration_images)
            return FeatureExtractor(image_size=image_size, forward=forward, runtime=runtime)
        except BackboneUnavailableError:
            raise  # missing weights: TensorFlow would fail the same way
        except Exception as error:  # noqa: BLE001 — any converter failure means: fall back
            reason = could_not_run(runtime.runtime, f"{spec.name} at {image_size} px", error)
            if runtime.precision != "f32":
                raise BackboneUnavailableError(
                    f"{reason}. Fix: use --precision f32 (TensorFlow's values) or "
                    f"--runtime tensorflow.") from error
            runtime = runtime.fallback(reason)
    return FeatureExtractor(model=spec.build(input_size=image_size), image_size=image_size,
                            runtime=runtime)


def _tensorflow():
    """TensorFlow, imported quietly on first use: only where it runs the model or the
    preprocessing, so a converted runtime on array datasets never loads it."""
    from core.base.tf_env import import_tensorflow

    return import_tensorflow()
