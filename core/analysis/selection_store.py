"""Selections a link cannot hold (points picked one by one, a lasso too long for a URL), kept
server-side as their sample ids under a short key: `?sel=ids:<key>` (core.analysis.selection_link).

Layout: <cache>/selections/<namespace>/<key>.json.gz, the key a hash of everything in it
(the dataset's fingerprint and the ids), written atomically. In a public app each visitor's
selections lie in their session's own uploads folder (public_uploads/<session>/selections),
as their uploads and exports do: no visitor reads another's, and they go with the session.
Bounded: ids per selection, bytes per file (compressed and read back), files per namespace
(least recently used out first).
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.base.atomic import atomic_write_bytes
from core.base.errors import ParameterError
from core.base.hashing import hash_array, hash_key
from core.base.paths import cache_root
from core.base.public import PublicModeError, is_public, uploads_root
from core.corrections.overlay import dataset_id_of
from core.features.sample_lookup import MAX_ID_CHARS

KIND = "selections"
FORMAT, FORMAT_VERSION = "transfer-lens-selection", 1
DEFAULT_NAMESPACE = "local"
MAX_IDS = 1_000_000  # the largest map; a selection of more is refused
MAX_FILE_BYTES = 16_000_000  # one stored selection, compressed
MAX_JSON_BYTES = 64 * MAX_IDS  # ... and decompressed (ids are at most a few dozen chars)
MAX_ENTRIES = 200  # per namespace: the least recently used go first
_NAMESPACE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_KEY = re.compile(r"^[0-9a-f]{20}$")


@dataclass(frozen=True)
class StoredSelection:
    rows: np.ndarray  # of the transfer values it was loaded for, sorted
    missing: int  # stored ids these values do not hold (a smaller subset embedded)


def selections_folder(*, namespace: str | None = None,
                      cache_dir: str | Path | None = None) -> Path:
    """Where `namespace`'s selections are kept. A public app needs one (the visitor's
    session id): its selections go under that session's uploads folder."""
    if namespace is None:
        if is_public():
            raise PublicModeError("Stored selections in a public Transfer Lens belong to a "
                                  "session: pass namespace= (the visitor's session id).")
        namespace = DEFAULT_NAMESPACE
    if not _NAMESPACE.match(namespace):
        raise ParameterError(f"a namespace is 1-128 letters, digits, '-' or '_', "
                             f"not {namespace[:40]!r}")
    root = cache_root(cache_dir)
    return (uploads_root(root) / namespace / KIND if is_public()
            else root / KIND / namespace)


def save_selection(*, tv, rows: np.ndarray, namespace: str | None = None,
                   cache_dir: str | Path | None = None) -> str:
    """Store the sample ids of `rows` of `tv` and return their key (the same rows of the same
    dataset always give the same key). Bounded by MAX_IDS and MAX_FILE_BYTES."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if len(rows) == 0 or len(rows) > MAX_IDS:
        raise ParameterError(f"a stored selection holds 1 to {MAX_IDS:,} images, "
                             f"got {len(rows):,}")
    if rows[0] < 0 or rows[-1] >= tv.n:
        raise ParameterError(f"rows run from 0 to {tv.n - 1:,}, got {rows[0]:,}–{rows[-1]:,}")
    ids = np.asarray(tv.sample_ids)[rows].astype(str)
    dataset = dataset_id_of(tv)
    key = hash_key({"kind": KIND, "format": FORMAT_VERSION, "dataset": dataset,
                    "ids": hash_array(ids)})
    folder = selections_folder(namespace=namespace, cache_dir=cache_dir)
    path = folder / f"{key}.json.gz"
    if path.is_file():
        os.utime(path)  # its last use, for the count bound
        return key
    data = gzip.compress(json.dumps({"format": FORMAT, "version": FORMAT_VERSION,
                                     "dataset": dataset, "ids": ids.tolist()}).encode(),
                         compresslevel=6)
    if len(data) > MAX_FILE_BYTES:
        raise ParameterError(f"the selection's ids take {len(data):,} bytes compressed, over "
                             f"{MAX_FILE_BYTES:,}")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    _prune(folder, keep=path)
    return key


def load_selection(*, tv, key: str, namespace: str | None = None,
                   cache_dir: str | Path | None = None) -> StoredSelection | None:
    """The rows of `tv` whose ids are stored under `key`, or None when no selection has that
    key here (never stored, pruned, or another visitor's). Raises ParameterError for a bad
    key, a damaged or oversized file, or a selection of another dataset."""
    if not _KEY.match(str(key)):
        raise ParameterError("a stored selection's key is 20 hex digits")
    path = selections_folder(namespace=namespace, cache_dir=cache_dir) / f"{key}.json.gz"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_FILE_BYTES:
        raise ParameterError(f"{path.name} has {size:,} bytes, over {MAX_FILE_BYTES:,}")
    try:
        with gzip.open(path, "rb") as handle:
            text = handle.read(MAX_JSON_BYTES + 1)
        if len(text) > MAX_JSON_BYTES:
            raise ValueError(f"over {MAX_JSON_BYTES:,} bytes unpacked")
        record = json.loads(text)
        ids = record["ids"]
        if (record.get("format") != FORMAT or not isinstance(ids, list) or len(ids) > MAX_IDS
                or not all(isinstance(i, str) and len(i) <= MAX_ID_CHARS for i in ids)):
            raise ValueError("not a stored selection")
    except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
        raise ParameterError(f"the stored selection {key} is damaged ({error}); make the "
                             "selection again") from None
    if record.get("dataset") != dataset_id_of(tv):
        raise ParameterError(f"the stored selection {key} was made on another dataset")
    os.utime(path)
    stored = np.asarray(ids, dtype=str)
    rows = np.flatnonzero(np.isin(np.asarray(tv.sample_ids).astype(str), stored))
    return StoredSelection(rows=rows, missing=len(set(ids)) - len(rows))


def _prune(folder: Path, *, keep: Path) -> None:
    """Keep at most MAX_ENTRIES selections in `folder`, least recently used out first."""
    entries = []
    for path in folder.glob("*.json.gz"):
        try:
            entries.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue  # removed by another session meanwhile
    entries.sort()
    for _, path in entries[:max(0, len(entries) - MAX_ENTRIES)]:
        if path != keep:
            path.unlink(missing_ok=True)
