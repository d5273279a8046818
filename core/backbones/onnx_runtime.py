"""A Keras model's forward pass on ONNX Runtime: converted once, cached, run in a session.

Conversion is the backbone's own ONNX writer where it has one (EfficientNet-Lite:
`core.backbones.lite_onnx`, no TensorFlow), else Keras' own ONNX export
(`model.export(format="onnx")`, which drives tf2onnx on the TensorFlow backend), cached by
`core.backbones.conversion_cache` as one byte array keyed by what was converted and the
converter's versions. ONNX Runtime is imported only here, TensorFlow only while exporting.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from core.backbones.conversion_cache import cached_conversion
from core.backbones.onnx_session import (SESSION_RECIPE, SessionRecipe, batch_input,
                                         default_threads, prepared_model, recipe_named)
from core.backbones.spec import OnnxWriter

# bump when the conversion below changes its output; 2: free height and width for
# backbones that compute the same function at every size (one conversion for all sizes)
CONVERTER_VERSION = 2
OPSET = 17  # of Keras' export: ONNX Runtime 1.20+ runs it; issue 31's prototype measured it


def converter_versions() -> dict[str, str]:
    """The versions that change a converted model (ONNX Runtime itself does not), read
    from the installed packages' metadata: importing them would import TensorFlow, which a
    cached model does not need."""
    from importlib.metadata import version

    return {"keras": version("keras"), "tf2onnx": version("tf2onnx")}


def _onnx_fields(fields: dict[str, Any], *, writer: OnnxWriter | None = None) -> dict[str, Any]:
    """The converted model's key: what was converted, and how (by the backbone's own
    `writer`, or by Keras' export and its converter's versions)."""
    how = (writer.key_fields() if writer else
           {**converter_versions(), "converter_version": CONVERTER_VERSION, "opset": OPSET})
    return {**fields, "runtime": "onnxruntime", **how}


def converted_onnx(*, fields: dict[str, Any], build: Callable[[], Any], image_size: int | None,
                   cache_dir: str | Path | None = None, writer: OnnxWriter | None = None) -> bytes:
    """The ONNX model (serialised) for `fields` from the cache, else written by the
    backbone's own `writer` when it has one, else `build()` (a Keras model taking float32
    (B, image_size, image_size, 3)) exported; then cached. image_size None: inputs of any
    height and width. Raises what the conversion raises: callers fall back to TensorFlow."""
    if writer is not None:
        return cached_conversion(
            fields=_onnx_fields(fields, writer=writer), cache_dir=cache_dir, tensorflow=False,
            convert=lambda: {"onnx": writer.write(image_size=image_size)})["onnx"]
    fields = _onnx_fields(fields)

    def convert() -> dict[str, bytes]:
        from core.base.tf_env import import_tensorflow

        tf = import_tensorflow()
        signature = [tf.TensorSpec([None, image_size, image_size, 3], tf.float32,
                                   name="images")]  # None, None: any size
        with tempfile.TemporaryDirectory(prefix="transfer-lens-onnx-") as folder, \
                warnings.catch_warnings(), _quiet_tf2onnx():
            warnings.simplefilter("ignore")  # tf2onnx's deprecation notes: not the user's
            path = Path(folder) / "model.onnx"
            build().export(str(path), format="onnx", verbose=False,
                           input_signature=signature, opset_version=OPSET)
            return {"onnx": path.read_bytes()}

    return cached_conversion(fields=fields, convert=convert, cache_dir=cache_dir)["onnx"]


@dataclass(frozen=True)
class Int8Recipe:
    """How post-training quantisation treats the f32 ONNX model: which convolutions stay in
    float32 (`keep_f32`: "depthwise" = grouped convs, "first" = the stem, "start" = the
    first BF16MIX_F32_CONVOLUTIONS convs, what bf16mix keeps, "last" = the final 1x1
    projection the features are pooled from, "add" = the residual additions), how activation
    ranges are calibrated
    (`method`: minmax, percentile, entropy), symmetric activations (int8 then) and the
    format (QDQ or QOperator). Weights are always int8 per output channel."""

    keep_f32: tuple[str, ...] = ()
    method: str = "minmax"
    symmetric_activations: bool = False
    quant_format: str = "qdq"

    @property
    def name(self) -> str:
        return "-".join([self.quant_format, "s8s8" if self.symmetric_activations else "u8s8",
                         self.method, *(f"f32{part}" for part in self.keep_f32)])

    def nodes_kept(self, model: bytes) -> list[str]:
        """The names of the nodes of `model` (serialised ONNX) this recipe keeps in f32."""
        import onnx

        nodes = onnx.load_from_string(model).graph.node
        convs = [node for node in nodes if node.op_type == "Conv"]
        kept = {n.name for n in nodes if n.op_type == "Add"} if "add" in self.keep_f32 else set()
        if "depthwise" in self.keep_f32:
            kept |= {n.name for n in convs if any(a.name == "group" and a.i > 1
                                                   for a in n.attribute)}
        if "first" in self.keep_f32 and convs:
            kept.add(convs[0].name)
        if "start" in self.keep_f32:
            from core.backbones.runtime import BF16MIX_F32_CONVOLUTIONS

            kept |= {node.name for node in convs[:BF16MIX_F32_CONVOLUTIONS]}
        if "last" in self.keep_f32 and convs:
            kept.add(convs[-1].name)
        return sorted(kept)


# the recipe int8 extraction uses (benchmarks/workers/int8_recipes_worker.py compared them);
# core.backbones.runtime.CALIBRATION names it in transfer-value keys
INT8_RECIPE = Int8Recipe()


def quantized_onnx(*, f32: Callable[[], bytes], fields: dict[str, Any],
                   calibration: Callable[[], np.ndarray] | None,
                   cache_dir: str | Path | None = None, recipe: Int8Recipe = INT8_RECIPE,
                   writer: OnnxWriter | None = None) -> bytes:
    """The int8 model of the f32 ONNX model `f32()` from the cache, else quantised after
    training by `recipe` with `calibration()`'s float32 model inputs, and cached. `fields`
    names the model and the calibration set, `writer` the backbone's ONNX writer when
    `f32()` comes from it; without `calibration` a missing entry is an error."""
    import onnxruntime

    from core.backbones.runtime import CALIBRATION

    fields = {**_onnx_fields(fields, writer=writer), "precision": "int8",
              "calibration_method": CALIBRATION, "recipe": recipe.name,
              "onnxruntime": onnxruntime.__version__}

    def convert() -> dict[str, bytes]:
        if calibration is None:
            raise LookupError("the int8 model calibrated on this dataset is not in the "
                              "cache here; extract the dataset with --precision int8 first")
        return {"onnx": quantize(f32(), images=calibration(), recipe=recipe)}

    return cached_conversion(fields=fields, convert=convert, cache_dir=cache_dir)["onnx"]


def quantize(model: bytes, *, images: np.ndarray, recipe: Int8Recipe) -> bytes:
    """`model` (serialised f32 ONNX) quantised by `recipe`, calibrated on `images` (float32
    model inputs)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = np.ascontiguousarray(images, np.float32)
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"images": images[i:i + 32]}
                                 for i in range(0, len(images), 32)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="transfer-lens-int8-") as folder:
        source, prepared, quantized = (Path(folder) / name for name in
                                       ("f32.onnx", "prepared.onnx", "int8.onnx"))
        source.write_bytes(model)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(quantized), Reader(),
            quant_format=QuantFormat.QDQ if recipe.quant_format == "qdq" else QuantFormat.QOperator,
            activation_type=QuantType.QInt8 if recipe.symmetric_activations else QuantType.QUInt8,
            weight_type=QuantType.QInt8, per_channel=True,
            calibrate_method=methods[recipe.method],
            nodes_to_exclude=recipe.nodes_kept(prepared.read_bytes()),
            extra_options={"ActivationSymmetric": recipe.symmetric_activations})
        return quantized.read_bytes()


class _quiet_tf2onnx:
    """tf2onnx logs every step at INFO: kept to warnings while it converts."""

    def __enter__(self):
        self.logger = logging.getLogger("tf2onnx")
        self.level = self.logger.level
        self.logger.setLevel(logging.WARNING)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


class OnnxForward:
    """An ONNX Runtime session: `__call__` for one batch, `map` for a stream of batches
    with the next batch's preparation overlapping this one's run (ONNX Runtime releases the
    GIL while it runs). `recipe` (default: `onnx_session.SESSION_RECIPE`) sets the session's
    options, whether batches run in data-parallel parts, and edits the model (at
    `image_size`; a pre-optimised graph cached in `cache_dir`)."""

    session = None  # opened by the first run, closed by `release_memory`

    def __init__(self, *, model: bytes, threads: int | None = None,
                 recipe: SessionRecipe | None = None, image_size: int | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self._model, self._recipe, self._nchw = prepared_model(
            model, recipe=recipe or recipe_named(SESSION_RECIPE), image_size=image_size,
            cache_dir=cache_dir)
        self._threads = threads or default_threads()
        self._workers = self._recipe.workers(threads=self._threads)
        self.input = self._session().get_inputs()[0].name

    def _session(self):
        """The session, opened again after `release_memory`."""
        session = self.session
        if session is None:
            import onnxruntime as ort

            options = self._recipe.options(threads=self._threads)
            session = self.session = ort.InferenceSession(
                self._model, options, providers=["CPUExecutionProvider"])
        return session

    def release_memory(self) -> None:
        """Close the session: ONNX Runtime's CPU arena keeps the largest batch's activations
        while a session lives (about 240 MB for 64 images at 96 px), and the session holds
        its own copy of the weights. The next call opens it again from the model (about a
        second); a run in flight finishes on the old one."""
        self.session = None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._session().run(None, {self.input: batch})[0]

    def _submit(self, pool: ThreadPoolExecutor, batch: np.ndarray) -> list[Future]:
        """The batch's runs queued on `pool`: whole, or in data-parallel parts."""
        ready = batch_input(batch, nchw=self._nchw)
        step = self._recipe.part_images or len(ready)
        if not len(ready):  # an empty batch: one run, whatever the session makes of it
            return [pool.submit(self._run, ready)]
        return [pool.submit(self._run, ready[i:i + step]) for i in range(0, len(ready), step)]

    @staticmethod
    def _gathered(runs: list[Future]) -> np.ndarray:
        outputs = [run.result() for run in runs]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self._workers == 1:
            return self._run(batch_input(batch, nchw=self._nchw))
        with ThreadPoolExecutor(self._workers, thread_name_prefix="onnxruntime") as pool:
            return self._gathered(self._submit(pool, batch))

    def map(self, batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Outputs in input order, one batch running while the caller makes the next (its
        parts spread over the workers as they free up)."""
        with ThreadPoolExecutor(self._workers, thread_name_prefix="onnxruntime") as pool:
            running: list[Future] | None = None
            for batch in batches:
                queued = self._submit(pool, batch)
                if running is not None:
                    yield self._gathered(running)
                running = queued
            if running is not None:
                yield self._gathered(running)
