"""The server's C heap: freed memory of a script thread goes back to the system
(dashboard/services/allocator.py; measured at scale by the public soak, benchmark 14)."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import pytest

from dashboard.services import allocator

BLOCK, BLOCKS = 4096, 25_000  # ~100 MB in small blocks, as NumPy and pandas make them


def rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no RssAnon in /proc/self/status")


@pytest.mark.skipif(allocator._glibc() is None, reason="glibc malloc only")
def test_trim_returns_a_script_threads_freed_blocks():
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    held: dict[str, float] = {}

    def script_run():  # a thread of its own, as Streamlit runs each script run
        blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
        for address in blocks:
            ctypes.memset(address, 1, BLOCK)  # touched: resident
        for address in blocks[:-1]:  # the last one pins the heap's top: free cannot shrink it
            libc.free(address)
        held["freed"] = rss_anon_mb()
        assert allocator.trim()
        held["trimmed"] = rss_anon_mb()
        libc.free(blocks[-1])

    thread = threading.Thread(target=script_run)
    thread.start()
    thread.join()
    assert held["freed"] - held["trimmed"] > 0.5 * BLOCK * BLOCKS / 2**20, held


def test_the_public_deploy_the_docs_give_is_the_one_the_benchmarks_start():
    """docs/public-mode.md's command sets every variable of deploy_environment(), which the
    public load and soak workers start their server with."""
    from dashboard.services.public import deploy_environment

    docs = (Path(__file__).resolve().parent.parent / "docs" / "public-mode.md").read_text()
    command = docs.split("```bash", 1)[1].split("```", 1)[0]
    missing = [f"{name}={value}" for name, value in deploy_environment().items()
               if f"{name}={value}" not in command]
    assert not missing, f"docs/public-mode.md's deploy command lacks {missing}"


def test_sessions_showing_one_cached_head_share_its_figures():
    """Every page load of the public demo records the bundle's head in its new session; the
    record's token is part of the shared memo's keys for the figures coloured by it, so a
    per-session token made a copy of the 10,000-point projection figure (and the head's
    data-quality results) per visitor until the memo's 48 entries were full of them. One
    cached head is one token; a head without a cache key still gets its own."""
    from types import SimpleNamespace

    from dashboard.state import results

    cached, uncached = SimpleNamespace(key="3f" * 32), SimpleNamespace(key=None)
    assert results._record(cached).token == results._record(cached).token == cached.key
    assert results._record(uncached).token != results._record(uncached).token
