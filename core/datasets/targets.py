"""Numeric targets: the `Target` a regression head trains on, and the targets file of a
folder dataset (`targets.csv` or `targets.parquet` at its root).

The file has a `path` column (each image's path relative to the folder, `/`-separated) and
one or more numeric columns, one target each. Every problem names the file and the row and
says what to fix: a missing `path` column, no numeric column, a non-numeric or missing
(NaN) value, a path listed twice, a listed image that is not in the folder. Images in the
folder that the file does not list are skipped and counted, not guessed.

The file is bounded before it is parsed (a 2 KB Parquet file can hold millions of rows):
its size on disk, then its rows (Parquet: from the footer's metadata; CSV: parsed with a row
cap) against MAX_TARGETS_ROWS and, when the caller knows it, the number of images the
dataset has plus TARGETS_ROW_SLACK, and its columns against MAX_TARGET_COLUMNS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

from core.base.errors import DatasetError
from core.base.hashing import hash_array, new_hasher
from core.datasets.uploads import shown_subject

TARGET_FILES = ("targets.csv", "targets.parquet")
PATH_COLUMN = "path"
# ~40 bytes a CSV row (a path and a number): room for MAX_TARGETS_ROWS rows of long paths
MAX_TARGETS_BYTES = 100_000_000
MAX_TARGETS_ROWS = 2_000_000  # twice the largest built-in dataset (1M images)
MAX_TARGET_COLUMNS = 1_000
# rows beyond the dataset's image count that are still parsed, so a file listing a few
# images too many gets the message naming the missing image instead of a row-count refusal
TARGETS_ROW_SLACK = 1_000


@dataclass(frozen=True, eq=False)
class Target:
    """One numeric target of a dataset: float64 values aligned with its samples."""

    name: str
    values: np.ndarray
    sample_ids: np.ndarray

    @property
    def key(self) -> str:
        """A hash of the name and values: heads trained on this target are cached under it."""
        hasher = new_hasher()
        hasher.update(self.name.encode() + b"\0")
        return hash_array(np.ascontiguousarray(self.values, dtype=np.float64), hasher)

    def check_aligned(self, sample_ids: np.ndarray) -> None:
        """ValueError unless these values are for exactly `sample_ids`, in that order."""
        ids = np.asarray(sample_ids).astype(str)
        if len(ids) != len(self.values) or not np.array_equal(ids, self.sample_ids):
            raise ValueError(f"target {self.name!r} is for {len(self.values)} samples that are "
                             f"not the {len(ids)} samples of these transfer values (same "
                             f"dataset, same --limit?)")


def choose_target(*, available: Sequence[str], name: str | None, dataset: str,
                  source: str = "") -> str:
    """`name` when the dataset has it, the only target when `name` is None; else a
    DatasetError that says what exists and how to add one."""
    where = f" ({source})" if source else ""
    if not available:
        raise DatasetError(
            f"Dataset '{dataset}'{where} has no numeric targets. Fix: put a targets.csv at the "
            f"folder's root with a '{PATH_COLUMN}' column (image paths relative to the folder) "
            f"and one numeric column per target, or use fashion_mnist_scale.")
    if name is None:
        if len(available) == 1:
            return available[0]
        raise DatasetError(f"Dataset '{dataset}' has several targets ({', '.join(available)}); "
                           f"choose one (CLI: --target NAME).")
    if name not in available:
        raise DatasetError(f"Dataset '{dataset}' has no target '{name}'; it has: "
                           f"{', '.join(available)}.")
    return name


def find_targets_file(root: Path) -> Path | None:
    """The folder's targets file, None when it has none; DatasetError when it has both."""
    found = [root / name for name in TARGET_FILES if (root / name).is_file()]
    if len(found) > 1:
        raise DatasetError(f"{shown_subject(root, root=root)} has both {found[0].name} and "
                           f"{found[1].name}; keep one "
                           "targets file.")
    return found[0] if found else None


@dataclass(frozen=True)
class TargetTable:
    """A parsed targets file: each listed path's row, and the numeric columns."""

    file: Path | ShownName  # as messages name it (relative to the upload in a public app)
    paths: tuple[str, ...]  # normalised, relative to the dataset root
    values: dict[str, np.ndarray]  # column → float64 per listed path
    row_labels: tuple[str, ...]  # how each row is named in messages ("line 5", "row 4")

    def row_of(self) -> dict[str, int]:
        return {path: i for i, path in enumerate(self.paths)}


def read_targets_file(file: Path, *, data: bytes | None = None, images: int | None = None,
                      shown: str | None = None) -> TargetTable:
    """Parse and check a targets file (see the module docstring for the rules); `data` is
    its content when it was read from a URI (then `file` only names it in messages).
    `images`: how many images the dataset has, so the file may list at most that many rows
    plus TARGETS_ROW_SLACK. `shown`: how messages name the file (default: `file`)."""
    label = shown if shown is not None else str(file)
    max_rows = MAX_TARGETS_ROWS if images is None else min(MAX_TARGETS_ROWS,
                                                           images + TARGETS_ROW_SLACK)
    frame = _read_frame(file, data, max_rows=max_rows, images=images, label=label)
    file = ShownName(label) if shown is not None else file
    columns = [str(c) for c in frame.columns]
    if PATH_COLUMN not in columns:
        raise DatasetError(f"{file} has no '{PATH_COLUMN}' column (it has: "
                           f"{', '.join(columns) or 'none'}). Fix: name the column of image "
                           f"paths '{PATH_COLUMN}'.")
    target_columns = [c for c in columns if c != PATH_COLUMN]
    if not target_columns:
        raise DatasetError(f"{file} has only a '{PATH_COLUMN}' column. Fix: add a numeric "
                           "column per target, e.g. path,length.")
    if len(frame) == 0:
        raise DatasetError(f"{file} lists no images. Fix: add one row per image.")
    is_csv = file.suffix.lower() == ".csv"
    # a CSV's header is line 1, so data row i is line i + 2; a parquet file has rows only
    row_labels = tuple(f"line {i + 2}" if is_csv else f"row {i + 1}" for i in range(len(frame)))
    paths = _paths(file, frame[PATH_COLUMN].tolist(), row_labels)
    values = {str(c): _numbers(file, c, frame[c].tolist(), row_labels) for c in target_columns}
    return TargetTable(file=file, paths=paths, values=values, row_labels=row_labels)


class ShownName(str):
    """A file as messages name it (a URI, or a path relative to what the user gave), with the
    `.name`/`.suffix` a Path would have."""

    @property
    def name(self) -> str:
        return self.rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix


def _too_many_rows(label: str, rows: int | None, limit: int, images: int | None) -> DatasetError:
    """The refusal of a file over `limit` rows (`rows`: its count, None when only the cap
    was read)."""
    why = (f"the dataset has {images:,} images (+{TARGETS_ROW_SLACK:,} rows of slack)"
           if images is not None and limit < MAX_TARGETS_ROWS else
           f"the limit is {MAX_TARGETS_ROWS:,} rows")
    counted = f"more than {limit:,}" if rows is None else f"{rows:,}"
    return DatasetError(f"{label} has {counted} rows, over the limit of {limit:,}: {why}. "
                        f"Fix: list each image once, one row per image.")


def _read_frame(file: Path, data: bytes | None, *, max_rows: int, images: int | None,
                label: str):
    import io

    import pandas as pd

    size = len(data) if data is not None else file.stat().st_size
    if size > MAX_TARGETS_BYTES:
        raise DatasetError(f"{label} is {size:,} bytes, over the limit of "
                           f"{MAX_TARGETS_BYTES:,} for a targets file. Fix: keep only the "
                           f"'{PATH_COLUMN}' column and the target columns.")
    source = io.BytesIO(data) if data is not None else file
    try:
        if file.suffix.lower() == ".csv":
            # every cell as text: numbers are parsed below, where a bad one can be named;
            # one row past the cap is enough to know it is too long
            frame = pd.read_csv(source, dtype=str, keep_default_na=False,
                                skipinitialspace=True, nrows=max_rows + 1)
            if len(frame) > max_rows:
                raise _too_many_rows(label, None, max_rows, images)
            if len(frame.columns) > MAX_TARGET_COLUMNS + 1:
                raise _too_many_columns(label, len(frame.columns))
            return frame
        return _read_parquet_bounded(source, max_rows=max_rows, images=images, label=label)
    except DatasetError:
        raise
    except Exception as error:  # parser errors come in many types; all mean "cannot read it"
        raise DatasetError(f"Cannot read {label}: {type(error).__name__}: {error}. Fix: save "
                           "it as a CSV with a header row (path,<target>...) or as Parquet."
                           ) from None


def _too_many_columns(label: str, columns: int) -> DatasetError:
    return DatasetError(f"{label} has {columns:,} columns, over the limit of "
                        f"{MAX_TARGET_COLUMNS + 1:,} ('{PATH_COLUMN}' and at most "
                        f"{MAX_TARGET_COLUMNS:,} targets). Fix: keep only the target columns.")


def _read_parquet_bounded(source, *, max_rows: int, images: int | None, label: str):
    """The Parquet table, after its footer's row count, column count and uncompressed size
    are checked (nothing but the footer is read before that)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    meta = parquet.metadata
    if meta.num_rows > max_rows:
        raise _too_many_rows(label, meta.num_rows, max_rows, images)
    if meta.num_columns > MAX_TARGET_COLUMNS + 1:
        raise _too_many_columns(label, meta.num_columns)
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > MAX_TARGETS_BYTES:
        raise DatasetError(f"{label} unpacks to {unpacked:,} bytes, over the limit of "
                           f"{MAX_TARGETS_BYTES:,} for a targets file. Fix: keep only the "
                           f"'{PATH_COLUMN}' column and the target columns.")
    return parquet.read().to_pandas()


def _paths(file: Path, cells: list, row_labels: Sequence[str]) -> tuple[str, ...]:
    paths, seen = [], {}
    for cell, where in zip(cells, row_labels):
        text = "" if cell is None else str(cell).strip().replace("\\", "/")
        parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
        if not parts:
            raise DatasetError(f"{file}, {where}: the '{PATH_COLUMN}' is empty. Fix: give the "
                               "image's path relative to the folder.")
        if text.startswith("/") or ".." in parts:
            raise DatasetError(f"{file}, {where}: path {text!r} leaves the dataset folder. Fix: "
                               "give the path relative to the folder, e.g. images/cat_01.jpg.")
        path = "/".join(parts)
        if path in seen:
            raise DatasetError(f"{file}, {where}: {path} is listed twice (first at "
                               f"{seen[path]}). Fix: keep one row per image.")
        seen[path] = where
        paths.append(path)
    return tuple(paths)


def _numbers(file: Path, column: str, cells: list, row_labels: Sequence[str]) -> np.ndarray:
    out = np.empty(len(cells), dtype=np.float64)
    for i, (cell, where) in enumerate(zip(cells, row_labels)):
        text = "" if cell is None else str(cell).strip()
        try:
            value = float(cell) if isinstance(cell, (int, float)) else float(text or "nan")
        except ValueError:
            raise DatasetError(f"{file}, {where}: '{column}' is {text!r}, not a number. Fix: "
                               f"write a number there, or remove the column if it is not a "
                               f"target.") from None
        if not np.isfinite(value):
            raise DatasetError(f"{file}, {where}: '{column}' is {text or 'empty'} (missing or "
                               f"not finite). Fix: give every image a value, or remove its "
                               f"row.")
        out[i] = value
    return out
