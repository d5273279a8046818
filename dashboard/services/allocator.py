"""The server process's C heap (glibc malloc): few arenas, and free pages handed back.

Streamlit runs every script run in a thread of its own, and glibc gives threads their own
malloc arenas (up to 8 per core); NumPy, pandas and the image decoders allocate there. A
freed block stays resident inside its arena until the arena's top is free, so with many
sessions the server's memory (RSS) can stay high after the Python heap has shrunk (the
public soak, section 14 of RESULTS.md, measures the server's RSS; its `--probe` shows the
arenas). `MALLOC_ARENA_MAX=2` in the server's environment (the public deploy of
docs/public-mode.md sets it) caps the arenas from the start; `tune()` sets the same cap
when the environment did not (glibc keeps the arenas made before it), and starts a daemon
thread that hands free pages back to the system (`malloc_trim`) every
`TRIM_EVERY_SECONDS`. Elsewhere than glibc (macOS, musl, jemalloc preloaded) it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading
import time

M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)
ARENAS = 2  # as MALLOC_ARENA_MAX=2: the script threads share two arenas
# malloc_trim walks every arena, holding each one's lock: 60-100 ms for a 600 MB heap of
# scattered free blocks (measured on the loaded 2-core machine); ctypes releases the GIL
TRIM_EVERY_SECONDS = 30.0

_lock = threading.Lock()
_trimmer: threading.Thread | None = None


@functools.lru_cache(maxsize=1)
def _glibc():
    """glibc's malloc functions, or None (another C library or allocator)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        libc.malloc_trim  # noqa: B018 - nor this
    except (OSError, AttributeError):
        return None
    if "jemalloc" in os.environ.get("LD_PRELOAD", ""):
        return None  # another allocator answers malloc: glibc's settings mean nothing
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


def trim() -> bool:
    """Hand free pages of every arena back to the system; True if glibc did."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


def _trim_forever(libc, every: float) -> None:
    while True:
        time.sleep(every)
        libc.malloc_trim(0)


def tune(*, every: float = TRIM_EVERY_SECONDS) -> bool:
    """Once per process: cap the arenas (unless MALLOC_ARENA_MAX says otherwise) and start
    the trimming thread. False where there is no glibc malloc to tune."""
    global _trimmer
    with _lock:
        if _trimmer is not None:
            return True
        libc = _glibc()
        if libc is None:
            return False
        if "MALLOC_ARENA_MAX" not in os.environ:
            libc.mallopt(M_ARENA_MAX, ARENAS)
        _trimmer = threading.Thread(target=_trim_forever, args=(libc, every),
                                    name="malloc-trim", daemon=True)
        _trimmer.start()
        return True
