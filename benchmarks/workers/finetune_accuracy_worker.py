"""The whole fine-tuning command a user runs, from an empty cache, timed as they would see it.

Runs `python -m core train --head finetune --json ...` in a child process with a fresh cache
folder (so the frozen transfer values, the fine-tuning and the fine-tuned values are all
computed), and reports its JSON with the run's per-epoch history, the wall-clock time of the
whole command and the child's peak memory. With `--cache DIR` (an empty or new folder) the
cache is kept there, so later workers can load the finished run (its `run_dir`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from benchmarks.common import ROOT, emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path,
                        help="an empty or new folder to keep the cache in (default: a temporary "
                             "one, deleted)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more arguments of `core train` (e.g. --param epochs=1)")
    args = parser.parse_args()

    command = [sys.executable, "-m", "core", "train", "--dataset", args.dataset, "--backbone",
               args.backbone, "--head", "finetune", "--json", "--seed", str(args.seed),
               *args.extra]
    with _empty_cache(args.cache) as cache:
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "TRANSFER_LENS_CACHE": cache})
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout)
        run = json.loads((Path(result["run_dir"]) / "result.json").read_text())
    child_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    emit({"command": " ".join(["python", *command[1:]]), "wall_seconds": wall,
          "peak_rss_mb": child_peak_mb, "history": run["history"], "config": run["config"],
          **{name: result.get(name) for name in (
              "test_accuracy", "val_accuracy", "train_accuracy", "test_log_loss",
              "images_per_second", "fine_tune_seconds", "total_seconds", "weights", "n_train",
              "n_val", "n_test")}, "run_dir": result["run_dir"] if args.cache else None})


@contextmanager
def _empty_cache(folder: Path | None) -> Iterator[str]:
    """`folder` (which must be empty: the measurement starts from nothing), else a temporary
    folder deleted afterwards."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="finetune-accuracy-") as cache:
            yield cache
        return
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise SystemExit(f"--cache {folder} is not empty; the command must start from an "
                         "empty cache")
    yield str(folder)


if __name__ == "__main__":
    main()
