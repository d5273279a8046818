"""`extract`: compute (or load cached) transfer values, here or on a Ray cluster."""

from __future__ import annotations

import argparse
import time
from typing import Any

from core.base.errors import TransferLensError
from core.base.splits import SPLITS
from core.cli.args import (Handler, add_dataset_args, add_runtime_args, features_for_cli,
                           load_for_cli, progress_bar, runtime_args, user_errors)


def cmd_extract(args: argparse.Namespace) -> dict[str, Any]:
    from core.base import timeline

    started = time.perf_counter()
    engine = None
    if args.engine == "ray":
        tv, engine = _extract_on_ray(args)
    else:
        dataset = load_for_cli(args, split=args.split)
        timeline.mark("dataset")
        tv = features_for_cli(args, split=args.split, dataset=dataset)
    timeline.mark("cache_entry")  # the values' entry written, checked and opened
    result = {"n": tv.n, "dim": tv.dim, "cache": tv.cache, "seconds": round(tv.seconds, 4),
              "total_seconds": round(time.perf_counter() - started, 3), "path": str(tv.path),
              "key": tv.key, "backbone": args.backbone,
              "image_size": tv.image_size, "dtype": str(tv.values.dtype),
              "engine": args.engine, "images_computed": tv.images_computed,
              **_runtime_report(tv), "phases": timeline.phases()}
    if engine is not None:
        result["worker_images_per_second"] = {
            worker: round(rate, 1) for worker, rate in engine.worker_throughput().items()}
    if not args.json:
        ran = f", {result['runtime']} {result['precision']}" if "runtime" in result else ""
        print(f"{tv.n} × {tv.dim} transfer values ({tv.cache}{ran}, {tv.seconds:.2f}s) at "
              f"{tv.path}")
    return result


def _runtime_report(tv) -> dict[str, Any]:
    """Which runtime and precision computed the values: this run's, or on a cache hit the
    run's that wrote the entry (nothing for raw pixels or entries from before runtimes)."""
    if tv.runtime is not None:
        return tv.runtime.report()
    return {name: tv.manifest[name] for name in ("runtime", "precision", "runtime_note")
            if name in tv.manifest}


def _extract_on_ray(args: argparse.Namespace):
    from core.features.feature_sets import PIXELS
    from core.features.ray_engine import DatasetRecipe, RayEngine
    from core.features.transfer_values import compute_transfer_values

    if args.backbone == PIXELS:
        raise TransferLensError("--engine ray runs a backbone; raw pixels need none (leave out "
                                "--engine ray).")
    engine = RayEngine(address=args.address, workers=args.workers,
                       cpus_per_worker=args.cpus_per_worker,
                       recipe=DatasetRecipe(name=args.dataset, limit=args.limit,
                                            split=args.split))
    tv = compute_transfer_values(dataset=load_for_cli(args, split=args.split),
                                 backbone=args.backbone, image_size=args.image_size,
                                 dtype=args.dtype, cache_dir=args.cache_dir,
                                 chunk_size=args.chunk_size,
                                 progress=progress_bar(),
                                 engine=engine, **runtime_args(args))
    return tv, engine


def register(sub, handlers: dict[str, Handler]) -> None:
    from core.features.ray_engine import RAY_CHUNK

    p = sub.add_parser("extract", help="compute (or load cached) transfer values")
    add_dataset_args(p)
    p.add_argument("--split", choices=[*SPLITS, "all"], default="all")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    add_runtime_args(p)
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="where the backbone runs: this process (local) or Ray Data actors on "
                        "a Ray cluster (ray; needs `pip install 'ray[data]'`); both write the "
                        "same cache entry")
    p.add_argument("--address", default=None,
                   help="ray: the cluster's address (host:6379, or auto); default: "
                        "$RAY_ADDRESS, else a Ray instance on this machine")
    p.add_argument("--workers", type=int, default=None,
                   help="ray: actors (default: as many as the cluster's CPUs allow at "
                        "--cpus-per-worker each)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0,
                   help="ray: CPUs each actor reserves and its runtime's ops use (default 1; "
                        "e.g. 2 for fewer, bigger workers)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help=f"ray: images per resumable chunk, the unit a worker takes (default "
                        f"{RAY_CHUNK}; a resumed run keeps its first run's)")
    handlers["extract"] = user_errors(cmd_extract)
