"""Which inference runtimes this server offers the sidebar, and which one it sets."""

from __future__ import annotations

import os

from core.backbones.runtime import (AUTO, DISPLAY_NAMES, F32, PRECISION_RUNTIME,
                                    RUNTIME_DEFAULTS, RUNTIME_SPECS, installed, resolve_runtime)


# what a reduced precision does to the values, measured (docs/runtimes.md)
REDUCED_NOTES = {"bf16": "slightly different values",
                 "int8": "approximate values, below the accuracy bounds",
                 "bf16mix": "bf16 with its first block in f32, nearer f32's values"}


def runtime_options() -> list[str]:
    """"runtime precision" choices this server can run: auto and every installed runtime in
    f32, then each reduced precision whose runtime is installed."""
    runtimes = [r for r in RUNTIME_SPECS["runtime"].choices if r == AUTO or installed(r)]
    return ([f"{runtime} {F32}" for runtime in runtimes]
            + [f"{AUTO} {precision}" for precision, runtime in PRECISION_RUNTIME.items()
               if installed(runtime)])


def server_runtime() -> tuple[str, str]:
    """The runtime and precision the server sets (TRANSFER_LENS_RUNTIME,
    TRANSFER_LENS_PRECISION), else core's defaults; a value out of bounds is ignored."""
    chosen = {}
    for name in ("runtime", "precision"):
        value = os.environ.get(f"TRANSFER_LENS_{name.upper()}", "").strip()
        chosen[name] = value if value in RUNTIME_SPECS[name].choices else RUNTIME_DEFAULTS[name]
    return chosen["runtime"], chosen["precision"]


def option_label(option: str) -> str:
    """How a "runtime precision" choice reads in the sidebar."""
    runtime, precision = option.split()
    if precision != F32:
        return (f"{precision} on {DISPLAY_NAMES[PRECISION_RUNTIME[precision]]} "
                f"({REDUCED_NOTES[precision]}, cached apart)")
    if runtime == AUTO:
        return f"auto: {DISPLAY_NAMES[resolve_runtime(runtime=runtime).runtime]} f32"
    return f"{DISPLAY_NAMES[runtime]} f32"
