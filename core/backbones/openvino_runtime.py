"""A Keras model's forward pass on OpenVINO: converted once, cached, compiled per precision.

The converted network (OpenVINO IR: the .xml graph and the .bin weights) is cached by
`core.backbones.conversion_cache` (keyed by what was converted and OpenVINO's version), as
two byte arrays the IR reader takes from memory. The precision is a compile hint, so one
conversion serves f32, bf16 and bf16mix (bf16 with the network's start marked to stay in f32
when the IR is read). OpenVINO is imported only here, TensorFlow only while converting.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from core.backbones.conversion_cache import cached_conversion
from core.backbones.runtime import BF16MIX, BF16MIX_F32_CONVOLUTIONS
from core.backbones.spec import OnnxWriter

# bump when the conversion below changes its output; 2: free height and width for
# backbones that compute the same function at every size (one conversion for all sizes)
CONVERTER_VERSION = 2
# each precision's compile hint; bf16mix is bf16 on a model whose start is marked f32
COMPILE_HINTS = {"f32": "f32", "bf16": "bf16", BF16MIX: "bf16"}
CONVOLUTIONS = ("Convolution", "GroupConvolution")


def openvino_version() -> str:
    import openvino

    return openvino.__version__


def converted_model(*, fields: dict[str, Any], build: Callable[[], Any], image_size: int | None,
                    cache_dir: str | Path | None = None, precision: str = "f32",
                    writer: OnnxWriter | None = None):
    """The OpenVINO model for `fields` from the cache, else converted and cached: from the
    ONNX model the backbone's own `writer` makes when it has one (no TensorFlow), else from
    `build()` (a Keras model taking float32 (B, image_size, image_size, 3); None: any height
    and width); for bf16mix with its start marked f32 (`keep_start_f32`). Raises what the
    conversion raises: callers fall back to TensorFlow."""
    import openvino as ov

    side = -1 if image_size is None else int(image_size)
    input_shape = [-1, side, side, 3]
    how = writer.key_fields() if writer else {"converter_version": CONVERTER_VERSION}
    fields = {**fields, "runtime": "openvino", "openvino": openvino_version(), **how}

    def convert() -> dict[str, bytes]:
        if writer is not None:
            return serialised_ir(ov, _from_onnx(ov, writer.write(image_size=image_size)))
        with warnings.catch_warnings():  # Keras notes the tracer's input structure: harmless
            warnings.simplefilter("ignore", UserWarning)
            model = ov.convert_model(build(), input=[input_shape])
        return serialised_ir(ov, model)

    files = cached_conversion(fields=fields, convert=convert, cache_dir=cache_dir,
                              tensorflow=writer is None)
    weights = ov.Tensor(np.frombuffer(files["bin"], np.uint8).copy())
    model = ov.Core().read_model(model=files["xml"], weights=weights)
    if precision != BF16MIX:
        return model
    return keep_start_f32(xml=files["xml"], weights=weights, model=model,
                          convolutions=BF16MIX_F32_CONVOLUTIONS)


def keep_start_f32(*, xml: bytes, weights, model, convolutions: int):
    """The IR read again with every operation before its (`convolutions` + 1)-th convolution
    kept in f32 under a bf16 hint (`keep_f32`). `model` is the unmarked read, for the
    operations' order."""
    return keep_f32(xml=xml, weights=weights, names=start_operations(model, convolutions))


def start_operations(model, convolutions: int) -> set[str]:
    """The names of the operations before the model's (`convolutions` + 1)-th convolution, in
    the order they run (all of them when it has no more convolutions)."""
    operations = [op for op in model.get_ordered_ops()
                  if op.get_type_name() not in ("Parameter", "Constant", "Result")]
    starts = [i for i, op in enumerate(operations) if op.get_type_name() in CONVOLUTIONS]
    end = starts[convolutions] if len(starts) > convolutions else len(operations)
    return {op.get_friendly_name() for op in operations[:end]}


def keep_f32(*, xml: bytes, weights, names: set[str]):
    """The IR read with the named operations marked "precise" (OpenVINO's IR attribute that
    keeps an operation in its original precision under a bf16 hint; Python has no call that
    sets it), and the first convolution's input path kept f32 too. That path (the input's
    transpose and scaling) is rebuilt by OpenVINO's transformations, which drop the mark; its
    CPU plugin keeps everything after the last convolution in f32, so a one-element second
    output sliced from that input makes the path such a tail. The features stay output 0."""
    import xml.etree.ElementTree as ElementTree

    import openvino as ov
    import openvino.opset13 as opset

    root = ElementTree.fromstring(xml)
    for layer in root.find("layers"):
        if layer.get("name") in names:
            info = layer.find("rt_info")
            info = ElementTree.SubElement(layer, "rt_info") if info is None else info
            ElementTree.SubElement(info, "attribute", name="precise", version="0")
    marked = ov.Core().read_model(model=ElementTree.tostring(root), weights=weights)
    first = next((op for op in marked.get_ordered_ops() if op.get_type_name() in CONVOLUTIONS),
                 None)
    if first is not None:
        source = first.input_value(0)
        rank = source.get_partial_shape().rank.get_length()
        start, stop = (opset.constant(np.full(rank, v, np.int64)) for v in (0, 1))
        marked.add_results([opset.result(opset.slice(source, start, stop, stop))])
    return marked


def _from_onnx(ov, model: bytes):
    """OpenVINO's model of a serialised ONNX model (its converter reads a file)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="transfer-lens-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(model)
        return ov.convert_model(str(path))


def serialised_ir(ov, model) -> dict[str, bytes]:
    """The IR's .xml and .bin (written by OpenVINO to a temp folder)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="transfer-lens-ir-") as folder:
        xml = Path(folder) / "model.xml"
        ov.save_model(model, str(xml), compress_to_fp16=False)  # f32 weights: exact values
        return {"xml": xml.read_bytes(), "bin": xml.with_suffix(".bin").read_bytes()}


class OpenVinoForward:
    """A compiled model: `__call__` for one batch, `map` for a stream of batches kept in
    flight on OpenVINO's streams while the caller prepares the next. A model converted for
    any size is compiled for `image_size`."""

    def __init__(self, *, model, precision: str = "f32", threads: int | None = None,
                 image_size: int | None = None) -> None:
        import openvino as ov

        if image_size is not None and model.input(0).get_partial_shape()[1].is_dynamic:
            # compiled for this size: a conversion for any size, at a static model's speed
            model.reshape([-1, int(image_size), int(image_size), 3])

        config: dict[str, Any] = {"PERFORMANCE_HINT": "THROUGHPUT",
                                  "INFERENCE_PRECISION_HINT": COMPILE_HINTS[precision]}
        if threads:  # a Ray actor: as many threads as CPUs it was given
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.jobs = max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return next(self.map([batch]))

    def layers(self) -> list[tuple[str, str, str, str]]:
        """(type, name, precision, kernel) of each layer as compiled, in the order they run,
        constants left out: which run in f32 under bf16mix, and whether bf16 runs on AMX
        (kernels named *amx*)."""
        rows = []
        for op in self.compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            kind = info["layerType"].astype(str)
            if kind != "Const":
                rows.append((kind, op.get_friendly_name(), info["runtimePrecision"].astype(str),
                             info["primitiveType"].astype(str)))
        return rows

    def map(self, batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Outputs in input order; up to `jobs` batches run at once, on requests taken in
        turn. No Python callback runs on OpenVINO's threads: a callback waiting for the GIL
        while the main thread destroyed a queue deadlocked (seen in a test at 260 px).
        Requests are per call, so threads sharing this model do not share requests."""
        requests = [self.compiled.create_infer_request() for _ in range(self.jobs)]
        busy: list = []
        try:
            for batch in batches:
                if len(busy) == len(requests):
                    yield self._finish(busy.pop(0))
                request = next(r for r in requests if all(r is not b for b in busy))
                request.start_async({0: np.ascontiguousarray(batch, np.float32)})
                busy.append(request)
            while busy:
                yield self._finish(busy.pop(0))
        finally:
            for request in busy:  # closed early: no request outlives the caller's loop
                request.wait()

    @staticmethod
    def _finish(request) -> np.ndarray:
        request.wait()
        return np.array(request.get_output_tensor(0).data)
