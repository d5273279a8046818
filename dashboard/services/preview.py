"""A first map drawn while the transfer values are extracted (issue 31's cold start): the
projection of the rows finished so far (core.features.values_so_far), computed once per
extraction and method in a thread beside it, and kept until the map of every row
replaces it on the page."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.base.params import whole_number
from core.datasets.base import ImageDataset
from dashboard.services.memo import root

PREVIEW_ROWS = 10_000  # rows of the first map (whole chunks: up to one chunk more)
# the server may set another count, or 0 for no first map (the cold-start benchmark times
# both); a value out of bounds is ignored
ROWS_ENV = "TRANSFER_LENS_PREVIEW_ROWS"
ROWS_BOUNDS = (1_000, 100_000)
# a smaller extraction soon draws the map of all its images: no preview to wait for
PREVIEW_FOR_MORE_THAN = 30_000
RETRY_SECONDS = 1.0  # between looks for the finished chunks, while they are not there yet


@dataclass(frozen=True)
class PreviewMap:
    """The map of the first `rows` of `total` images, with what colours and names them."""

    coords: np.ndarray  # (rows, 2)
    labels: np.ndarray
    splits: np.ndarray
    sample_ids: np.ndarray
    class_names: tuple[str, ...]
    method: str
    rows: int
    total: int
    seconds: float  # computing it, from the rows on disk to the coordinates


_lock = threading.Lock()
_previews: dict[tuple, Any] = {}  # (root, key, method) → PreviewMap, "running" or a failure
_looked: dict[tuple, float] = {}  # when the finished chunks were last looked for
_KEEP = 8  # previews kept (the oldest go): the map of all rows has replaced them by then


def preview_rows() -> int:
    """Rows of the first map: $TRANSFER_LENS_PREVIEW_ROWS when 0 (none) or within
    ROWS_BOUNDS, else PREVIEW_ROWS."""
    value = whole_number(os.environ.get(ROWS_ENV, "").strip())
    if value is not None and (value == 0 or ROWS_BOUNDS[0] <= value <= ROWS_BOUNDS[1]):
        return value
    return PREVIEW_ROWS


def wanted(images: int) -> bool:
    """Whether an extraction of `images` images draws a first map before its whole one. Not
    in a public app: a preview runs beside the extraction, where every heavy job there
    waits its turn (and its extractions are below PREVIEW_FOR_MORE_THAN anyway)."""
    from dashboard.services.public import is_public

    return images > PREVIEW_FOR_MORE_THAN and preview_rows() > 0 and not is_public()


def preview_map(*, key: str, dataset: ImageDataset, method: str,
                done: int) -> PreviewMap | None:
    """The first map of `key`'s running extraction of `dataset` (`done` images so far) by
    `method`, once computed; it is started in a thread as soon as the first preview_rows()
    rows are on disk. None meanwhile, and when computing it failed (the whole map follows
    as usual, so a preview's failure is not the user's concern)."""
    slot = (root(), key, method)
    with _lock:
        found = _previews.get(slot)
        if found is not None:
            return found if isinstance(found, PreviewMap) else None
        rows = preview_rows()
        if done < rows or time.monotonic() - _looked.get(slot, 0.0) < RETRY_SECONDS:
            return None
        _looked[slot] = time.monotonic()
    from core.features.values_so_far import values_so_far

    tv = values_so_far(key=key, dataset=dataset, at_least=rows, cache_dir=root())
    if tv is None:
        return None
    with _lock:
        if slot in _previews:  # another session started it meanwhile
            return None
        _previews[slot] = "running"
        while len(_previews) > _KEEP:
            _previews.pop(next(iter(_previews)))
    threading.Thread(target=_compute, args=(slot, tv, method, len(dataset)),
                     name=f"preview-{key}", daemon=True).start()
    return None


def preview_of(*, key: str, method: str) -> PreviewMap | None:
    """The first map computed for `key`'s values by `method`, if any (shown while the
    map of every row is computed)."""
    found = _previews.get((root(), key, method))
    return found if isinstance(found, PreviewMap) else None


def _compute(slot: tuple, tv, method: str, total: int) -> None:
    from threadpoolctl import threadpool_limits

    from core.analysis.projections import compute_projection

    started = time.perf_counter()
    try:
        # one core, beside the extraction; its derived entries (PCA, kNN graph, map) are
        # of no use once the whole map exists, so they go to a scratch cache
        with threadpool_limits(limits=1), \
                tempfile.TemporaryDirectory(prefix="transfer-lens-preview-") as scratch:
            projection = compute_projection(tv=tv, method=method, dims=2, cache_dir=scratch,
                                             gated=False)
            coords = np.array(projection.coords)  # out of the scratch folder before it goes
        result: Any = PreviewMap(
            coords=coords, labels=np.asarray(tv.labels), splits=np.asarray(tv.splits),
            sample_ids=np.asarray(tv.sample_ids), class_names=tuple(tv.class_names),
            method=method, rows=tv.n, total=total, seconds=time.perf_counter() - started)
    except Exception as error:  # noqa: BLE001 - the whole map follows; its errors are shown
        result = error
    with _lock:
        _previews[slot] = result
