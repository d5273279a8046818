"""The whole `python -m core extract` command from an empty cache, as a user runs it: one
fresh process (imports, dataset load, model build or conversion, extraction, cache writes),
timed from its start to its exit, with the CPU seconds it used (user + system: compare the
app's with cold_start_worker's). The cache folder `--cache-dir` must not exist yet; the
values stay in it so the section can compare runtimes, and the section removes it.

`phases` says where the time went, from the command's own marks (`core.base.timeline`):
imports (interpreter and core, from the process's start), dataset, model (built, or
converted and loaded), extraction (every chunk computed and written), cache_entry (the
values' entry written, checked and opened), and exit (the rest of the wall time: the
interpreter's shut-down and process start and end). `--profile FILE` runs the command under
cProfile and keeps its statistics there (its wall time then includes the profiler's cost).

    python -m benchmarks.workers.extract_command_worker --runtime auto --cache-dir /tmp/x
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--limit", type=int, default=0, help="0: every image")
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--profile", default=None, help="cProfile statistics to this file")
    args = parser.parse_args()
    cache = Path(args.cache_dir)
    if cache.exists():
        raise SystemExit(f"{cache} exists: the command is timed from an empty cache")
    profiler = ("-m", "cProfile", "-o", str(Path(args.profile).resolve())) if args.profile else ()
    command = [sys.executable, *profiler, "-m", "core", "extract", "--dataset", args.dataset,
               "--image-size", str(args.size), "--runtime", args.runtime,
               "--cache-dir", str(cache), "--json",
               *(("--limit", str(args.limit)) if args.limit else ())]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TRANSFER_LENS_AUTO_RUNTIME", None)  # auto as shipped
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command is the only child
    if result.returncode != 0:
        raise SystemExit(f"extract failed ({result.returncode}): {result.stderr[-2000:]}")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    phases = summary.get("phases", {})
    emit({"runtime_asked": args.runtime, "dataset": args.dataset, "size": args.size,
          "n": summary["n"], "wall_seconds": wall, "command_seconds": summary["seconds"],
          "images_per_s": summary["n"] / wall,
          "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
          "runtime": summary.get("runtime"),
          "precision": summary.get("precision"), "runtime_note": summary.get("runtime_note"),
          "phases": {**phases, "exit": round(max(0.0, wall - sum(phases.values())), 3)},
          "values": summary["path"]})


if __name__ == "__main__":
    main()
