"""Which inference runtime runs a backbone's forward pass, and at which precision.

TensorFlow runs every model (and all training); OpenVINO, when installed, runs the same
converted network faster on Intel CPUs. In float32 OpenVINO's values equal TensorFlow's
within 1e-4 relative (tests/test_runtime_equality.py, on real images at every registered
size), so it writes under the same transfer-values cache key; a reduced precision (bf16)
changes the values and gets its own key. Nothing here imports TensorFlow or OpenVINO.
ONNX Runtime is not offered: see README "Backbones" (its converter tf2onnx was not adopted).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from core.base.errors import ParameterError
from core.base.params import ParamSpec

TENSORFLOW = "tensorflow"
OPENVINO = "openvino"
AUTO = "auto"
F32 = "f32"
REDUCED_PRECISIONS = ("bf16",)
# fastest first among runtimes whose f32 values equal TensorFlow's (issue 31's prototype
# and benchmark section 1: OpenVINO f32 1.1-1.3x TensorFlow's bare forward pass)
PREFERENCE = (TENSORFLOW, OPENVINO)  # OpenVINO first once measured faster here (docs/runtimes.md)
OPENVINO_REQUIREMENT = "openvino>=2025.1,<2027"

# the one declaration of each knob: choices (its bounds), default and help
RUNTIME_SPECS: dict[str, ParamSpec] = {
    "runtime": ParamSpec("choice", choices=(AUTO, TENSORFLOW, OPENVINO),
                         help="what runs the backbone's forward pass: auto (the first installed "
                              "of PREFERENCE, runtimes whose float32 values equal "
                              "TensorFlow's; OpenVINO for reduced precision), "
                              "tensorflow, or openvino (falls back to tensorflow with a note "
                              "when it is missing or cannot convert the model)"),
    "precision": ParamSpec("choice", choices=(F32, *REDUCED_PRECISIONS),
                           help="f32: values equal TensorFlow's (the same cache entry); bf16: "
                                "OpenVINO in bfloat16, faster where the CPU has bf16 units, "
                                "slightly different values under their own cache key"),
}
RUNTIME_DEFAULTS: dict[str, str] = {"runtime": AUTO, "precision": F32}


@dataclass(frozen=True)
class RuntimeChoice:
    """A runtime and precision to run with; `note` says why it is not what was asked."""

    runtime: str = TENSORFLOW
    precision: str = F32
    note: str = ""

    def key_fields(self) -> dict[str, Any]:
        """What goes into a transfer-values key: nothing in f32 (every runtime's f32 values
        equal TensorFlow's, so old entries stay valid), runtime and precision otherwise."""
        if self.precision == F32:
            return {}
        return {"runtime": self.runtime, "precision": self.precision}

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.precision}"

    def report(self) -> dict[str, str]:
        """For JSON results and manifests."""
        return {"runtime": self.runtime, "precision": self.precision,
                **({"runtime_note": self.note} if self.note else {})}

    def fallback(self, reason: str) -> "RuntimeChoice":
        """TensorFlow f32 instead, with one line saying why."""
        return RuntimeChoice(TENSORFLOW, F32, note=f"{reason}; running TensorFlow f32 instead")


def installed(runtime: str) -> bool:
    """Whether the runtime's package can be imported here (without importing it)."""
    module = {TENSORFLOW: "tensorflow", OPENVINO: "openvino"}[runtime]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def resolve_runtime(*, runtime: str = AUTO, precision: str = F32) -> RuntimeChoice:
    """The runtime and precision to use: `auto` is the first installed of `PREFERENCE` (for
    reduced precision, OpenVINO); a runtime that is not installed falls back to TensorFlow
    f32 with a note. Reduced precision needs OpenVINO (TensorFlow's CPU kernels have none
    worth using)."""
    runtime = RUNTIME_SPECS["runtime"].check("runtime", runtime)
    precision = RUNTIME_SPECS["precision"].check("precision", precision)
    if runtime == TENSORFLOW and precision != F32:
        raise ParameterError(f"precision {precision} needs --runtime openvino (or auto); "
                             f"TensorFlow runs f32 only")
    if runtime == AUTO and precision != F32:  # only OpenVINO runs reduced precision
        if installed(OPENVINO):
            return RuntimeChoice(OPENVINO, precision)
        return RuntimeChoice().fallback(
            f"precision {precision} needs OpenVINO, which is not installed "
            f"(`pip install '{OPENVINO_REQUIREMENT}'`)")
    if runtime == AUTO:
        return RuntimeChoice(next(name for name in PREFERENCE if installed(name)), precision)
    if runtime == OPENVINO and not installed(OPENVINO):
        return RuntimeChoice().fallback(
            f"OpenVINO is not installed (`pip install '{OPENVINO_REQUIREMENT}'`)")
    return RuntimeChoice(runtime, precision)

