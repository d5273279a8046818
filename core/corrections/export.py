"""Take a cleaned dataset away: the corrections file, a `path,label` CSV of the corrected
dataset (excluded samples dropped), and a class-folder tree — a zip (written to any binary
stream, or as bytes) or a folder (hard links where the file system allows, else copies).
Samples without files (array datasets) are written as PNGs.

In the zip and the folder each class is a folder (its name made safe for file systems by
`class_folder`), each image is named after its sample id, and `labels.csv` lists
`path,label` with the exact class names, so a tree round-trips whatever the names hold.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from core.base.atomic import atomic_folder, atomic_write_bytes
from core.corrections.overlay import Corrections, CorrectionsError
from core.datasets.base import FileImages, ImageDataset

LABELS_FILE = "labels.csv"
MAX_ZIP_BYTES = 2_000_000_000  # a zip for download: the app holds it in memory


@dataclass(frozen=True)
class CleanedSample:
    row: int
    sample_id: str
    label: str
    member: str  # relative path inside the tree: <class folder>/<file name>
    source: Path | None  # the image file, or None: pixels to write as PNG


def class_folder(name: str) -> str:
    """A class name as a folder name: path separators and control characters replaced."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name).strip(" .")
    return safe or "_"


def _check_dataset(dataset: ImageDataset, corrections: Corrections) -> None:
    if not np.array_equal(np.asarray(dataset.sample_ids).astype(str), corrections.sample_ids):
        raise CorrectionsError(f"dataset '{dataset.name}' is not the one these corrections "
                               f"were made on (its sample ids differ)")


def cleaned_samples(*, dataset: ImageDataset, corrections: Corrections) -> list[CleanedSample]:
    """The corrected dataset's samples in row order, excluded ones dropped."""
    _check_dataset(dataset, corrections)
    labels, kept = corrections.labels_and_kept()
    folders = [class_folder(c) for c in corrections.class_names]
    if len(set(folders)) != len(folders):  # e.g. "a/b" and "a_b": keep them apart
        folders = [f"{i:03d}_{f}" for i, f in enumerate(folders)]
    files = dataset.images.paths if isinstance(dataset.images, FileImages) else None
    samples = []
    for row in np.flatnonzero(kept):
        sample_id = str(dataset.sample_ids[row])
        source = None if files is None else Path(files[row])
        suffix = source.suffix.lower() if source is not None else ".png"
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id.replace("/", "__"))
        name = stem if stem.lower().endswith(suffix) else stem + suffix
        samples.append(CleanedSample(row=int(row), sample_id=sample_id,
                                     label=corrections.class_names[labels[row]],
                                     member=f"{folders[labels[row]]}/{name}", source=source))
    return samples


def cleaned_frame(*, dataset: ImageDataset, corrections: Corrections, tree: bool = False):
    """DataFrame path,label (and sample_id): the image files for a folder dataset, else (or
    with `tree=True`) the paths inside the exported tree."""
    import pandas as pd

    rows = cleaned_samples(dataset=dataset, corrections=corrections)
    return pd.DataFrame({
        "path": [s.member if (tree or s.source is None) else str(s.source) for s in rows],
        "label": [s.label for s in rows], "sample_id": [s.sample_id for s in rows]})


def export_corrections_file(*, corrections: Corrections, path: str | Path) -> Path:
    """The records (no undo history) as a JSON-lines corrections file."""
    atomic_write_bytes(path, corrections.to_jsonl(with_undo=False))
    return Path(path)


def export_csv(*, dataset: ImageDataset, corrections: Corrections, path: str | Path) -> Path:
    """`path,label` of the corrected dataset (plus sample_id), excluded samples dropped."""
    frame = cleaned_frame(dataset=dataset, corrections=corrections)
    atomic_write_bytes(path, frame.to_csv(index=False).encode())
    return Path(path)


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _contents(dataset: ImageDataset, samples: list[CleanedSample]) -> Iterator[tuple[CleanedSample, bytes | None]]:
    """Each sample with its PNG bytes (None: it has a file to copy)."""
    for sample in samples:
        yield sample, None if sample.source is not None else _png(dataset.images.get(sample.row))


def _labels_csv(samples: list[CleanedSample]) -> bytes:
    import pandas as pd

    return pd.DataFrame({"path": [s.member for s in samples], "label": [s.label for s in samples],
                         "sample_id": [s.sample_id for s in samples]}).to_csv(index=False).encode()


def write_cleaned_zip(*, dataset: ImageDataset, corrections: Corrections, target: BinaryIO,
                      max_bytes: int = MAX_ZIP_BYTES) -> int:
    """Write the class-folder zip (plus labels.csv and corrections.jsonl) to a binary
    stream; returns the bytes of image data written. Refused before any work when the files
    alone exceed `max_bytes`, and stopped when the images written do."""
    samples = cleaned_samples(dataset=dataset, corrections=corrections)
    files = sum(s.source.stat().st_size for s in samples if s.source is not None)
    if files > max_bytes:
        raise CorrectionsError(f"the cleaned dataset's files hold {files:,} bytes, more than "
                               f"a zip may ({max_bytes:,}). Fix: export a folder from the CLI "
                               f"(python -m core corrections export --folder OUT).")
    written = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for sample, data in _contents(dataset, samples):
            if data is None:
                archive.write(sample.source, sample.member)
                written += sample.source.stat().st_size
            else:
                archive.writestr(sample.member, data)
                written += len(data)
            if written > max_bytes:
                raise CorrectionsError(f"the cleaned zip passed {max_bytes:,} bytes; export a "
                                       f"folder from the CLI instead")
        archive.writestr(LABELS_FILE, _labels_csv(samples))
        archive.writestr("corrections.jsonl", corrections.to_jsonl(with_undo=False))
    return written


def cleaned_zip_bytes(*, dataset: ImageDataset, corrections: Corrections,
                      max_bytes: int = MAX_ZIP_BYTES) -> bytes:
    """The class-folder zip in memory (a download button's data)."""
    buffer = io.BytesIO()
    write_cleaned_zip(dataset=dataset, corrections=corrections, target=buffer,
                      max_bytes=max_bytes)
    return buffer.getvalue()


def export_folder(*, dataset: ImageDataset, corrections: Corrections, out: str | Path) -> dict:
    """Write the class-folder tree to `out` (which must not exist yet), atomically: files
    hard-linked where the file system allows, else copied; array images as PNGs. Returns
    counts of linked, copied and written images."""
    from core.base.public import refuse_if_public

    refuse_if_public("Exporting a folder", why="visitors cannot choose paths on the server")
    out = Path(out)
    if out.exists():
        raise CorrectionsError(f"{out} exists; choose a new folder to export into")
    samples = cleaned_samples(dataset=dataset, corrections=corrections)
    counts = {"linked": 0, "copied": 0, "written": 0}
    with atomic_folder(out, replace=False) as tmp:
        for sample, data in _contents(dataset, samples):
            target = tmp / sample.member
            target.parent.mkdir(parents=True, exist_ok=True)
            if data is not None:
                target.write_bytes(data)
                counts["written"] += 1
                continue
            try:
                os.link(sample.source, target)
                counts["linked"] += 1
            except OSError:  # another file system, or links not allowed
                shutil.copy2(sample.source, target)
                counts["copied"] += 1
        (tmp / LABELS_FILE).write_bytes(_labels_csv(samples))
        (tmp / "corrections.jsonl").write_bytes(corrections.to_jsonl(with_undo=False))
    return {"folder": str(out), "images": len(samples), **counts}
