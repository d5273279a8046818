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


def test_the_memo_evicts_by_bytes_and_keeps_the_most_recently_used():
    """The process-wide memo holds at most its byte budget (each value's footprint, taken
    when it is put): the least recently used go first, a get counts as a use, a value
    larger than the whole budget is returned but not kept, and replacing a key or
    discarding it gives its bytes back."""
    import numpy as np

    from dashboard.services.memo import Memo

    mb = 2**20
    memo = Memo(max_items=48, max_bytes=10 * mb)
    arrays = {name: np.ones(3 * mb, np.uint8) for name in "abcd"}
    for name in "abc":
        memo.put(name, arrays[name])
    assert (len(memo), memo.nbytes) == (3, 9 * mb)
    assert memo.get("a") is arrays["a"]  # a is now the most recently used: b goes first
    memo.put("d", arrays["d"])
    assert [key for key, _, _ in memo.items()] == ["c", "a", "d"]
    assert memo.get("b") is None and memo.nbytes == 9 * mb <= memo.max_bytes
    huge = np.ones(11 * mb, np.uint8)
    assert memo.put("huge", huge) is huge and memo.get("huge") is None
    assert memo.nbytes == 9 * mb  # the budget's values stay
    memo.put("a", np.ones(1 * mb, np.uint8))  # replaced: its old bytes are given back
    memo.discard("c")
    assert memo.nbytes == 4 * mb and [key for key, _, _ in memo.items()] == ["d", "a"]
    for i in range(40):  # many puts of varied sizes: never over the budget
        memo.put(("x", i), np.ones((i % 7) * mb // 2, np.uint8))
        assert memo.nbytes <= memo.max_bytes
        assert memo.nbytes == sum(size for _, _, size in memo.items())
    assert memo.get(("x", 39)) is not None  # the last put is kept


def test_a_values_footprint_counts_each_buffer_once():
    """What a memoised value holds: arrays by their buffer (views and repeats of one buffer
    once; a memmap of a cache file as mapped bytes), a figure by its dict form, this
    project's dataclasses through their fields."""
    import numpy as np
    import plotly.graph_objects as go

    from dashboard.services.footprint import footprint
    from dashboard.ui.figures import PrerenderedFigure

    values = np.zeros((1000, 256), np.float32)
    assert footprint(values).heap == values.nbytes
    assert footprint([values, values[:10], values.T]).heap - values.nbytes < 200
    text = [f"image {i}" for i in range(5000)]
    figure = PrerenderedFigure(go.Figure(go.Scattergl(x=np.arange(5000.0), text=text)))
    assert footprint(figure).heap > sum(map(len, text)) + 5000 * 8


def test_cached_transfer_values_count_their_mapped_file(tmp_path):
    """Transfer values opened from the cache are a memmap of its file: mapped bytes (its
    pages are resident once read), walked through the TransferValues dataclass."""
    import numpy as np

    from core.features.feature_sets import from_arrays
    from dashboard.services.footprint import footprint

    tv = from_arrays(values=np.ones((300, 64), np.float32), labels=np.arange(300) % 3,
                     cache_dir=tmp_path)
    size = footprint({"tv": tv, "rows": tv.values[:10]})
    arrays = (tv.values, tv.labels, tv.splits, tv.sample_ids)
    assert isinstance(tv.values, np.memmap)
    assert sum(a.nbytes for a in arrays) <= size.mapped < sum(a.nbytes for a in arrays) + 4096
    assert 0 < size.heap < 20_000  # the manifest and the dataclass: no array twice
