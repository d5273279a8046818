"""Transfer values: a backbone's pooled penultimate features for every image, cached.

`compute_transfer_values` is resumable (finished chunks survive a crash), atomic (readers
see a complete entry or none) and safe under concurrent writers (an inter-process lock
per key; the loser of the race reads the winner's entry).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.backbones.registry import DEFAULT_BACKBONE, BackboneSpec, get_backbone
from core.backbones.runtime import RUNTIME_DEFAULTS, RuntimeChoice, resolve_runtime
from core.base.atomic import atomic_save_npy, atomic_write_bytes
from core.base.cache import ArrayCache, CacheEntry
from core.datasets.base import ImageDataset
from core.features.preprocessing import Preprocessing
from core.base.errors import CancelledError
from core.base.hashing import hash_key
from core.base.jobs import heavy_job
from core.base.progress import ProgressCallback, ProgressTracker
from core.base.public import check_public_extraction
from core.features.chunk_engine import ChunkEngine, ChunkProgress, ChunkTask, ExtractionJob
from core.features.input_size import default_image_size

KIND = "transfer_values"
# bump when extraction changes its output for the same inputs; 2: EfficientNet-Lite
# extractors fold BatchNorm into the convolutions (same function, last-bit differences);
# 3: one TensorFlow preprocessing for folders too (was PIL), crop fraction a number
EXTRACTOR_VERSION = 3
DEFAULT_BATCH = 64


@dataclass
class TransferValues:
    """A matrix of transfer values with the dataset facts needed to use it."""

    values: np.ndarray  # (N, D), float32 or float16, usually a read-only memmap
    labels: np.ndarray
    splits: np.ndarray
    sample_ids: np.ndarray
    class_names: tuple[str, ...]
    key: str
    path: Path
    cache: str  # "hit" or "miss"
    seconds: float
    manifest: dict[str, Any]
    images_computed: int = 0  # by this call; 0 on a hit, less than n when it resumed
    runtime: RuntimeChoice | None = None  # what computed them; None: this call computed none

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    @property
    def image_size(self) -> int | None:
        """The backbone's input size these values were extracted at (None: not a backbone's,
        e.g. raw pixels)."""
        return self.manifest.get("key_fields", {}).get("image_size")


def cache_key_fields(*, dataset: ImageDataset, spec: BackboneSpec, image_size: int,
                     dtype: str, runtime: RuntimeChoice = RuntimeChoice()) -> dict[str, Any]:
    """Everything that changes the output; hashed into the cache key. The preprocessing's
    fields (image_size, crop_fraction, method) are read back by `preprocessing_of`. The
    runtime enters only at a reduced precision: every runtime's f32 values equal
    TensorFlow's (within 1e-4 relative), so they share one entry."""
    preprocessing = Preprocessing(size=image_size, crop_fraction=dataset.crop_fraction)
    return {
        "dataset": dataset.fingerprint,
        "backbone": spec.name,
        "weights": spec.weights_id(),
        **preprocessing.fields(),
        "dtype": dtype,
        "extractor_version": EXTRACTOR_VERSION,
        **runtime.key_fields(),
    }


def transfer_values_key(*, dataset: ImageDataset, backbone: str = DEFAULT_BACKBONE,
                        image_size: int | None = None, dtype: str = "float32",
                        precision: str = RUNTIME_DEFAULTS["precision"]) -> str:
    """The key `compute_transfer_values` uses (at a reduced precision: its runtime's)."""
    from core.backbones.runtime import PRECISION_RUNTIME, TENSORFLOW

    spec = get_backbone(backbone)
    size = image_size or default_image_size(dataset=dataset, spec=spec)
    choice = RuntimeChoice(PRECISION_RUNTIME.get(precision, TENSORFLOW), precision)
    return hash_key(cache_key_fields(dataset=dataset, spec=spec, image_size=size, dtype=dtype,
                                     runtime=choice))


def compute_transfer_values(*, dataset: ImageDataset, backbone: str = DEFAULT_BACKBONE,
                            image_size: int | None = None, dtype: str = "float32",
                            cache_dir: str | Path | None = None, batch_size: int = DEFAULT_BATCH,
                            chunk_size: int | None = None,
                            progress: Optional[ProgressCallback] = None,
                            engine: Optional[ChunkEngine] = None,
                            runtime: str = RUNTIME_DEFAULTS["runtime"],
                            precision: str = RUNTIME_DEFAULTS["precision"]) -> TransferValues:
    """Transfer values for every sample of `dataset`, from the cache or computed once.

    `image_size=None` means `default_image_size` (the backbone's native size, smaller for
    datasets of small images), so the CLI, the app and scripts agree on it; `tv.image_size`
    says which size was used. `progress` may raise CancelledError to stop: finished chunks
    are kept, and the same call resumes from them (`chunk_size` None: the engine's
    `default_chunk`). `engine` runs the unfinished chunks
    (default: `LocalEngine`, this process; `core.features.ray_engine.RayEngine` spreads them
    over a Ray cluster); the entry, its key and its values are the same whichever ran.
    `runtime`/`precision` choose what runs the forward pass (`core.backbones.runtime`;
    `tv.runtime` says what ran, with a note when it fell back to TensorFlow)."""
    started = time.perf_counter()
    if dtype not in ("float32", "float16"):
        raise ValueError("dtype must be 'float32' or 'float16'")
    spec = get_backbone(backbone)
    size = int(image_size or default_image_size(dataset=dataset, spec=spec))
    cache = ArrayCache(kind=KIND, root=cache_dir)
    choice = _usable_runtime(resolve_runtime(runtime=runtime, precision=precision), spec=spec,
                             image_size=size, dataset=dataset, dtype=dtype, cache=cache,
                             cache_dir=cache_dir)
    fields = cache_key_fields(dataset=dataset, spec=spec, image_size=size, dtype=dtype,
                              runtime=choice)
    key = hash_key(fields)
    computed, ran = 0, None

    def compute():
        nonlocal computed, ran
        check_public_extraction(images=len(dataset), image_size=size)  # a miss: work would start
        with heavy_job(name=f"embedding {len(dataset):,} images", progress=progress):
            values, computed, ran = _extract_resumable(
                dataset=dataset, spec=spec, image_size=size, dtype=dtype, cache=cache, key=key,
                fields=fields, batch_size=batch_size, chunk_size=chunk_size, progress=progress,
                engine=engine, runtime=choice, cache_dir=cache_dir)
        return ({"values": values, "labels": dataset.labels, "splits": dataset.splits,
                 "sample_ids": dataset.sample_ids.astype(str)},
                {**_manifest(dataset, spec, fields, values), **(ran or choice).report()})

    entry, status = cache.load_or_compute(key, compute)
    if status == "miss":
        _remove_work(cache.work_path(key))
    tv = _from_entry(entry, status=status, seconds=time.perf_counter() - started)
    tv.images_computed = computed
    tv.runtime = ran or (choice if computed else None)
    return tv


def _usable_runtime(choice: RuntimeChoice, *, spec: BackboneSpec, image_size: int,
                    dataset: ImageDataset, dtype: str, cache: ArrayCache,
                    cache_dir: str | Path | None) -> RuntimeChoice:
    """`choice`, or TensorFlow f32 when a reduced precision's entry is missing and its
    runtime cannot run here: that must be known before the key, which holds the precision
    (an f32 runtime falls back later, when the engine builds it, under the same key). int8
    is calibrated here, on this dataset's images, once per dataset, backbone and size."""
    if choice.precision == "f32":
        return choice
    from core.features.extractor import FeatureExtractor, calibrated_runtime

    choice = calibrated_runtime(choice, dataset)
    fields = cache_key_fields(dataset=dataset, spec=spec, image_size=image_size, dtype=dtype,
                              runtime=choice)
    if cache.exists(hash_key(fields)):
        return choice
    from core.base.errors import BackboneUnavailableError

    try:  # the engine then reuses this extractor (int8: quantised here, then cached)
        FeatureExtractor.for_backbone(spec=spec, image_size=image_size, runtime=choice,
                                      cache_dir=cache_dir)
    except BackboneUnavailableError as error:
        if not spec.available():
            raise
        return choice.fallback(str(error).split(". Fix:")[0])
    return choice


def has_transfer_values(*, key: str, cache_dir: str | Path | None = None) -> bool:
    """Whether the cache holds these transfer values (no file is read)."""
    return ArrayCache(kind=KIND, root=cache_dir).exists(key)


def kept_images(*, key: str, cache_dir: str | Path | None = None) -> int:
    """Images whose values a stopped extraction of `key` kept in finished chunks (0: none):
    where the same extraction resumes. Chunk files are written atomically, so one that
    exists is finished."""
    work = ArrayCache(kind=KIND, root=cache_dir).work_path(key)
    plan = work_plan(work)
    if plan is None:
        return 0
    return sum(stop - start for index, (start, stop) in enumerate(chunk_bounds(
        plan["n"], plan["chunk_size"])) if _chunk_file(work, index).is_file())


def work_plan(work: Path) -> dict | None:
    """The plan of the extraction whose work folder is `work` (n, chunk_size, dim as ints,
    with its fields and batch size), or None when it has no readable plan."""
    try:
        plan = json.loads((work / "plan.json").read_text())
        return {**plan, **{name: int(plan[name]) for name in ("n", "chunk_size", "dim")}}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each chunk of an extraction of n images, in order."""
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


def load_transfer_values(*, key: str, cache_dir: str | Path | None = None) -> TransferValues | None:
    """Open cached transfer values by key without a dataset or TensorFlow."""
    entry = ArrayCache(kind=KIND, root=cache_dir).load(key)
    return None if entry is None else _from_entry(entry, status="hit", seconds=0.0)


def _from_entry(entry: CacheEntry, *, status: str, seconds: float) -> TransferValues:
    return TransferValues(
        values=entry["values"], labels=np.asarray(entry["labels"]),
        splits=np.asarray(entry["splits"]), sample_ids=np.asarray(entry["sample_ids"]),
        class_names=tuple(entry.manifest["class_names"]), key=entry.manifest["key"],
        path=entry.path / "values.npy", cache=status, seconds=seconds, manifest=entry.manifest)


def _manifest(dataset: ImageDataset, spec: BackboneSpec, fields: dict, values: np.ndarray) -> dict:
    return {
        "key_fields": fields,
        "dataset_name": dataset.name,
        "dataset_source": dataset.source,
        "class_names": list(dataset.class_names),
        "backbone": spec.name,
        "shape": list(values.shape),
        "dtype": str(values.dtype),
        "n": int(values.shape[0]),
        "dim": int(values.shape[1]),
        "skipped_files": [{"path": s.path, "reason": s.reason} for s in dataset.skipped],
    }


# --- the resumable extraction itself ---

def _extract_resumable(*, dataset: ImageDataset, spec: BackboneSpec, image_size: int, dtype: str,
                       cache: ArrayCache, key: str, fields: dict, batch_size: int,
                       chunk_size: int | None, progress: Optional[ProgressCallback],
                       engine: Optional[ChunkEngine] = None,
                       runtime: RuntimeChoice = RuntimeChoice(),
                       cache_dir: str | Path | None = None
                       ) -> tuple[np.ndarray, int, RuntimeChoice | None]:
    """The values, how many images this call computed (the rest came from chunks a killed
    run left) and the runtime that computed them (None: none). Any engine fills the same
    chunk files, so either resumes the other."""

    from core.base import timeline
    from core.features.local_engine import LocalEngine

    engine = engine or LocalEngine()
    chunk_size = chunk_size or engine.default_chunk
    work = cache.work_path(key)
    work.mkdir(parents=True, exist_ok=True)
    plan_file = work / "plan.json"
    plan = {"fields": fields, "n": len(dataset), "chunk_size": chunk_size,
            "batch_size": batch_size, "dim": spec.feature_dim}
    if plan_file.exists():
        try:
            previous = json.loads(plan_file.read_text())
        except ValueError:
            previous = None
        if previous and previous.get("fields") == fields and previous.get("n") == len(dataset):
            plan = previous  # keep the old chunking so finished chunks line up
        else:
            _remove_work(work)
            work.mkdir(parents=True)
    atomic_write_bytes(plan_file, json.dumps(plan).encode())
    chunk_size, batch_size = plan["chunk_size"], plan["batch_size"]

    n = len(dataset)
    bounds = chunk_bounds(n, chunk_size)
    chunks: list[np.ndarray | None] = [read_chunk(work, i, stop - start, plan["dim"])
                                       for i, (start, stop) in enumerate(bounds)]
    done_before = sum(stop - start for (start, stop), c in zip(bounds, chunks) if c is not None)
    stage = (f"extract {spec.name}@{image_size}px, {runtime.label}"
             + ("" if engine.name == "local" else f", on {engine.name}"))
    tracker = ProgressTracker(stage=stage, total=n, callback=progress, done_before=done_before)
    tracker.update(done_before, "resuming" if done_before else "")
    todo = [ChunkTask(i, start, stop) for i, (start, stop) in enumerate(bounds)
            if chunks[i] is None]
    if todo:
        job = ExtractionJob(dataset=dataset, spec=spec, image_size=image_size, dtype=dtype,
                            batch_size=batch_size, weights=fields["weights"], runtime=runtime,
                            cache_dir=None if cache_dir is None else str(cache_dir))
        counter = ChunkProgress(tracker, done=done_before)
        finished = iter(engine.chunks(job=job, todo=todo, progress=counter))
        try:
            for index, chunk in finished:
                start, stop = bounds[index]
                if chunk.shape != (stop - start, plan["dim"]):
                    raise RuntimeError(f"engine {engine.name} returned chunk {index} with shape "
                                       f"{chunk.shape}, expected {(stop - start, plan['dim'])}")
                chunk = chunk.astype(dtype, copy=False)
                atomic_save_npy(work / f"chunk_{index:06d}.npy", chunk)
                chunks[index] = chunk
        except CancelledError as stop:
            kept = sum(chunk is not None for chunk in chunks)
            raise CancelledError(f"Extraction stopped at {counter.done}/{n} images; the "
                                 f"{kept} finished chunks are kept for next time.") from stop
        finally:
            close = getattr(finished, "close", None)
            if close is not None:
                close()  # stop the engine's work (workers, threads) whatever ended the loop
    values = np.concatenate(chunks) if chunks else np.zeros((0, plan["dim"]), dtype=dtype)
    timeline.mark("extraction")
    return values, n - done_before, (counter.runtime if todo else None)


def _chunk_file(work: Path, index: int) -> Path:
    return work / f"chunk_{index:06d}.npy"


def read_chunk(work: Path, index: int, rows: int, dim: int) -> np.ndarray | None:
    """Chunk `index` of the work folder when it is finished and whole (rows × dim, finite),
    else None."""
    file = _chunk_file(work, index)
    if not file.exists():
        return None
    try:
        chunk = np.load(file, allow_pickle=False)
    except Exception:  # a chunk from a crashed writer is just redone
        return None
    return chunk if chunk.shape == (rows, dim) and np.isfinite(chunk).all() else None


def _remove_work(work: Path) -> None:
    import shutil

    shutil.rmtree(work, ignore_errors=True)
