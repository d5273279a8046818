"""The transfer values a running extraction has finished so far, as TransferValues.

A resumable extraction (`core.features.transfer_values`) writes its finished chunks to the
entry's work folder, atomically, in dataset order. The leading run of finished chunks is
a valid feature matrix of the dataset's first rows, so a first map can be drawn from it
while the rest are extracted (issue 31's cold start). It has its own key, so nothing
cached on it is ever taken for the whole entry's.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from core.base.cache import ArrayCache
from core.base.hashing import hash_key
from core.datasets.base import ImageDataset
from core.features.transfer_values import (
    KIND,
    TransferValues,
    chunk_bounds,
    read_chunk,
    work_plan,
)

SO_FAR_VERSION = 1


def values_so_far(*, key: str, dataset: ImageDataset, at_least: int,
                  cache_dir: str | Path | None = None) -> TransferValues | None:
    """The first rows of `key`'s extraction of `dataset` whose chunks are finished: whole
    chunks from the first, at least `at_least` rows (fewer only when that is all of them);
    None while fewer are finished, or when no extraction of `key` has a plan on disk."""
    if at_least < 1:
        raise ValueError(f"at_least must be a positive number of rows, not {at_least}")
    started = time.perf_counter()
    work = ArrayCache(kind=KIND, root=cache_dir).work_path(key)
    plan = work_plan(work)
    if plan is None:
        return None
    n, dim = plan["n"], plan["dim"]
    if n != len(dataset):
        raise ValueError(f"the extraction of {key} plans {n:,} images, the dataset has "
                         f"{len(dataset):,}: not the dataset it extracts")
    chunks, rows = [], 0
    for index, (start, stop) in enumerate(chunk_bounds(n, plan["chunk_size"])):
        if rows >= min(at_least, n):
            break
        chunk = read_chunk(work, index, stop - start, dim)
        if chunk is None:
            return None  # the leading chunks are not all finished yet
        chunks.append(chunk)
        rows += len(chunk)
    if rows < min(at_least, n):
        return None
    fields = {"values_so_far_of": key, "rows": rows, "version": SO_FAR_VERSION}
    return TransferValues(
        values=np.concatenate(chunks), labels=np.asarray(dataset.labels[:rows]),
        splits=np.asarray(dataset.splits[:rows]),
        sample_ids=np.asarray(dataset.sample_ids[:rows]).astype(str),
        class_names=tuple(dataset.class_names), key=hash_key(fields), path=work,
        cache="so far", seconds=time.perf_counter() - started,
        manifest={"key_fields": fields, "n": rows, "dim": dim, "of": n,
                  "class_names": list(dataset.class_names)})
