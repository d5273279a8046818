"""Batch prediction of unlabelled images with an exported end-to-end model, here or on Ray.

The model is a `.keras` file from `train --export` (a head) or a fine-tuning run: uint8
images of any size in, class probabilities out (or one value, a regression model). Images
come from a folder (searched recursively), one image file, a `.txt` list of paths or URIs
(one a line), or a URI that `pyarrow.fs` opens (`s3://`, `gs://`, `file://`). Both engines
cut the list into the same batches and run the same `BatchPredictor`, so they agree row for
row; on Ray each actor loads the model once and reads its batch's images itself (paths go
out, predictions come back, pixels never pass through the driver).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from core.backbones.converted import could_not_run
from core.backbones.runtime import RUNTIME_DEFAULTS, TENSORFLOW, RuntimeChoice, resolve_runtime
from core.base.errors import DatasetError, TransferLensError
from core.base.progress import ProgressCallback, ProgressTracker
from core.datasets.uri_io import is_uri, list_files, read_image  # noqa: F401  (read_image: workers)

DEFAULT_BATCH = 64
DEFAULT_TOP_K = 5


def list_images(location: str) -> list[str]:
    """Every image file under `location`, sorted: a folder (recursive), one image, a `.txt`
    list, or a URI of either."""
    from core.datasets.image_io import IMAGE_EXTENSIONS

    def is_image(name: str) -> bool:
        return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not Path(name).name.startswith(".")

    if not is_uri(location) and location.endswith(".txt") and Path(location).is_file():
        lines = Path(location).read_text().splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if is_uri(location):
        files = _uri_listing(location)
    else:
        root = Path(location).expanduser()
        if root.is_file():
            files = [str(root.resolve())]
        elif root.is_dir():
            files = sorted(str(p.resolve()) for p in root.rglob("*") if p.is_file())
        else:
            raise DatasetError(f"No folder or image at {location}. Fix: give a folder of images, "
                               f"an image file, a .txt list of paths, or a URI (s3://, gs://).")
    images = [f for f in files if is_image(f)]
    if not images:
        raise DatasetError(f"No image files at {location} (looked for "
                           f"{', '.join(sorted(IMAGE_EXTENSIONS))}).")
    return images


def _uri_listing(uri: str) -> list[str]:
    return [stat.uri for stat in list_files(uri)]


def load_end_to_end_model(path: str | Path):
    """An exported `.keras` model, loaded with safe_mode=True (our preprocessing layer is
    registered by importing `core.backbones.layers`)."""
    import core.backbones.layers  # noqa: F401  (registers PreprocessImages)
    from core.base.tf_env import import_tensorflow

    import_tensorflow()
    import keras

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"No model at {path}. Fix: export one with `python -m core train "
                           f"... --export MODEL.keras` (a head or --head finetune).")
    return keras.saving.load_model(path, compile=False, safe_mode=True)


class BatchPredictor:
    """The model, loaded once; `predict` turns a batch of locations into output rows.

    On another runtime the model's preprocessing layer runs in TensorFlow (the one
    preprocessing) and the rest, converted once per model file, on it; `runtime` says what runs
    (TensorFlow, with a note, when the model cannot be split or converted)."""

    def __init__(self, *, model_path: str | Path, top_k: int = DEFAULT_TOP_K,
                 runtime: RuntimeChoice = RuntimeChoice(), threads: int | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.model = load_end_to_end_model(model_path)
        self.top_k = top_k
        self.runtime = runtime
        self._run = lambda batch: np.asarray(self.model(batch, training=False), np.float32)
        if runtime.runtime != TENSORFLOW:
            try:
                self._run = _converted_run(self.model, model_path=Path(model_path),
                                           runtime=runtime, threads=threads, cache_dir=cache_dir)
            except Exception as error:  # noqa: BLE001 — any converter failure: fall back
                self.runtime = runtime.fallback(
                    could_not_run(runtime.runtime, Path(model_path).name, error))

    def outputs(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Model outputs (B, C) in order; images of one shape run as one batch."""
        shapes: dict[tuple, list[int]] = {}
        for position, image in enumerate(images):
            shapes.setdefault(image.shape, []).append(position)
        result: Optional[np.ndarray] = None
        for positions in shapes.values():
            out = self._run(np.stack([images[p] for p in positions]))
            if result is None:
                result = np.empty((len(images), out.shape[1]), dtype=np.float32)
            result[positions] = out
        return result if result is not None else np.zeros((0, 1), np.float32)

    def predict(self, locations: Sequence[str]) -> np.ndarray:
        return self.outputs([read_image(location) for location in locations])


def _converted_run(model, *, model_path: Path, runtime: RuntimeChoice, threads: int | None,
                   cache_dir: str | Path | None):
    """uint8 batch → outputs: the model's PreprocessImages layer in TensorFlow, the rest on
    `runtime` (converted once per model file's content)."""
    import keras

    from core.backbones.converted import converted_forward
    from core.backbones.layers import PreprocessImages
    from core.base.hashing import hash_file

    front = [layer for layer in model.layers if isinstance(layer, PreprocessImages)]
    if len(front) != 1:
        raise ValueError(f"expected one preprocessing layer, found {len(front)}")
    preprocess = front[0]
    forward = converted_forward(
        runtime=runtime.runtime,
        fields={"model_file": hash_file(model_path), "part": "after-preprocessing"},
        build=lambda: keras.Model(preprocess.output, model.output), image_size=preprocess.size,
        precision=runtime.precision, threads=threads, cache_dir=cache_dir)
    return lambda batch: forward(np.asarray(preprocess(batch)))


def batches_of(locations: Sequence[str], batch_size: int) -> list[tuple[int, list[str]]]:
    return [(start, list(locations[start:start + batch_size]))
            for start in range(0, len(locations), batch_size)]


def prediction_table(*, locations: Sequence[str], outputs: np.ndarray, top_k: int,
                     class_names: Optional[Sequence[str]] = None):
    """path, then predicted, predicted_class and top-k class/probability columns; or path and
    value for a one-output (regression) model."""
    import pandas as pd

    frame = pd.DataFrame({"path": list(locations)})
    if outputs.shape[1] == 1:
        frame["value"] = outputs[:, 0]
        return frame
    names = np.asarray(list(class_names) if class_names is not None
                       else [str(c) for c in range(outputs.shape[1])], dtype=object)
    if len(names) != outputs.shape[1]:
        raise DatasetError(f"{len(names)} class names for a model with {outputs.shape[1]} "
                           f"outputs. Fix: give one name per output, in the training order.")
    order = np.argsort(-outputs, axis=1, kind="stable")[:, :top_k]
    frame["predicted"] = order[:, 0]
    frame["predicted_class"] = names[order[:, 0]]
    for rank in range(order.shape[1]):
        frame[f"top{rank + 1}_class"] = names[order[:, rank]]
        frame[f"top{rank + 1}_probability"] = np.take_along_axis(outputs, order[:, rank:rank + 1],
                                                                  axis=1)[:, 0]
    return frame


def predict_to_parquet(*, model_path: str | Path, images: str, out: str | Path,
                       engine: str = "local", address: Optional[str] = None,
                       workers: Optional[int] = None, top_k: int = DEFAULT_TOP_K,
                       batch_size: int = DEFAULT_BATCH,
                       class_names: Optional[Sequence[str]] = None,
                       progress: Optional[ProgressCallback] = None,
                       runtime: str = RUNTIME_DEFAULTS["runtime"],
                       precision: str = RUNTIME_DEFAULTS["precision"],
                       cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Predict every image at `images` and write one row each to `out` (Parquet, atomic).
    `runtime`/`precision` choose what runs the model (`core.backbones.runtime`); the result
    says what ran."""
    from core.base.atomic import atomic_write_bytes

    if engine not in ("local", "ray"):
        raise ValueError("engine must be 'local' or 'ray'")
    started = time.perf_counter()
    choice = resolve_runtime(runtime=runtime, precision=precision)
    ran: dict[str, RuntimeChoice] = {}
    locations = list_images(images)
    batches = batches_of(locations, batch_size)
    tracker = ProgressTracker(stage=f"predict on {engine}", total=len(locations),
                              callback=progress)
    outputs: list[Optional[np.ndarray]] = [None] * len(batches)
    run = _run_local if engine == "local" else _run_on_ray
    done = 0
    for position, values in run(model_path=model_path, batches=batches, top_k=top_k,
                                address=address, workers=workers, tracker=tracker,
                                runtime=choice, ran=ran, cache_dir=cache_dir):
        outputs[position] = values
        done += len(values)
        tracker.update(done)
    stacked = np.concatenate(outputs) if outputs else np.zeros((0, 1), np.float32)
    frame = prediction_table(locations=locations, outputs=stacked, top_k=top_k,
                             class_names=class_names)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(Path(out), buffer.getvalue())
    return {"n": len(frame), "out": str(out), "engine": engine,
            **ran.get("runtime", choice).report(),
            "kind": "regression" if "value" in frame else "classification",
            "seconds": round(time.perf_counter() - started, 3)}


def _run_local(*, model_path, batches, top_k, tracker, runtime, ran, cache_dir, **_
               ) -> Iterator[tuple[int, np.ndarray]]:
    tracker.update(0, "loading the model")
    predictor = BatchPredictor(model_path=model_path, top_k=top_k, runtime=runtime,
                               cache_dir=cache_dir)
    ran["runtime"] = predictor.runtime
    tracker.stage = f"{tracker.stage}, {predictor.runtime.label}"
    tracker.update(0, predictor.runtime.note)
    tracker.restart_clock(0)
    for position, (_, locations) in enumerate(batches):
        yield position, predictor.predict(locations)


def _run_on_ray(*, model_path, batches, top_k, address, workers, tracker, runtime, ran,
                **_) -> Iterator[tuple[int, np.ndarray]]:
    from core.features.ray_engine import ClusterSession, quiet_ray_data, worker_errors

    tracker.update(0, "connecting to Ray")
    with ClusterSession(address=address) as ray:
        from ray.data import ActorPoolStrategy

        quiet_ray_data()
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1.0)))
        items = [{"position": i, "paths": locations} for i, (_, locations) in enumerate(batches)]
        mapped = ray.data.from_items(items, override_num_blocks=max(1, len(items))).map_batches(
            PredictWorker, batch_size=1, batch_format="numpy", num_cpus=1,
            compute=ActorPoolStrategy(size=max(1, min(size, len(items)))),
            fn_constructor_kwargs={"model_path": str(Path(model_path).resolve()),
                                   "top_k": top_k, "runtime": runtime})
        tracker.update(0, "starting Ray workers")
        results = mapped.iter_batches(batch_size=None, batch_format="numpy")
        try:
            for batch in worker_errors(results):
                for row in range(len(batch["position"])):
                    if batch["error"][row]:
                        raise TransferLensError(f"A Ray worker failed: {batch['error'][row]}")
                    if "runtime" not in ran:
                        name, precision = str(batch["runtime"][row]).split()
                        ran["runtime"] = RuntimeChoice(name, precision,
                                                       str(batch["runtime_note"][row]))
                        tracker.stage = f"{tracker.stage}, {ran['runtime'].label}"
                    yield int(batch["position"][row]), np.asarray(batch["outputs"][row])
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()


class PredictWorker:
    """A Ray Data actor: the model once, then batches of locations → outputs."""

    def __init__(self, *, model_path: str, top_k: int,
                 runtime: RuntimeChoice = RuntimeChoice()) -> None:
        from core.base.tf_env import import_tensorflow

        tf = import_tensorflow()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)  # one CPU per actor
        except RuntimeError:
            pass
        # converted models go to this node's own cache; one CPU per actor
        self.predictor = BatchPredictor(model_path=model_path, top_k=top_k, runtime=runtime,
                                        threads=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from core.features.ray_engine import column_of

        outputs, errors = [], []
        for paths in batch["paths"]:
            try:  # a user error travels as text: Ray's wrapping would bury it (see ChunkWorker)
                outputs.append(self.predictor.predict([str(p) for p in paths]))
                errors.append("")
            except TransferLensError as error:
                outputs.append(np.zeros((0, 0), np.float32))
                errors.append(str(error))
        ran = self.predictor.runtime
        return {"position": np.asarray(batch["position"]),
                "outputs": column_of(outputs), "error": np.array(errors),
                "runtime": np.array([ran.label] * len(errors)),
                "runtime_note": np.array([ran.note] * len(errors))}
