"""One Ray-engine measurement in its own process.

`extract`: Fashion-MNIST (seeded subset) through `compute_transfer_values` into an empty
scratch cache, on the local engine or on Ray (a Ray instance started here with the given
CPUs, or a simulated cluster of one-CPU nodes); wall time from the call to the entry,
the steady rate after the first chunk, and each Ray worker's own images/s of computing.
`predict`: an exported end-to-end model over a folder of images on one engine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import emit

OBJECT_STORE = 200 * 2**20  # per node: small, the machine is shared


def start_ray(*, cluster_nodes: int, cpus: int):
    """Ray on this machine: `cluster_nodes` simulated one-CPU nodes, else one node of `cpus`."""
    import ray

    started = time.perf_counter()
    cluster = None
    if cluster_nodes:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True,
                          head_node_args={"num_cpus": 1, "object_store_memory": OBJECT_STORE,
                                          "include_dashboard": False})
        for _ in range(cluster_nodes - 1):
            cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    else:
        ray.init(num_cpus=cpus, object_store_memory=OBJECT_STORE, include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False)
    return cluster, time.perf_counter() - started


def extract(args: argparse.Namespace) -> dict:
    from core.features.ray_engine import DatasetRecipe, RayEngine
    from core.features.transfer_values import compute_transfer_values

    recipe = DatasetRecipe(name=args.dataset, limit=args.n)
    data = recipe.open()
    engine, cluster, ray_start = None, None, 0.0
    if args.engine == "ray":
        cluster, ray_start = start_ray(cluster_nodes=args.cluster_nodes, cpus=args.cpus)
        engine = RayEngine(workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                           recipe=recipe)
    seen = []
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as cache:
        started = time.perf_counter()
        tv = compute_transfer_values(dataset=data, backbone=args.backbone, image_size=args.size,
                                     cache_dir=cache, engine=engine, progress=seen.append,
                                     **({"chunk_size": args.chunk} if args.chunk else {}))
        seconds = time.perf_counter() - started
        if args.save:
            np.save(args.save, np.asarray(tv.values))
    result = {"engine": args.engine, "n": tv.n, "seconds": seconds,
              "images_per_s": tv.n / seconds, "steady_images_per_s": seen[-1].rate,
              "ray_start_seconds": ray_start, "key": tv.key}
    if engine is not None:
        result["worker_images_per_s"] = engine.worker_throughput()
        result["workers_reporting"] = len(engine.stats)
    if args.engine == "ray":
        import ray

        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    return result


def predict(args: argparse.Namespace) -> dict:
    import pandas as pd

    from core.serving.batch_predict import predict_to_parquet

    cluster = None
    if args.engine == "ray":
        cluster, _ = start_ray(cluster_nodes=args.cluster_nodes, cpus=args.cpus)
    started = time.perf_counter()
    predict_to_parquet(model_path=args.model, images=args.images, out=args.out,
                       engine=args.engine, workers=args.workers)
    seconds = time.perf_counter() - started
    frame = pd.read_parquet(args.out)
    if args.engine == "ray":
        import ray

        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    return {"engine": args.engine, "n": len(frame), "seconds": seconds,
            "images_per_s": len(frame) / seconds}


def predict_check(args: argparse.Namespace) -> dict:
    """Train the default head on the dataset's transfer values, export it end to end, write the
    test images as PNG files, predict them on both engines, compare with the head."""
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values
    from core.heads import DEFAULT_HEAD, train_head

    data = load_dataset(name=args.dataset)
    tv = compute_transfer_values(dataset=data, backbone=args.backbone, image_size=args.size)
    trained = train_head(tv=tv, head=DEFAULT_HEAD)
    with tempfile.TemporaryDirectory(prefix="ray-predict-") as folder:
        return _predict_both(args, data=data, trained=trained, scratch=Path(folder))


def _predict_both(args: argparse.Namespace, *, data, trained, scratch: Path) -> dict:
    from PIL import Image

    import pandas as pd

    from core.base.splits import split_indices
    from core.serving.batch_predict import predict_to_parquet
    from core.serving.export import export_end_to_end_model

    model = export_end_to_end_model(head=trained, backbone=args.backbone, image_size=args.size,
                                    path=scratch / "model.keras")
    test = split_indices(data.splits, "test")
    folder = scratch / "test"
    folder.mkdir()
    for i in test:
        Image.fromarray(np.squeeze(data.images.get(int(i)))).save(folder / f"{i:05d}.png")
    runs = {}
    for engine in ("local", "ray"):
        cluster = start_ray(cluster_nodes=0, cpus=args.cpus)[0] if engine == "ray" else None
        out = scratch / f"{engine}.parquet"
        started = time.perf_counter()
        predict_to_parquet(model_path=model, images=str(folder), out=out, engine=engine,
                           workers=args.workers, class_names=data.class_names)
        runs[engine] = {"seconds": time.perf_counter() - started, "frame": pd.read_parquet(out)}
        if engine == "ray":
            import ray

            ray.shutdown()
    local, remote = runs["local"]["frame"], runs["ray"]["frame"]
    rows = np.array([int(Path(p).stem) for p in local["path"]])
    labels = data.labels[rows]
    head_test = trained.predictions[rows]
    return {"n": len(local), "head": trained.head,
            "head_test_accuracy": trained.metrics["test_accuracy"],
            "local_accuracy": float((local["predicted"].to_numpy() == labels).mean()),
            "ray_accuracy": float((remote["predicted"].to_numpy() == labels).mean()),
            "same_paths": local["path"].tolist() == remote["path"].tolist(),
            "identical_predictions": int((local["predicted"] == remote["predicted"]).sum()),
            "agree_with_head": int((local["predicted"].to_numpy() == head_test).sum()),
            "max_probability_difference": float(
                np.abs(local["top1_probability"] - remote["top1_probability"]).max()),
            "local_seconds": runs["local"]["seconds"], "ray_seconds": runs["ray"]["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["extract", "predict", "predict-check"])
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=0, help="0: the engine's default")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of a one-node Ray")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--cluster-nodes", type=int, default=0)
    parser.add_argument("--save", default=None, help="extract: save the values here (.npy)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--images", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    emit({"extract": extract, "predict": predict, "predict-check": predict_check}[args.mode](args))


if __name__ == "__main__":
    main()
