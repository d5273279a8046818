"""Datasets from image URIs: a text file listing them (one a line, `#` comments) or a URI
prefix (`s3://bucket/photos/`, `gs://...`, `file:///shared/photos`), for extraction where
the images live in object storage.

Labels come as for a folder: the class-folder component of each path below the dataset's
root (the prefix; for a list, the deepest folder every URI shares), or a `targets.csv` /
`targets.parquet` at that root whose `path` column is relative to it (`core.datasets.targets`).
The driver never reads an image: it lists the URIs with their size and modification time,
and the engine's workers (or this process, on the local engine) decode them.

The content identity in the fingerprint is each URI with its size and modification time, as
the file system reports them (local files, S3's LastModified, GCS's updated time): cheap
for a million objects, where hashing their bytes would read every image on the driver. A
file rewritten in place with the same size within the same timestamp tick, or on a store
that reports no time, is not noticed: its content is trusted (`content_identity` says which).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

from core.base.errors import DatasetError
from core.base.hashing import new_hasher
from core.datasets.base import ImageDataset, stratified_splits
from core.datasets.image_io import IMAGE_EXTENSIONS
from core.datasets.targets import TARGET_FILES, ShownName, read_targets_file
from core.datasets.uri_io import (FileStat, is_file, is_uri, list_files, read_bytes,
                                  read_image, stat_files)

PHOTO_CROP_FRACTION = 0.875  # as for photo folders (core.datasets.folder)


class UriImages:
    """Images decoded on demand from URIs or local paths (where the store is read: a Ray
    worker, or this process on the local engine); always RGB."""

    def __init__(self, locations: Sequence[str]) -> None:
        self.locations = [str(location) for location in locations]

    def __len__(self) -> int:
        return len(self.locations)

    def get(self, index: int) -> np.ndarray:
        return read_image(self.locations[index])

    def take(self, indices: np.ndarray) -> "UriImages":
        return UriImages([self.locations[i] for i in np.asarray(indices)])

    @property
    def uniform_shape(self) -> None:
        return None


def is_uri_source(name: str) -> bool:
    """A URI prefix, or a `.txt` file that lists image locations."""
    return is_uri(name) or (name.lower().endswith(".txt") and Path(name).expanduser().is_file())


def load_uri_dataset(*, source: str, val_fraction: float = 0.1, test_fraction: float = 0.1,
                     seed: int = 0) -> ImageDataset:
    """The dataset of the images a `.txt` list or a URI prefix names (see the module)."""
    listed = not is_uri(source)
    stats = _from_list(Path(source).expanduser()) if listed else _from_prefix(source)
    root = _common_root([s.uri for s in stats]) if listed else source.rstrip("/")
    rels = [_relative(s.uri, root) for s in stats]
    table = _targets_at(root, images=len(stats))
    if table is not None:
        stats, rels = _listed_in(table, stats, rels, root=root)
    class_names, labels = _classes(rels, source=source, with_targets=table is not None)
    splits = stratified_splits(labels, val_fraction=val_fraction, test_fraction=test_fraction,
                               seed=seed)
    name = Path(source).stem if listed else (PurePosixPath(root.split("://", 1)[1]).name or root)
    dataset = ImageDataset(
        name=name, images=UriImages([s.uri for s in stats]), labels=labels,
        class_names=class_names, splits=splits, sample_ids=np.array(rels),
        fingerprint=_fingerprint(stats, labels, splits, class_names),
        crop_fraction=PHOTO_CROP_FRACTION, source=f"{source} ({content_identity(stats)})")
    if table is None:
        return dataset
    rows = table.row_of()
    order = np.array([rows[rel] for rel in rels], dtype=np.int64)
    return dataset.with_targets({n: v[order] for n, v in table.values.items()})


def content_identity(stats: Sequence[FileStat]) -> str:
    """What the fingerprint knows of the files' content, in words."""
    timed = sum(s.mtime_ns is not None for s in stats)
    if timed == len(stats):
        return "content identity: each file's size and modification time"
    return (f"content identity: size and time for {timed} of {len(stats)} files, the rest "
            f"trusted unchanged by URI")


def _from_list(file: Path) -> list[FileStat]:
    lines = file.read_text().splitlines()
    locations, seen = [], {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not is_uri(text):
            path = Path(text).expanduser()
            text = str(path if path.is_absolute() else (file.parent / path).absolute())
        if text in seen:
            raise DatasetError(f"{file}, line {number}: {text} is listed twice (first at line "
                               f"{seen[text]}). Fix: keep one line per image.")
        seen[text] = number
        locations.append(text)
    if not locations:
        raise DatasetError(f"{file} lists no images. Fix: write one image path or URI a line.")
    return stat_files(locations)


def _from_prefix(prefix: str) -> list[FileStat]:
    found = [s for s in list_files(prefix) if _is_image(s.uri)]
    if not found:
        raise DatasetError(f"No image files under {prefix} (looked for "
                           f"{', '.join(sorted(IMAGE_EXTENSIONS))}).")
    return found


def _is_image(uri: str) -> bool:
    name = PurePosixPath(uri.split("://", 1)[-1]).name
    return not name.startswith(".") and PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def _parts(location: str) -> tuple[str, list[str]]:
    """('scheme://' or '', path components) of a URI or a local path."""
    if is_uri(location):
        scheme, rest = location.split("://", 1)
        if scheme.lower() == "file":  # the same files as local paths: a list may mix both
            return "", [p for p in rest.split("/") if p]
        return scheme + "://", [p for p in rest.split("/") if p]
    return "", [p for p in PurePosixPath(location).parts if p != "/"]


def _common_root(locations: list[str]) -> str:
    heads = {_parts(location)[0] for location in locations}
    if len(heads) > 1:
        raise DatasetError(f"The list mixes locations of different kinds ({', '.join(sorted(heads))}"
                           f"). Fix: list images of one file system (all local paths, or all "
                           f"s3://, ...).")
    head = heads.pop()
    folders = [_parts(location)[1][:-1] for location in locations]
    common = folders[0]
    for parts in folders[1:]:
        length = 0
        while length < min(len(common), len(parts)) and common[length] == parts[length]:
            length += 1
        common = common[:length]
    joined = "/".join(common)
    return head + joined if head else "/" + joined


def _relative(location: str, root: str) -> str:
    head, parts = _parts(location)
    root_parts = _parts(root)[1]
    return "/".join(parts[len(root_parts):])


def _targets_at(root: str, *, images: int):
    """The parsed targets file at the root (read wherever it lives), or None; it may list at
    most the `images` found plus the targets module's slack."""
    from core.datasets.targets import find_targets_file

    if not is_uri(root):
        file = find_targets_file(Path(root))
        return read_targets_file(file, images=images) if file else None
    present = [f"{root}/{name}" for name in TARGET_FILES if is_file(f"{root}/{name}")]
    if len(present) > 1:
        raise DatasetError(f"{root} has both {TARGET_FILES[0]} and {TARGET_FILES[1]}; keep one "
                           f"targets file.")
    if not present:
        return None
    return read_targets_file(ShownName(present[0]), data=read_bytes(present[0]), images=images)


def _listed_in(table, stats: list[FileStat], rels: list[str], *, root: str):
    """The images the targets file lists; a listed path that is not among them names its row."""
    present = set(rels)
    for path, where in zip(table.paths, table.row_labels):
        if path not in present:
            raise DatasetError(f"{table.file}, {where}: lists {path}, but there is no such image "
                               f"under {root}. Fix: correct the path (relative to {root}, "
                               f"'/'-separated) or remove the row.")
    listed = set(table.paths)
    kept = [(s, r) for s, r in zip(stats, rels) if r in listed]
    return [s for s, _ in kept], [r for _, r in kept]


def _classes(rels: list[str], *, source: str, with_targets: bool
             ) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names from the first path component below the root (all labels 0 with a targets
    file and no class folders)."""
    nested = [len(rel.split("/")) > 1 for rel in rels]
    if not all(nested):
        if with_targets and not any(nested):
            return (), np.zeros(len(rels), dtype=np.int64)
        loose = rels[nested.index(False)]
        raise DatasetError(f"{source}: {loose} is not inside a class folder, so it has no label. "
                           f"Fix: keep every image in a <class>/ folder below the common root, "
                           f"or give numeric targets in a targets.csv there.")
    names = tuple(sorted({rel.split("/", 1)[0] for rel in rels}))
    if len(names) < 2 and not with_targets:
        raise DatasetError(f"{source} has only one class ('{names[0]}'); a classifier needs at "
                           f"least two. Fix: add images of another class folder.")
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([index[rel.split("/", 1)[0]] for rel in rels], dtype=np.int64)


def _fingerprint(stats: Sequence[FileStat], labels: np.ndarray, splits: np.ndarray,
                 class_names: tuple[str, ...]) -> str:
    hasher = new_hasher()
    hasher.update(b"image-uris-v1\0")
    hasher.update("\0".join(class_names).encode() + b"\0\0")
    for stat in stats:
        hasher.update(f"{stat.uri}\0{stat.size}\0{stat.mtime_ns}\0".encode())
    hasher.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    hasher.update(np.ascontiguousarray(splits, dtype=np.uint8).tobytes())
    return hasher.hexdigest()
