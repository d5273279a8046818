"""`publish_bundle`: everything a demo needs, computed through core's cached functions and
written as one folder of open files (see `core.publish.layout`), atomically.

Values are stored as float16 when that costs the default head less than
FLOAT16_TOLERANCE_POINTS of test accuracy (measured every time, both figures recorded in
the manifest), else as float32. Every analysis in the bundle is computed on the stored
values, so the bundle reproduces itself and its `values_key` finds them in a cache.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.base.atomic import atomic_folder
from core.base.hashing import hash_file, hash_key
from core.base.jsonio import manifest_json
from core.base.progress import ProgressCallback
from core.features.transfer_values import TransferValues
from core.publish import layout

FLOAT16_TOLERANCE_POINTS = 0.1  # percentage points of the default head's test accuracy
DEFAULT_THUMB_SIZE = 32  # px: keeps 28×28 sources at their own pixels, enlarges 8×8 ones 4×
DEFAULT_SHEET_GRID = 64  # tiles per side: 4096 thumbnails per PNG
DEFAULT_KNN_NEIGHBORS = 15  # enough for a neighbour view; the cache's 90 would be 6× the bytes
HEAD_METRICS = ("test_accuracy", "val_accuracy", "train_accuracy", "chance_accuracy",
                "n_train", "n_val", "n_test")


def publish_bundle(*, dataset: str, backbone: str, out: str | Path,
                   image_size: int | None = None, limit: int | None = None,
                   cache_dir: str | Path | None = None, thumb_size: int = DEFAULT_THUMB_SIZE,
                   sheet_grid: int = DEFAULT_SHEET_GRID,
                   knn_neighbors: int = DEFAULT_KNN_NEIGHBORS, seed: int = 0,
                   command: str = "", progress: Optional[ProgressCallback] = None) -> dict[str, Any]:
    """Write the bundle of `dataset` (name or path) through `backbone` to the folder `out`
    and return a summary (path, n, bytes, files, precision decision). A bundle of the same
    inputs that still verifies is left as it is (status "unchanged"), so republishing does
    not churn a git history."""
    from core.analysis.label_issues import (DEFAULT_CROSS_FIT_FOLDS, DEFAULT_NEIGHBORS,
                                            LABEL_ISSUES_VERSION)
    from core.datasets import load_dataset
    from core.features.feature_sets import feature_values
    from core.heads import DEFAULT_HEAD

    started = time.perf_counter()
    out = Path(out)
    data = load_dataset(name=dataset).limited(limit=limit)
    inputs = {"format_version": layout.FORMAT_VERSION, "dataset": data.fingerprint,
              "backbone": backbone, "image_size": image_size, "thumb_size": thumb_size,
              "sheet_grid": sheet_grid, "knn_neighbors": knn_neighbors, "seed": seed,
              "head": DEFAULT_HEAD, "cross_fit_folds": DEFAULT_CROSS_FIT_FOLDS,
              "label_issue_neighbors": DEFAULT_NEIGHBORS, "label_issues": LABEL_ISSUES_VERSION,
              "tolerance_points": FLOAT16_TOLERANCE_POINTS}
    inputs_key = hash_key(inputs)
    unchanged = _unchanged_bundle(out, inputs_key)
    if unchanged is not None:
        return summary(unchanged, status="unchanged", seconds=time.perf_counter() - started)

    tv32 = feature_values(dataset=data, backbone=backbone, image_size=image_size,
                          cache_dir=cache_dir, progress=progress)
    tv, head, precision = _choose_precision(tv32=tv32, head=DEFAULT_HEAD, seed=seed,
                                            cache_dir=cache_dir)
    with atomic_folder(out) as tmp:
        sections = _write_arrays(tmp, tv=tv, head=head, seed=seed, cache_dir=cache_dir,
                                 knn_neighbors=knn_neighbors, progress=progress,
                                 folds=DEFAULT_CROSS_FIT_FOLDS,
                                 label_neighbors=DEFAULT_NEIGHBORS)
        sections["thumbnails"] = _write_sprites(tmp, data=data, size=thumb_size,
                                                grid=sheet_grid)
        files = _file_table(tmp)
        manifest = {
            "format": layout.FORMAT, "format_version": layout.FORMAT_VERSION,
            "name": out.name, "dataset": {"name": data.name, "source": dataset,
                                          "fingerprint": data.fingerprint},
            "class_names": list(tv.class_names), "backbone": backbone,
            "image_size": tv32.image_size, "n": tv.n, "dim": tv.dim,
            "value_dtype": str(tv.values.dtype), "values_key": tv.key,
            "key_fields": tv.manifest.get("key_fields", {}), "inputs": inputs,
            "inputs_key": inputs_key, "precision": precision, **sections, "files": files,
            "total_bytes": sum(f["bytes"] for f in files.values()),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": command,
            "seconds": round(time.perf_counter() - started, 3),
        }
        (tmp / layout.MANIFEST).write_text(manifest_json(manifest))
        for folder in (tmp, *(d for d in tmp.rglob("*") if d.is_dir())):
            folder.chmod(0o755)  # temp folders are made 0700; a served demo must be readable
    return summary(manifest | {"path": str(out)}, status="written",
                   seconds=time.perf_counter() - started)


def summary(manifest: dict[str, Any], *, status: str, seconds: float) -> dict[str, Any]:
    """The JSON summary the CLI prints: where, how big, which precision and why."""
    precision = manifest["precision"]
    return {"path": manifest["path"], "status": status, "n": manifest["n"],
            "dim": manifest["dim"], "value_dtype": manifest["value_dtype"],
            "float32_test_accuracy": precision["float32_test_accuracy"],
            "float16_test_accuracy": precision["float16_test_accuracy"],
            "bytes": manifest["total_bytes"],
            "files": {name: entry["bytes"] for name, entry in manifest["files"].items()},
            "seconds": round(seconds, 3)}


def as_float16(tv: TransferValues) -> TransferValues:
    """tv with float16 values. Its key is the one the cache gives float16 extraction of the
    same inputs (extraction casts each float32 batch the same way), so analyses cached on
    either are shared."""
    fields = {**tv.manifest.get("key_fields", {}), "dtype": "float16"}
    return dataclasses.replace(tv, values=np.asarray(tv.values, dtype=np.float16),
                               key=hash_key(fields),
                               manifest={**tv.manifest, "key_fields": fields, "dtype": "float16"})


def _choose_precision(*, tv32: TransferValues, head: str, seed: int, cache_dir):
    """(values to publish, the default head trained on them, the measurement): the default
    head on float32 and on float16 values, same split and seed; float16 if it costs less
    than the tolerance."""
    from core.heads import train_head

    tv16 = as_float16(tv32)
    head32 = train_head(tv=tv32, head=head, seed=seed, cache_dir=cache_dir)
    head16 = train_head(tv=tv16, head=head, seed=seed, cache_dir=cache_dir)
    acc32, acc16 = _score(head32.metrics), _score(head16.metrics)
    difference = abs(acc16 - acc32) * 100
    use16 = difference < FLOAT16_TOLERANCE_POINTS
    record = {"chosen": "float16" if use16 else "float32", "head": head,
              "metric": "test_accuracy" if head32.metrics.get("test_accuracy") is not None
              else "val_accuracy",
              "float32_test_accuracy": acc32, "float16_test_accuracy": acc16,
              "difference_points": round(difference, 4),
              "tolerance_points": FLOAT16_TOLERANCE_POINTS}
    return (tv16, head16, record) if use16 else (tv32, head32, record)


def _score(metrics: dict[str, Any]) -> float:
    score = metrics.get("test_accuracy")
    return float(metrics["val_accuracy"] if score is None else score)


def _write_arrays(tmp: Path, *, tv: TransferValues, head, seed: int, cache_dir,
                  knn_neighbors: int, progress, folds: int, label_neighbors: int) -> dict:
    """Values, labels, projections, kNN graph, head and label issues; returns their
    manifest sections."""
    from core.analysis.label_issues import find_label_issues
    from core.analysis.neighbors import knn_graph
    from core.analysis.projections import compute_projection
    from core.heads import head_title, save_head, train_head

    def save(name: str, array: np.ndarray) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        np.save(tmp / name, np.ascontiguousarray(array), allow_pickle=False)

    save(layout.VALUES, tv.values)
    save(layout.LABELS, np.asarray(tv.labels, dtype=np.int64))
    save(layout.SPLITS, np.asarray(tv.splits, dtype=np.uint8))
    save(layout.SAMPLE_IDS, np.asarray(tv.sample_ids).astype(str))

    projections = {}
    for method in layout.PROJECTION_METHODS:
        projection = compute_projection(tv=tv, method=method, dims=2, seed=seed,
                                        cache_dir=cache_dir, progress=progress)
        save(layout.projection_file(method), np.asarray(projection.coords, dtype=np.float32))
        projections[method] = {"file": layout.projection_file(method), "params": projection.params,
                               "seed": seed, "key": projection.key}

    graph = knn_graph(tv=tv, n_neighbors=knn_neighbors, cache_dir=cache_dir, progress=progress)
    save(layout.KNN_INDICES, np.asarray(graph.indices_, dtype=np.int32))
    save(layout.KNN_DISTANCES, np.asarray(graph.distances_, dtype=np.float32))

    save(layout.PROBABILITIES, np.asarray(head.probabilities, dtype=np.float16))
    save_head(head, tmp / layout.HEAD)

    # label issues want out-of-fold probabilities: a cross-fitted twin of the default head
    cross = train_head(tv=tv, head=head.head, seed=seed, cross_fit_folds=folds,
                       cache_dir=cache_dir, progress=progress)
    issues = find_label_issues(tv=tv, probabilities=cross.probabilities,
                               n_neighbors=label_neighbors, cache_dir=cache_dir)
    issues.to_parquet(tmp / layout.LABEL_ISSUES, index=False)
    return {
        "projections": projections,
        "knn": {"n_neighbors": int(graph.n_neighbors_), "metric": graph.metric,
                "key": graph.key, "indices": layout.KNN_INDICES,
                "distances": layout.KNN_DISTANCES},
        "head": {"name": head.head, "title": head_title(head.head), "folder": layout.HEAD,
                 "key": head.key, "probabilities": layout.PROBABILITIES,
                 "metrics": {k: head.metrics.get(k) for k in HEAD_METRICS}},
        "label_issues": {"file": layout.LABEL_ISSUES, "head": cross.head,
                         "cross_fit_folds": folds, "neighbors": label_neighbors,
                         "flagged": int(len(issues))},
    }


def _write_sprites(tmp: Path, *, data, size: int, grid: int) -> dict[str, Any]:
    from core.publish.sprites import write_sprites

    return write_sprites(image=data.images.get, n=len(data), folder=tmp, size=size, grid=grid)


def _file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file's size and checksum (blake2b-128, core.base.hashing), by relative path."""
    return {file.relative_to(folder).as_posix(): {"bytes": file.stat().st_size,
                                                  "blake2b": hash_file(file)}
            for file in sorted(folder.rglob("*")) if file.is_file()}


def _unchanged_bundle(out: Path, inputs_key: str) -> dict[str, Any] | None:
    """The manifest of a bundle at `out` made from the same inputs that still verifies."""
    from core.base.errors import TransferLensError
    from core.publish.bundle import open_bundle

    if not (out / layout.MANIFEST).is_file():
        return None
    try:
        bundle = open_bundle(out)
    except TransferLensError:
        return None
    if bundle.manifest.get("inputs_key") != inputs_key:
        return None
    return bundle.manifest | {"path": str(out)}
