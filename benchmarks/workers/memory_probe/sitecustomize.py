"""A memory probe for the public server (not part of the app): with this folder on the
server's PYTHONPATH and MEMORY_PROBE=FILE in its environment (the soak worker's `--probe
FILE` sets both), a daemon thread of `streamlit run` appends one JSON line every
MEMORY_PROBE_SECONDS (30): RSS and its anonymous / file-backed parts, glibc malloc's arenas
(mallinfo2: in use, free inside arenas, mmapped blocks), the anonymous RSS right after a
malloc_trim(0), threads, Streamlit sessions (active and kept for reconnection) and their
state's megabytes, the app's memo entries by kind with their megabytes (heap and mapped
files, as the memo's byte budget counts them: dashboard/services/footprint.py) and the
budget's use, the megabytes held by each st.cache_resource function, extraction jobs,
whether TensorFlow (and ONNX Runtime, tf2onnx, UMAP, numba) is loaded, and Python's
garbage collections. MEMORY_PROBE_TRACE=1 also starts tracemalloc and adds the Python
heap and its top 15 growths (file:line) since the third line: Python-heap growth told from
allocator growth (tracing slows the server and adds to its memory: a snapshot of a heap
with TensorFlow loaded takes tens of seconds on a loaded machine). Other processes (the
worker itself) ignore it.
"""

import os
import sys

if os.environ.get("MEMORY_PROBE") and sys.argv[:2] == ["-m", "run"]:
    import ctypes
    import gc
    import json
    import threading
    import time
    import tracemalloc

    _TRACE = os.environ.get("MEMORY_PROBE_TRACE") == "1"
    if _TRACE:
        tracemalloc.start()

    class _MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    def _status() -> dict:
        fields = ("VmRSS", "RssAnon", "RssFile")
        with open("/proc/self/status") as status:
            return {line.split(":")[0]: round(int(line.split()[1]) / 1024)
                    for line in status if line.startswith(fields)}

    def _malloc() -> dict:
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallinfo2.restype = _MallInfo2
            info = libc.mallinfo2()
        except (OSError, AttributeError):
            return {}
        mb = 2 ** 20
        return {"malloc_arenas_mb": round(info.arena / mb), "malloc_in_use_mb":
                round(info.uordblks / mb), "malloc_free_mb": round(info.fordblks / mb),
                "malloc_mmapped_mb": round(info.hblkhd / mb)}

    def _app() -> dict:
        found = {"tensorflow": "tensorflow" in sys.modules,
                 "loaded": [name for name in ("onnxruntime", "tf2onnx", "umap", "numba")
                            if name in sys.modules]}
        try:
            from streamlit.runtime import Runtime

            if Runtime.exists():
                sessions = Runtime.instance()._session_mgr
                kept = sessions.list_sessions()
                found.update(sessions=len(kept),
                             active_sessions=len(sessions.list_active_sessions()),
                             session_state_mb=_session_state_mb(kept))
            memo = sys.modules.get("dashboard.services.memo")
            if memo is not None:
                found.update(_memo(memo.memo()))
            found["resource_caches_mb"] = _resource_caches()
            extraction = sys.modules.get("dashboard.services.extraction")
            if extraction is not None:
                found["extraction_jobs"] = len(extraction._extractions._jobs)
        except Exception as error:  # noqa: BLE001 - a probe never takes the server down
            found["error"] = repr(error)[:200]
        return found

    def _mb(n: float) -> float:
        return round(n / 2**20, 1)

    def _memo(store) -> dict:
        """The memo's entries and megabytes (heap, mapped files) by kind (the key's 2nd part)."""
        from dashboard.services.footprint import footprint

        items, heap, mapped = {}, {}, {}
        for key, value, _ in store.items():
            kind = str(key[1])
            size = footprint(value)
            items[kind] = items.get(kind, 0) + 1
            heap[kind] = heap.get(kind, 0) + size.heap
            mapped[kind] = mapped.get(kind, 0) + size.mapped
        return {"memo_items": items, "memo_heap_mb": {k: _mb(v) for k, v in heap.items()},
                "memo_mapped_mb": {k: _mb(v) for k, v in mapped.items() if v},
                "memo_budget_mb": [_mb(store.nbytes), _mb(store.max_bytes)]}

    def _session_state_mb(kept) -> float:
        """Megabytes of every kept session's state (what it shares with others, such as
        the bundle's head, once)."""
        from dashboard.services.footprint import footprint

        return _mb(footprint([info.session.session_state.filtered_state
                              for info in kept]).total)

    def _resource_caches() -> dict:
        """Megabytes held by each st.cache_resource function's entries (heap + mapped)."""
        from dashboard.services.footprint import footprint
        from streamlit.runtime.caching import cache_resource_api

        sizes: dict = {}
        for caches in list(cache_resource_api._resource_caches._function_caches.values()):
            for cache in list(caches.values()):
                values = [result.value for result in list(cache._mem_cache.values())]
                name = cache.display_name.rsplit(".", 1)[-1]
                sizes[name] = _mb(footprint(values).total)
        return sizes

    def _trimmed() -> dict:
        """RSS right after malloc_trim(0): what glibc held free but resident."""
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            return {}
        return {"anon_after_trim_mb": _status().get("RssAnon")}

    def _probe() -> None:
        every = float(os.environ.get("MEMORY_PROBE_SECONDS", "30"))
        started, lines, base = time.monotonic(), 0, None
        with open(os.environ["MEMORY_PROBE"], "a", encoding="utf-8") as out:
            while True:
                time.sleep(every)
                line = {"t": round(time.monotonic() - started), **_status(), **_malloc(),
                        "threads": threading.active_count(), **_app(), **_trimmed(),
                        "gc_collections": [s["collections"] for s in gc.get_stats()]}
                if _TRACE:
                    line["python_heap_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20)
                    snapshot = tracemalloc.take_snapshot()
                    base = snapshot if lines == 2 else base
                    if base is not None:
                        line["python_growth_mb"] = [
                            [round(d.size_diff / 2**20, 1), str(d.traceback[0])]
                            for d in snapshot.compare_to(base, "lineno")[:15]]
                    del snapshot
                lines += 1
                out.write(json.dumps(line) + "\n")
                out.flush()

    threading.Thread(target=_probe, name="memory-probe", daemon=True).start()
