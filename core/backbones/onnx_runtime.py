"""A Keras model's forward pass on ONNX Runtime: converted once, cached, run in a session.

Conversion is Keras' own ONNX export (`model.export(format="onnx")`, which drives tf2onnx
on the TensorFlow backend), cached by `core.backbones.conversion_cache` as one byte array
keyed by what was converted and the converter's versions. ONNX Runtime is imported only
here, TensorFlow only while converting.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from core.backbones.conversion_cache import cached_conversion

CONVERTER_VERSION = 1  # bump when the conversion below changes its output
OPSET = 17  # ONNX Runtime 1.20+ runs it; the opset issue 31's prototype measured


def converter_versions() -> dict[str, str]:
    """The versions that change a converted model (ONNX Runtime itself does not)."""
    import keras
    import tf2onnx

    return {"keras": keras.__version__, "tf2onnx": tf2onnx.__version__}


def converted_onnx(*, fields: dict[str, Any], build: Callable[[], Any], image_size: int,
                   cache_dir: str | Path | None = None) -> bytes:
    """The ONNX model (serialised) for `fields` from the cache, else `build()` (a Keras
    model taking float32 (B, image_size, image_size, 3)) exported and cached. Raises what
    the export raises: callers fall back to TensorFlow."""
    fields = {**fields, "runtime": "onnxruntime", **converter_versions(), "opset": OPSET,
              "converter_version": CONVERTER_VERSION}

    def convert() -> dict[str, bytes]:
        from core.base.tf_env import import_tensorflow

        tf = import_tensorflow()
        signature = [tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name="images")]
        with tempfile.TemporaryDirectory(prefix="transfer-lens-onnx-") as folder, \
                warnings.catch_warnings(), _quiet_tf2onnx():
            warnings.simplefilter("ignore")  # tf2onnx's deprecation notes: not the user's
            path = Path(folder) / "model.onnx"
            build().export(str(path), format="onnx", verbose=False,
                           input_signature=signature, opset_version=OPSET)
            return {"onnx": path.read_bytes()}

    return cached_conversion(fields=fields, convert=convert, cache_dir=cache_dir)["onnx"]


class _quiet_tf2onnx:
    """tf2onnx logs every step at INFO: kept to warnings while it converts."""

    def __enter__(self):
        self.logger = logging.getLogger("tf2onnx")
        self.level = self.logger.level
        self.logger.setLevel(logging.WARNING)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def default_threads() -> int:
    """The CPUs this process may use (2 on the project's machines)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxForward:
    """An ONNX Runtime session: `__call__` for one batch, `map` for a stream of batches
    with the next batch's preparation overlapping this one's run (ONNX Runtime releases the
    GIL while it runs)."""

    def __init__(self, *, model: bytes, precision: str = "f32", threads: int | None = None) -> None:
        import onnxruntime as ort

        if precision != "f32":
            raise ValueError(f"ONNX Runtime runs f32 here, not {precision}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or default_threads())
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(batch, np.float32)})[0]

    def map(self, batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Outputs in input order, one batch running while the caller makes the next."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime") as pool:
            running = None
            for batch in batches:
                queued = pool.submit(self, batch)
                if running is not None:
                    yield running.result()
                running = queued
            if running is not None:
                yield running.result()
