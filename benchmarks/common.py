"""Shared helpers: machine description, timing, subprocess workers, growth exponents."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "umap-learn",
            "openTSNE", "streamlit", "plotly", "pandas"]


def machine_description() -> dict[str, Any]:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cores": os.cpu_count(),
            "memory_gb": round(mem_gb, 1), "cpu": cpu, "python": platform.python_version(),
            "load_average": os.getloadavg(), "packages": versions}


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    record: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield record
    finally:
        record["seconds"] = time.perf_counter() - start


def run_worker(module: str, *args: str, timeout: float = 3600, env: dict | None = None) -> dict:
    """Run `python -m module args` in a fresh process; its last stdout line is JSON.

    A fresh process gives honest first-call costs (imports, numba compilation) and its own
    peak memory (ru_maxrss).
    """
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def growth_exponent(ns: list[int], seconds: list[float]) -> float:
    """The b in seconds ≈ a·N^b, fitted in log-log space."""
    slope, _ = np.polyfit(np.log(ns), np.log(seconds), 1)
    return float(slope)


def input_parser():
    """An argument parser with the inputs every data-quality worker takes: which values
    (dataset, backbone, input size; 0 = the default) on how many images (0 = all)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0)
    return parser


def forward_speeds(forwards: dict, inputs: np.ndarray, rounds: int, batch: int = 64,
                   release: bool = False) -> dict[str, list[float]]:
    """Images/s of each forward pass (`map` over batches, as extraction runs it) over
    `inputs` in batches of `batch`, in alternating rounds (a noisy neighbour slows all),
    after one warm-up batch each. `release`: each forward's `release_memory()` after its
    turn and a warm-up batch before it (one session's memory at a time)."""
    batches = [inputs[i:i + batch] for i in range(0, len(inputs), batch)]
    for forward in forwards.values():
        forward(batches[0])
        if release:
            forward.release_memory()
    speeds: dict[str, list[float]] = {name: [] for name in forwards}
    for _ in range(rounds):
        for name, forward in forwards.items():
            if release:
                forward(batches[0])
            start = time.perf_counter()
            for _output in forward.map(batches):
                pass
            speeds[name].append(len(inputs) / (time.perf_counter() - start))
            if release:
                forward.release_memory()
    return speeds


def emit(result: dict) -> None:
    print(json.dumps(result, default=float))
