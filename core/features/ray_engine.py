"""Extraction on a Ray cluster: the unfinished chunks of a resumable extraction as Ray Data
blocks, mapped by a pool of actors that each build the backbone once.

The driver (this process) keeps what it has locally: the plan, the cache key, the lock,
the chunk files and the manifest (`core.features.transfer_values`), so the entry is the
one the local engine writes. What crosses the network: one small item per chunk (its row
range, and for folders and URI datasets its files' paths or URIs), the backbone's spec,
and back the chunk's transfer values (N × D floats). Pixels never pass through the driver:
a worker reads its own images — a folder's files from a path every node sees, URIs through
pyarrow.fs (`core.datasets.uri_io`), an array dataset (digits, Fashion-MNIST) by re-opening
it by name (`DatasetRecipe`) and reading its row range.

Resuming is the chunk files': a killed worker's chunk is retried by Ray Data on a restarted
actor; a killed driver leaves the chunks it saved, and the same command skips them.
Ray is optional (`pip install 'ray[data]>=2.60,<3'`); without it `import_ray` says so.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np

from core.backbones.runtime import RuntimeChoice
from core.base.errors import (BackboneUnavailableError, DatasetError, DependencyError,
                              TransferLensError)
from core.datasets.base import ArrayImages, FileImages, ImageDataset
from core.datasets.uri_dataset import UriImages
from core.features.chunk_engine import ChunkProgress, ChunkTask, ExtractionJob

RAY_REQUIREMENT = "ray[data]>=2.60,<3"
# images per chunk when a run starts on Ray: a worker's unit of work and of resuming; small
# enough that 10k images keep 2 workers evenly busy, large enough that per-task overhead
# stays small (a multiple of the batch size, so batches match the local engine's)
RAY_CHUNK = 512
# every actor of the pool (each builds the backbone) starts before the first chunk is handed
# out, so the work spreads over all of them; a cluster that cannot start them in this time
# gets a clear error instead of a run on fewer workers than asked for
ACTOR_START_S = 600


def import_ray():
    """`ray` with Ray Data, or a DependencyError that says how to add it."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Core alone is not enough)
    except ImportError as error:
        raise DependencyError(
            f"The Ray engine needs Ray Data, which is not installed here ({error}). Fix: "
            f"`pip install '{RAY_REQUIREMENT}'` on this machine and on every node of the "
            f"cluster (the same version everywhere), or leave out --engine ray to run here."
        ) from error
    return ray


@dataclass(frozen=True)
class DatasetRecipe:
    """How a worker opens the same array dataset the driver has: by name, then the same
    seeded subset. Workers check the fingerprint, so a node with other files fails loudly."""

    name: str
    limit: Optional[int] = None
    split: str = "all"
    seed: int = 0

    def open(self) -> ImageDataset:
        from core.datasets.registry import load_dataset

        return load_dataset(name=self.name).limited(limit=self.limit, split=self.split,
                                                    seed=self.seed)


class ClusterSession:
    """A connection to Ray: the caller's when `ray.init` already ran, else one opened here
    (a cluster at `address`, or a local one when None) and closed on exit."""

    def __init__(self, *, address: Optional[str]) -> None:
        self.address = address
        self.opened = False

    def __enter__(self):
        ray = import_ray()
        if ray.is_initialized():
            return ray
        logging.getLogger("ray").setLevel(logging.ERROR)
        _check_reachable(self.address)
        try:
            ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
            where = self.address or "a new local Ray instance"
            raise TransferLensError(
                f"Could not connect to the Ray cluster at {where}: {str(error)[:300]}. Fix: "
                f"start it with `ray start --head` on the head node (it prints the address, "
                f"host:6379 by default), pass that address with --address, and check that this "
                f"machine can reach the port; or leave out --engine ray to run here.") from error
        self.opened = True
        return ray

    def __exit__(self, *exc) -> None:
        if self.opened:
            import ray

            ray.shutdown()


def quiet_ray_data() -> None:
    """No Ray Data progress bars or execution notices on stderr: the driver reports progress
    with rate and ETA itself (`core.base.progress`)."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _check_reachable(address: Optional[str]) -> None:
    """Fail in seconds on a host:port nobody listens on (ray.init would retry for minutes)."""
    import socket

    if not address or "://" in address or address == "auto" or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except (OSError, ValueError) as error:
        raise TransferLensError(
            f"Cannot reach the Ray cluster at {address} ({error}). Fix: start it with "
            f"`ray start --head` on the head node (it prints the address, host:6379 by "
            f"default), pass that address with --address, and check that this machine can "
            f"reach the port; or leave out --engine ray to run here.") from error


class RayEngine:
    """Runs the chunks on Ray Data actors: `workers` actors of `cpus_per_worker` CPUs each
    (default: as many as the cluster's CPUs allow, at most one per chunk)."""

    name = "ray"
    default_chunk = RAY_CHUNK

    def __init__(self, *, address: Optional[str] = None, workers: Optional[int] = None,
                 cpus_per_worker: float = 1.0, recipe: Optional[DatasetRecipe] = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if cpus_per_worker <= 0:
            raise ValueError(f"cpus_per_worker must be positive, got {cpus_per_worker}")
        self.address = address
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.recipe = recipe
        # per worker ("node/pid"): images done and seconds spent computing them
        self.stats: dict[str, dict[str, float]] = {}

    def chunks(self, *, job: ExtractionJob, todo: list[ChunkTask],
               progress: ChunkProgress) -> Iterator[tuple[int, np.ndarray]]:
        items = _items(job=job, todo=todo, recipe=self.recipe)  # checks before connecting
        progress.note("connecting to Ray")
        with ClusterSession(address=self.address) as ray:
            from ray.data import ActorPoolStrategy, DataContext

            quiet_ray_data()
            DataContext.get_current().wait_for_min_actors_s = ACTOR_START_S
            workers = self._pool_size(ray, len(todo))
            blocks = ray.data.from_items(items, override_num_blocks=len(items))
            mapped = blocks.map_batches(
                ChunkWorker, batch_size=1, batch_format="numpy", num_cpus=self.cpus_per_worker,
                compute=ActorPoolStrategy(size=workers),
                fn_constructor_kwargs=_worker_settings(job, recipe=self.recipe,
                                                       threads=self.cpus_per_worker))
            progress.note(f"starting {workers} Ray worker{'s' * (workers > 1)}")
            batches = mapped.iter_batches(batch_size=None, batch_format="numpy")
            first = True
            try:
                for batch in worker_errors(batches):
                    for row in range(len(batch["index"])):
                        if batch["error"][row]:
                            raise TransferLensError(
                                f"A Ray worker ({batch['worker'][row]}) failed on chunk "
                                f"{int(batch['index'][row])}: {batch['error'][row]}")
                        values = np.asarray(batch["values"][row])
                        worker = str(batch["worker"][row])
                        record = self.stats.setdefault(worker, {"images": 0, "seconds": 0.0})
                        record["images"] += len(values)
                        record["seconds"] += float(batch["seconds"][row])
                        yield int(batch["index"][row]), values
                        progress.advance(len(values), f"{len(self.stats)} of {workers} workers "
                                                      f"reporting")
                        if first:  # the rate from here on leaves out the workers' start-up
                            name, precision = str(batch["runtime"][row]).split()
                            progress.ran(RuntimeChoice(name, precision,
                                                       str(batch["runtime_note"][row])),
                                         asked=job.runtime)
                            progress.started()
                            first = False
            finally:
                close = getattr(batches, "close", None)
                if close is not None:
                    close()  # shuts the streaming execution down (its actors with it)

    def _pool_size(self, ray, chunks: int) -> int:
        if self.workers is not None:
            return max(1, min(self.workers, chunks))
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        return max(1, min(int(cpus // self.cpus_per_worker), chunks))

    def worker_throughput(self) -> dict[str, float]:
        """Images per second of computing (load, preprocess, forward pass) per worker."""
        return {worker: record["images"] / record["seconds"]
                for worker, record in self.stats.items() if record["seconds"] > 0}


def _items(*, job: ExtractionJob, todo: list[ChunkTask],
           recipe: Optional[DatasetRecipe]) -> list[dict[str, Any]]:
    """One item per chunk: its rows, plus its file paths or URIs for a folder or URI dataset."""
    images = job.dataset.images
    if isinstance(images, (FileImages, UriImages)):
        locations = images.paths if isinstance(images, FileImages) else images.locations
        return [{"index": t.index, "start": t.start, "stop": t.stop,
                 "paths": [str(p) for p in locations[t.start:t.stop]]} for t in todo]
    if isinstance(images, ArrayImages) and recipe is not None:
        return [{"index": t.index, "start": t.start, "stop": t.stop} for t in todo]
    raise DatasetError(
        f"Dataset '{job.dataset.name}' cannot be read by Ray workers: they read a folder's "
        f"files themselves, or re-open a built-in dataset by name, and this one is "
        f"{'held in memory' if isinstance(images, ArrayImages) else type(images).__name__}. "
        f"Fix: pass recipe=DatasetRecipe(name=...) for a built-in dataset, or save the images "
        f"as a folder on a path every node sees.")


def _worker_settings(job: ExtractionJob, *, recipe: Optional[DatasetRecipe],
                     threads: float) -> dict[str, Any]:
    from core.features.preprocessing import METHOD
    from core.features.transfer_values import EXTRACTOR_VERSION

    return {"spec": job.spec, "image_size": job.image_size, "dtype": job.dtype,
            "batch_size": job.batch_size, "crop_fraction": job.dataset.crop_fraction,
            "weights": job.weights,
            "recipe": recipe if isinstance(job.dataset.images, ArrayImages) else None,
            "fingerprint": job.dataset.fingerprint, "threads": max(1, int(threads)),
            "runtime": job.runtime,
            "versions": {"extractor": EXTRACTOR_VERSION, "preprocessing": METHOD}}


def worker_errors(batches) -> Iterator[dict]:
    """Results, with a worker's user error (unreadable file, wrong weights) re-raised as one
    line naming the worker's reason instead of Ray's nested traceback."""
    try:
        yield from batches
    except TransferLensError:
        raise
    except Exception as error:  # Ray wraps worker errors in several exception types
        if type(error).__name__ == "GetTimeoutError":  # the pool did not start in time
            raise TransferLensError(
                f"The Ray cluster did not start every worker within {ACTOR_START_S} s. Fix: "
                f"ask for fewer workers (--workers) or CPUs per worker, or add nodes; "
                f"`ray status` shows what the cluster has.") from error
        cause = _user_cause(error)
        if cause is None:
            raise
        raise TransferLensError(f"A Ray worker failed: {cause}") from error


def _user_cause(error: BaseException) -> TransferLensError | None:
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TransferLensError):
            return current
        stack.extend([getattr(current, "cause", None), current.__cause__, current.__context__])
    return None


class ChunkWorker:
    """A Ray Data actor: builds the backbone once, then turns chunk items into values with
    the local engine's own code (`FeatureExtractor.run_images`, the one preprocessing).

    A user error (unreadable file, other weights, another dataset) comes back as the row's
    `error` text rather than as an exception: Ray's exception wrapping loses our error types
    and buries the message in a traceback, and the driver should say it in one line."""

    def __init__(self, **settings: Any) -> None:
        self.worker = f"{_node()}/{os.getpid()}"
        self.failure = ""
        try:
            self._set_up(**settings)
        except TransferLensError as error:
            self.failure = str(error)

    def _set_up(self, *, spec, image_size: int, dtype: str, batch_size: int,
                crop_fraction: float, weights: str, recipe: Optional[DatasetRecipe],
                fingerprint: str, threads: int, versions: dict[str, Any],
                runtime: RuntimeChoice = RuntimeChoice()) -> None:
        from core.base.tf_env import import_tensorflow
        from core.features.extractor import build_extractor

        _check_same_code(versions)
        tf = import_tensorflow()
        try:  # one actor per CPU it was given: its ops use that many threads, not the node's
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:
            pass
        if spec.weights_id() != weights:
            raise BackboneUnavailableError(
                f"The weights of backbone {spec.name} on Ray node {_node()} differ from the "
                f"driver's ({spec.weights_id()} vs {weights}). Fix: install the same weight "
                f"packages on every node.")
        # converted models go to this node's own cache (the driver's folder may not exist here)
        self.extractor = build_extractor(spec=spec, image_size=image_size, runtime=runtime,
                                         threads=threads)
        self.dtype, self.batch_size, self.crop_fraction = dtype, batch_size, crop_fraction
        self.dataset = None
        if recipe is not None:
            self.dataset = recipe.open()
            if self.dataset.fingerprint != fingerprint:
                raise DatasetError(
                    f"Dataset '{recipe.name}' on Ray node {_node()} is not the driver's (its "
                    f"content fingerprint differs). Fix: install the same dataset files on "
                    f"every node.")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        indices, values, seconds, errors = [], [], [], []
        for row in range(len(batch["index"])):
            started = time.perf_counter()
            indices.append(int(batch["index"][row]))
            try:
                values.append(self._chunk(batch, row))
                errors.append("")
            except TransferLensError as error:
                values.append(np.zeros((0, 0), np.float32))
                errors.append(str(error))
            seconds.append(time.perf_counter() - started)
        ran = getattr(self, "extractor", None)
        ran = ran.runtime if ran is not None else RuntimeChoice()
        return {"index": np.array(indices), "values": column_of(values),
                "worker": np.array([self.worker] * len(indices)), "seconds": np.array(seconds),
                "error": np.array(errors),
                "runtime": np.array([f"{ran.runtime} {ran.precision}"] * len(indices)),
                "runtime_note": np.array([ran.note] * len(indices))}

    def _chunk(self, batch: dict[str, np.ndarray], row: int) -> np.ndarray:
        if self.failure:
            raise TransferLensError(self.failure)
        start, stop = int(batch["start"][row]), int(batch["stop"][row])
        if self.dataset is not None:
            images, rows = self.dataset.images, np.arange(start, stop)
        else:
            paths = [str(p) for p in batch["paths"][row]]  # local paths decode as in FileImages
            images, rows = UriImages(paths), np.arange(len(paths))
        parts = list(self.extractor.run_images(images=images, indices=rows,
                                               batch_size=self.batch_size,
                                               crop_fraction=self.crop_fraction))
        return np.concatenate(parts).astype(self.dtype)


def column_of(arrays: list[np.ndarray]) -> np.ndarray:
    """One Ray Data tensor column from per-row arrays, ragged (an error row's empty array
    beside values) or not."""
    if len({array.shape for array in arrays}) == 1:
        return np.stack(arrays)
    column = np.empty(len(arrays), dtype=object)
    for row, array in enumerate(arrays):  # item by item: np.array() would try to broadcast
        column[row] = array
    return column


def _check_same_code(versions: dict[str, Any]) -> None:
    from core.features.preprocessing import METHOD
    from core.features.transfer_values import EXTRACTOR_VERSION

    here = {"extractor": EXTRACTOR_VERSION, "preprocessing": METHOD}
    if here != versions:
        raise TransferLensError(
            f"Ray node {_node()} runs another version of this project (extraction {here}, the "
            f"driver's {versions}), so its values would differ. Fix: install the same version "
            f"on every node.")


def _node() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # outside Ray (a unit test calling the worker directly)
        import socket

        return socket.gethostname()
