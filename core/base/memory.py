"""Memory checks before heavy work: refuse with the estimate and the limit instead of letting
TensorFlow die of an out-of-memory error halfway through."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from core.base.errors import ResourceLimitError

# share of the available memory one run may plan to use: the estimates are rough and the
# process, the app and the data already hold some
USABLE_FRACTION = 0.8
_OOM_NAMES = ("ResourceExhaustedError", "MemoryError", "OutOfMemoryError")


def available_memory() -> int:
    """Bytes the system can still give (MemAvailable), else its physical memory."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def require_memory(*, needed: int, what: str, lower: str) -> None:
    """ResourceLimitError when `needed` bytes exceed the usable share of available memory;
    `what` names the work, `lower` the parameter(s) to lower."""
    limit = int(available_memory() * USABLE_FRACTION)
    if needed > limit:
        raise ResourceLimitError(
            f"{what} would need about {format_bytes(needed)} of memory, more than the "
            f"{format_bytes(limit)} available here; lower {lower}.")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is an allocation failure (TensorFlow's ResourceExhaustedError, Python's
    MemoryError), recognised without importing TensorFlow."""
    return type(error).__name__ in _OOM_NAMES or "OOM when allocating" in str(error)


@contextmanager
def out_of_memory_as_user_error(*, what: str, lower: str) -> Iterator[None]:
    """Turn an allocation failure inside the block into a ResourceLimitError that names the
    parameter(s) to lower (instead of a raw TensorFlow traceback)."""
    try:
        yield
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        raise ResourceLimitError(f"{what} ran out of memory; lower {lower}.") from error
