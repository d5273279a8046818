"""Which inference runtime runs a backbone's forward pass, and at which precision.

TensorFlow runs every model (and all training); OpenVINO and ONNX Runtime, when installed,
run the same converted network (`core.backbones.converted`), faster on Intel CPUs. In
float32 their values equal TensorFlow's within 1e-4 relative (tests/test_runtime_equality.py,
on real images at every registered size), so they write under the same transfer-values
cache key; a reduced precision changes the values and gets its own key. Nothing here
imports TensorFlow, OpenVINO or ONNX Runtime.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from core.base.errors import ParameterError
from core.base.params import ParamSpec

TENSORFLOW = "tensorflow"
OPENVINO = "openvino"
ONNXRUNTIME = "onnxruntime"
AUTO = "auto"
F32 = "f32"
# fastest first among runtimes whose f32 values equal TensorFlow's: benchmark section 1 on a
# quiet machine (2026-12-07, Lite0, batch 64) ran the pipeline at 1,058/567/189 images/s on ONNX
# Runtime, 764/456/150 on OpenVINO and 717/456/165 on TensorFlow at 96/128/224 px
PREFERENCE = (ONNXRUNTIME, OPENVINO, TENSORFLOW)
# the runtimes `auto` tries instead, in order, comma-separated (e.g. "tensorflow": a server
# that should not convert models; the test suite, whose reference is TensorFlow)
AUTO_ENV = "TRANSFER_LENS_AUTO_RUNTIME"
REQUIREMENTS = {OPENVINO: ("openvino>=2025.1,<2027",),
                ONNXRUNTIME: ("onnxruntime>=1.20,<2", "tf2onnx>=1.17,<1.18")}
# the one runtime that runs each reduced precision (so its cache key is known up front)
PRECISION_RUNTIME = {"bf16": OPENVINO, "int8": ONNXRUNTIME, "bf16mix": OPENVINO}
INT8 = "int8"
# bf16 with the network's start in float32: its input scaling and first convolutions, where
# bf16's rounding cost the neighbourhoods most (docs/runtimes.md); their count is in its keys
BF16MIX = "bf16mix"
BF16MIX_F32_CONVOLUTIONS = 3
# how int8 is calibrated (core.backbones.onnx_runtime.quantized): in int8 keys, so a change
# of method makes new entries
CALIBRATION = "ort-qdq-u8s8-perchannel-minmax-256-v1"
CALIBRATION_IMAGES = 256  # a seeded sample of the dataset being extracted
REDUCED_PRECISIONS = tuple(PRECISION_RUNTIME)
# how a runtime is named in a line the user reads
DISPLAY_NAMES = {TENSORFLOW: "TensorFlow", OPENVINO: "OpenVINO", ONNXRUNTIME: "ONNX Runtime"}
# the modules a runtime needs: the runtime, and for ONNX Runtime the converter Keras drives
MODULES = {TENSORFLOW: ("tensorflow",), OPENVINO: ("openvino",),
           ONNXRUNTIME: ("onnxruntime", "tf2onnx")}

# the one declaration of each knob: choices (its bounds), default and help
RUNTIME_SPECS: dict[str, ParamSpec] = {
    "runtime": ParamSpec("choice", choices=(AUTO, TENSORFLOW, OPENVINO, ONNXRUNTIME),
                         help="what runs the backbone's forward pass: auto (the first installed "
                              "of PREFERENCE, runtimes whose float32 values equal "
                              "TensorFlow's; for a reduced precision, the runtime that runs it), "
                              "tensorflow, openvino or onnxruntime (falls back to tensorflow "
                              "with a note when it is missing or cannot convert the model)"),
    "precision": ParamSpec("choice", choices=(F32, *REDUCED_PRECISIONS),
                           help="f32: values equal TensorFlow's (the same cache entry); bf16: "
                                "OpenVINO in bfloat16, faster where the CPU has bf16 units; "
                                "int8: ONNX Runtime, quantised after training with the "
                                "dataset's own images as calibration set (measured below the "
                                "accuracy bounds: docs/runtimes.md); bf16mix: OpenVINO in "
                                "bfloat16 with the input scaling and first convolutions in "
                                "float32, closer to f32 than bf16. Reduced precisions give "
                                "different values under their own cache key"),
}
RUNTIME_DEFAULTS: dict[str, str] = {"runtime": AUTO, "precision": F32}


@dataclass(frozen=True)
class RuntimeChoice:
    """A runtime and precision to run with; `note` says why it is not what was asked."""

    runtime: str = TENSORFLOW
    precision: str = F32
    note: str = ""
    # int8: the fingerprint of the dataset whose images calibrated the quantised model
    calibration: str = ""

    def key_fields(self) -> dict[str, Any]:
        """What goes into a transfer-values key: nothing in f32 (every runtime's f32 values
        equal TensorFlow's, so old entries stay valid), runtime and precision otherwise (and
        for int8 the calibration method, its images being the key's dataset's; for bf16mix
        how many convolutions run in float32)."""
        if self.precision == F32:
            return {}
        return {"runtime": self.runtime, "precision": self.precision,
                **({"calibration": CALIBRATION} if self.precision == INT8 else {}),
                **({"f32_convolutions": BF16MIX_F32_CONVOLUTIONS}
                   if self.precision == BF16MIX else {})}

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.precision}"

    def report(self) -> dict[str, str]:
        """For JSON results and manifests."""
        return {"runtime": self.runtime, "precision": self.precision,
                **({"runtime_note": self.note} if self.note else {}),
                **({"calibration": self.calibration} if self.calibration else {})}

    def fallback(self, reason: str) -> "RuntimeChoice":
        """TensorFlow f32 instead, with one line saying why."""
        return RuntimeChoice(TENSORFLOW, F32, note=f"{reason}; running TensorFlow f32 instead")


def installed(runtime: str) -> bool:
    """Whether the runtime's package can be imported here (without importing it)."""
    try:
        return all(importlib.util.find_spec(module) is not None for module in MODULES[runtime])
    except (ImportError, ValueError):
        return False


def preference() -> tuple[str, ...]:
    """The runtimes `auto` tries, in order: $TRANSFER_LENS_AUTO_RUNTIME when set, else
    PREFERENCE."""
    value = os.environ.get(AUTO_ENV, "").strip()
    if not value:
        return PREFERENCE
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    known = (TENSORFLOW, OPENVINO, ONNXRUNTIME)
    if unknown := [name for name in names if name not in known]:
        raise ParameterError(f"{AUTO_ENV}={value!r}: {unknown[0]!r} is not a runtime. Fix: "
                             f"a comma-separated list of {', '.join(known)}, or unset it")
    return names


def requirement(runtime: str) -> str:
    """The pip command that installs a runtime."""
    return "pip install " + " ".join(f"'{r}'" for r in REQUIREMENTS[runtime])


def resolve_runtime(*, runtime: str = AUTO, precision: str = F32) -> RuntimeChoice:
    """The runtime and precision to use: `auto` is the first installed of `preference()` (for
    a reduced precision, the runtime that runs it, `PRECISION_RUNTIME`); a runtime that is
    not installed falls back to TensorFlow f32 with a note. TensorFlow runs f32 only (its
    CPU kernels have no reduced precision worth using)."""
    runtime = RUNTIME_SPECS["runtime"].check("runtime", runtime)
    precision = RUNTIME_SPECS["precision"].check("precision", precision)
    if precision != F32:
        needed = PRECISION_RUNTIME[precision]
        if runtime not in (AUTO, needed):
            raise ParameterError(f"precision {precision} needs --runtime {needed} (or auto); "
                                 f"{DISPLAY_NAMES[runtime]} does not run it here")
        runtime = needed
    elif runtime == AUTO:
        runtime = next((name for name in preference() if installed(name)), TENSORFLOW)
    if not installed(runtime):
        name = DISPLAY_NAMES[runtime]
        what = f"precision {precision} needs {name}, which is" if precision != F32 else f"{name} is"
        return RuntimeChoice().fallback(f"{what} not installed (`{requirement(runtime)}`)")
    return RuntimeChoice(runtime, precision)
