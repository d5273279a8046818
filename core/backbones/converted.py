"""A Keras model's forward pass on a non-TensorFlow runtime: the one door the extractor and
batch prediction go through (converted once, `core.backbones.conversion_cache`). Each
runtime's module is imported only when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.backbones.runtime import DISPLAY_NAMES, INT8, ONNXRUNTIME, OPENVINO
from core.backbones.spec import OnnxWriter

ANY_SIZE = "any"  # the image_size of a conversion that serves every input size


def converted_forward(*, runtime: str, fields: dict[str, Any], build: Callable[[], Any],
                      image_size: int, precision: str, threads: int | None = None,
                      cache_dir: str | Path | None = None, calibration: str = "",
                      calibration_images: Callable[[], np.ndarray] | None = None,
                      any_size: bool = False, session_recipe=None,
                      onnx_writer: OnnxWriter | None = None):
    """A forward function (`__call__` for a batch, `map` for a stream of them) of the Keras
    model `build()` returns, taking float32 (B, image_size, image_size, 3), on `runtime`.
    `any_size`: the model computes the same function at every input size, so its f32
    conversion leaves height and width free and one cached conversion serves every size
    (`fields`' image_size is replaced by ANY_SIZE in its key). int8 is quantised with
    `calibration_images()` (model inputs) of the dataset whose fingerprint is `calibration`,
    or found in the cache by it, from a conversion at `image_size`. `session_recipe`: ONNX
    Runtime's `onnx_session.SessionRecipe` (default: the one adopted). `onnx_writer`: the
    backbone's own ONNX writer, which both runtimes convert from instead of `build()`.
    Raises what the conversion raises: callers fall back to TensorFlow."""
    size = None if any_size else image_size
    shared = {**fields, "image_size": ANY_SIZE} if any_size else fields
    if runtime == OPENVINO:
        from core.backbones.openvino_runtime import OpenVinoForward, converted_model

        model = converted_model(fields=shared, build=build, image_size=size,
                                cache_dir=cache_dir, precision=precision, writer=onnx_writer)
        return OpenVinoForward(model=model, precision=precision, threads=threads,
                               image_size=image_size)
    if runtime == ONNXRUNTIME:
        from core.backbones.onnx_runtime import OnnxForward, converted_onnx, quantized_onnx

        if precision == INT8:
            if not calibration:
                raise ValueError("int8 is calibrated on a dataset's images, so it runs in "
                                 "extraction (extract --precision int8), not on this model")

            def f32() -> bytes:  # quantised from a model of this size, as before
                return converted_onnx(fields=fields, build=build, image_size=image_size,
                                      cache_dir=cache_dir, writer=onnx_writer)

            model = quantized_onnx(f32=f32, fields={**fields, "calibration": calibration},
                                   calibration=calibration_images, cache_dir=cache_dir,
                                   writer=onnx_writer)
        else:
            model = converted_onnx(fields=shared, build=build, image_size=size,
                                   cache_dir=cache_dir, writer=onnx_writer)
        return OnnxForward(model=model, threads=threads, image_size=image_size,
                           cache_dir=cache_dir, recipe=session_recipe)
    raise ValueError(f"no converted forward pass for runtime {runtime!r}")


def backbone_forward(*, spec, runtime: str, image_size: int, precision: str = "f32",
                     any_size: bool | None = None, **options):
    """`converted_forward` of a registered backbone (a BackboneSpec): its key fields, Keras
    builder and own ONNX writer taken from `spec`, so extraction and the benchmarks convert
    it the same way; `any_size` defaults to the spec's; `options` are converted_forward's
    (threads, cache_dir, calibration, calibration_images, session_recipe)."""
    return converted_forward(runtime=runtime, fields=backbone_fields(spec, image_size),
                             build=lambda: spec.build(input_size=image_size),
                             image_size=image_size, precision=precision,
                             any_size=spec.any_size if any_size is None else any_size,
                             onnx_writer=spec.onnx_writer, **options)


def backbone_fields(spec, image_size: int) -> dict[str, Any]:
    """What identifies a registered backbone's conversion (the runtime adds its own)."""
    return {"backbone": spec.name, "weights": spec.weights_id(), "image_size": image_size}


def could_not_run(runtime: str, what: str, error: BaseException) -> str:
    """One line: which runtime could not run what, and the error's first line."""
    first = (str(error).splitlines() or [""])[0][:200]
    return f"{DISPLAY_NAMES[runtime]} could not run {what} ({type(error).__name__}: {first})"
