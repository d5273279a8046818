"""What a backbone is (`BackboneSpec`), shared by the backbone families and the registry.

Nothing here imports TensorFlow: a spec names its builder, which is imported when a model
is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Optional

from core.base.errors import BackboneUnavailableError
from core.base.hashing import hash_file


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    native_size: int
    feature_dim: int
    offline: bool
    description: str
    builder: str | Callable  # "module:function" (imported lazily) or a callable; called as f(input_size=S)
    weights_id: Callable[[], str]
    unavailable_reason: Callable[[], Optional[str]]
    # the network built at one input size computes the same function at every other (no
    # size-dependent padding or reshape): one conversion for a runtime serves every size
    any_size: bool = False
    # the backbone's own ONNX writer, which ONNX Runtime runs and OpenVINO converts instead
    # of the Keras model (no TensorFlow, no tf2onnx); None: they convert the Keras model
    onnx_writer: "OnnxWriter | None" = None

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def build(self, *, input_size: int | None = None):
        reason = self.unavailable_reason()
        if reason:
            raise BackboneUnavailableError(reason)
        return _function(self.builder)(input_size=input_size or self.native_size)


@dataclass(frozen=True)
class OnnxWriter:
    """A backbone's own ONNX writer: `function` ("module:function", imported lazily, or a
    callable) called as f(image_size=S or None for any size, opset=`opset`, **kwargs) → a
    serialised ONNX model of the same network. `version` and `opset` go into the converted
    model's cache key (bump `version` when the written graph changes)."""

    function: str | Callable
    version: int
    kwargs: tuple[tuple[str, Any], ...] = ()
    opset: int = 17  # ONNX Runtime 1.20+ and OpenVINO 2025+ read it

    def key_fields(self) -> dict[str, Any]:
        return {"converter": "onnx_writer", "writer_version": self.version, "opset": self.opset}

    def write(self, *, image_size: int | None) -> bytes:
        return _function(self.function)(image_size=image_size, opset=self.opset,
                                        **dict(self.kwargs))


def _function(target: str | Callable) -> Callable:
    """A builder named "module:function" imported, or the callable itself."""
    if callable(target):
        return target
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


@lru_cache(maxsize=None)
def file_digest(path: str) -> str:
    """A weights file's content hash, once per process (it identifies cached values)."""
    return hash_file(path)
