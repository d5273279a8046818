"""The whole `python -m core extract` command from an empty cache, as a user runs it: one
fresh process (imports, dataset load, model build or conversion, extraction, cache writes),
timed from its start to its exit, with the CPU seconds it used (user + system: compare the
app's with cold_start_worker's). The cache folder `--cache-dir` must not exist yet; the
values stay in it so the section can compare runtimes, and the section removes it.

`--commit SHA` runs that commit's command instead (issue 31's "today" is ead765b): the
worker checks the commit out into a detached git worktree in a temporary folder, compiles
its modules (today's are compiled already, so neither run pays for it), runs its own
`python -m core extract` there with this virtualenv, and removes the worktree. An old
commit has no `--runtime` (TensorFlow only) and writes its own cache format; its JSON's
`path` is its values file (an .npy) all the same.

`phases` says where the time went, from the command's own marks (`core.base.timeline`):
imports (interpreter and core, from the process's start), dataset, model (built, or
converted and loaded), extraction (every chunk computed and written), cache_entry (the
values' entry written, checked and opened), and exit (the rest of the wall time: the
interpreter's shut-down and process start and end); empty for a commit without marks.
`--profile FILE` runs the command under cProfile and keeps its statistics there (its wall
time then includes the profiler's cost).

    python -m benchmarks.workers.extract_command_worker --runtime auto --cache-dir /tmp/x
    python -m benchmarks.workers.extract_command_worker --commit ead765b --cache-dir /tmp/y
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from benchmarks.common import ROOT, emit

PREFIX = "extract-baseline-"  # temporary folders of checkouts: PREFIX<pid>-<random>


@contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """`commit` as a detached git worktree of this repository in a temporary folder, its
    modules compiled; removed (and unregistered) afterwards, whatever happens (and, if a
    worker was killed before, its worktree the next time)."""
    _remove_stale_checkouts()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    source = folder / "src"
    try:
        _git("worktree", "add", "--detach", "--quiet", str(source), commit)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(source / "core")],
                       check=True, capture_output=True)
        yield source
    finally:
        _git("worktree", "remove", "--force", str(source), check=False)
        shutil.rmtree(folder, ignore_errors=True)
        _git("worktree", "prune", check=False)


def _remove_stale_checkouts() -> None:
    """The worktrees of workers that no longer run (killed by a timeout: no `finally`)."""
    listed = _git("worktree", "list", "--porcelain")
    for line in listed.splitlines():
        path = Path(line.removeprefix("worktree ")) if line.startswith("worktree ") else None
        if path is None or not path.parent.name.startswith(PREFIX):
            continue
        pid = path.parent.name.removeprefix(PREFIX).split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _git("worktree", "remove", "--force", str(path), check=False)
            shutil.rmtree(path.parent, ignore_errors=True)


def _git(*args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def time_command(*, source: Path, dataset: str, size: int, limit: int, runtime: str | None,
                 cache: Path, profile: str | None, precision: str | None = None) -> dict:
    """Run `python -m core extract` from `source` into the empty `cache`, timed start to exit."""
    profiler = ("-m", "cProfile", "-o", str(Path(profile).resolve())) if profile else ()
    command = [sys.executable, *profiler, "-m", "core", "extract", "--dataset", dataset,
               "--image-size", str(size), "--cache-dir", str(cache), "--json",
               *(("--runtime", runtime) if runtime else ()),
               *(("--precision", precision) if precision else ()),
               *(("--limit", str(limit)) if limit else ())]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TRANSFER_LENS_AUTO_RUNTIME", None)  # auto as shipped
    env.pop("PYTHONPATH", None)  # `core` is the one in `source`, nothing else
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # git's and compileall's
    started = time.perf_counter()
    result = subprocess.run(command, cwd=source, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"extract failed ({result.returncode}): {result.stderr[-2000:]}")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    phases = summary.get("phases", {})
    if phases:
        phases = {**phases, "exit": round(max(0.0, wall - sum(phases.values())), 3)}
    return {"dataset": dataset, "size": size, "n": summary["n"], "wall_seconds": wall,
            "command_seconds": summary["seconds"], "images_per_s": summary["n"] / wall,
            "cpu_seconds": round(cpu, 2),
            "runtime": summary.get("runtime"), "precision": summary.get("precision"),
            "runtime_note": summary.get("runtime_note"), "phases": phases,
            "values": summary["path"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--limit", type=int, default=0, help="0: every image")
    parser.add_argument("--runtime", default=None,
                        help="today's --runtime (default auto); not with --commit")
    parser.add_argument("--precision", default=None,
                        help="today's --precision (default f32); not with --commit")
    parser.add_argument("--commit", default=None,
                        help="run this commit's command (from a temporary git worktree)")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--profile", default=None, help="cProfile statistics to this file")
    args = parser.parse_args()
    if args.commit and (args.runtime or args.precision):
        parser.error("--runtime/--precision are today's options; --commit runs that "
                     "commit's default")
    cache = Path(args.cache_dir).resolve()
    if cache.exists():
        raise SystemExit(f"{cache} exists: the command is timed from an empty cache")
    options = dict(dataset=args.dataset, size=args.size, limit=args.limit, cache=cache,
                   profile=args.profile)
    if args.commit:
        with checkout(args.commit) as source:
            result = time_command(source=source, runtime=None, **options)
        emit({"runtime_asked": None, "commit": args.commit, **result})
    else:
        runtime = args.runtime or "auto"
        emit({"runtime_asked": runtime, "commit": None,
              **time_command(source=ROOT, runtime=runtime, precision=args.precision,
                             **options)})


if __name__ == "__main__":
    main()
