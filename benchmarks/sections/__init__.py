"""One module per results section; each has TITLE and `run(*, run) -> markdown lines`."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

ORDER = ("extraction", "cache", "projections", "heads", "dashboard", "finetune", "quality",
         "public", "ray", "regression", "finetune_accuracy", "corrections", "slices", "soak",
         "input_size")


def section_module(name: str) -> ModuleType:
    return import_module(f"benchmarks.sections.{name}")
