"""Where a command's time goes: named marks at the end of each phase, reported as seconds.

`mark("dataset")` records that the phase called "dataset" ended now; `phases()` gives each
mark's phase duration (from the previous mark, the first from the process's start), so
`extract --json` can say how long imports, the dataset, the model and the extraction took
(`benchmarks/workers/extract_command_worker.py` reports them). Marks are per process and
few (one per name: a repeated name keeps its last time).
"""

from __future__ import annotations

import os
import time

_marks: dict[str, float] = {}  # phase name → time.time() at its end, in first-mark order


def mark(name: str) -> None:
    """The phase `name` ended now (a later mark of the same name moves it)."""
    _marks.pop(name, None)
    _marks[name] = time.time()


def reset() -> None:
    """Forget every mark (a command that starts its own timeline)."""
    _marks.clear()


def process_started() -> float | None:
    """When this process started (time.time() scale, 10 ms resolution), or None where
    /proc does not say (not Linux)."""
    try:
        with open("/proc/self/stat") as handle:  # field 22: start, in ticks after boot
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return time.time() - (since_boot - ticks / os.sysconf("SC_CLK_TCK"))


def phases() -> dict[str, float]:
    """Seconds per marked phase, in order: each from the previous mark (the first from the
    process's start, or omitted when that is unknown)."""
    previous = process_started()
    result = {}
    for name, at in sorted(_marks.items(), key=lambda item: item[1]):
        if previous is not None:
            result[name] = round(max(0.0, at - previous), 3)
        previous = at
    return result
