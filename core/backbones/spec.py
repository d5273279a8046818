"""What a backbone is (`BackboneSpec`), shared by the backbone families and the registry.

Nothing here imports TensorFlow: a spec names its builder, which is imported when a model
is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional

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

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def build(self, *, input_size: int | None = None):
        reason = self.unavailable_reason()
        if reason:
            raise BackboneUnavailableError(reason)
        if callable(self.builder):
            function = self.builder
        else:
            module_name, function_name = self.builder.split(":")
            function = getattr(importlib.import_module(module_name), function_name)
        return function(input_size=input_size or self.native_size)


@lru_cache(maxsize=None)
def file_digest(path: str) -> str:
    """A weights file's content hash, once per process (it identifies cached values)."""
    return hash_file(path)
