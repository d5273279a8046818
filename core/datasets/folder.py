"""Datasets from a folder of class sub-folders (the flower_photos layout), with optional
train/val/test split folders, and numeric targets from a `targets.csv`/`.parquet` at the
root (`core.datasets.targets`); with a targets file, class folders are optional."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.base.splits import SPLIT_CODES, TRAIN
from core.datasets.base import FileImages, ImageDataset, SkippedFile, stratified_splits
from core.datasets.image_io import IMAGE_EXTENSIONS, ImageReadError, verify_image
from core.datasets.targets import TargetTable, find_targets_file, read_targets_file
from core.base.errors import DatasetError
from core.base.hashing import hash_file, new_hasher
from core.base.progress import ProgressCallback, ProgressTracker
from core.base.public import is_public
from core.datasets.uploads import shown_path, shown_subject

PHOTO_CROP_FRACTION = 0.875

# Folder names that mark layout B (split folders), mapped to our split names.
SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "valid": "val",
                 "test": "test"}

# Files that are plainly not images are ignored without a report; anything else that is
# not a decodable image is reported in `dataset.skipped` so nothing vanishes silently.
_NOT_IMAGE_EXTENSIONS = frozenset({
    ".txt", ".md", ".rst", ".json", ".jsonl", ".csv", ".tsv", ".xml", ".yaml", ".yml", ".toml",
    ".ini", ".cfg", ".log", ".html", ".htm", ".pdf", ".doc", ".docx", ".rtf", ".py", ".ipynb",
    ".sh", ".db", ".url", ".lnk", ".zip", ".tar", ".gz", ".tgz", ".7z", ".npy", ".npz", ".pkl",
    ".h5", ".mat", ".pt", ".pth", ".onnx",
})
_NOT_IMAGE_NAMES = frozenset({
    "license", "licence", "readme", "copying", "notice", "authors", "changelog", "makefile",
})
_IGNORED_DIRS = frozenset({"__macosx", "__pycache__"})

# Files bigger than this are hashed and checked from disk instead of being read into memory
# once for both (the normal path, which saves a second read of every photo).
_IN_MEMORY_LIMIT = 64 << 20
UNLISTED_REASON = "not listed in"  # how an image the targets file leaves out is reported


@dataclass(frozen=True)
class _Candidate:
    rel: str  # POSIX path relative to the dataset root; becomes the sample id
    path: Path
    class_name: str | None  # None in a flat folder (numeric targets, no classes)
    split: str | None  # None in layout A (split drawn later)


def load_image_folder(*, path: str | Path, val_fraction: float = 0.1, test_fraction: float = 0.1,
                      seed: int = 0, verify: bool = True, workers: int | None = None,
                      progress: ProgressCallback | None = None) -> ImageDataset:
    """Load `path/<class>/<images>` or `path/{train,val,test}/<class>/<images>`.

    Layout A gets a seeded stratified split; layout B keeps its split folders and carves a
    missing val (or test) split out of train. With `verify`, every image is decoded (JPEGs
    at 1/8 scale) so broken files land in `dataset.skipped` instead of failing training.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        # Checked before the (slow) image check rather than after it.
        raise ValueError("val_fraction and test_fraction must be in [0, 1) and sum to less than 1")
    root = Path(path).expanduser()
    if not root.exists():
        folder = shown_subject(root, root=root) if is_public() else f"Dataset folder {root}"
        raise DatasetError(f"{folder} does not exist. Check the path; it should be a folder "
                           "with one sub-folder of images per class.")
    if not root.is_dir():
        raise DatasetError(f"{shown_subject(root, root=root)} is a file, not a folder. Point to "
                           "the folder that holds one sub-folder of images per class (or "
                           "upload it as a .zip).")
    root = root.resolve()

    targets_file = find_targets_file(root)
    split_dirs = _split_folders(root)
    if split_dirs:
        scan = _scan_split_layout(root, split_dirs)
    elif targets_file is not None and not _subdirs(root):
        scan = _scan_flat(root)
    else:
        scan = _scan_class_layout(root)
    # the walk opened no file: the targets file may list at most the images it found
    table = read_targets_file(
        targets_file, images=len(scan.candidates) + len(scan.skipped),
        shown=shown_path(targets_file, root=root)) if targets_file else None
    if table is not None:
        _keep_listed(scan, root, table)
    digests = _check_and_hash(scan, verify=verify, workers=workers, progress=progress)
    kept = [c for c, d in zip(scan.candidates, digests) if d is not None]
    kept_digests = [d for d in digests if d is not None]
    if table is None:
        _check_classes(root, scan, kept, split_dirs=split_dirs)
        class_names = tuple(sorted(scan.class_folders))
    else:
        _check_some_kept(root, scan, kept, table)
        # classes are optional with targets: the ones that kept images (none when flat)
        class_names = tuple(sorted({c.class_name for c in kept if c.class_name is not None}))

    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index.get(c.class_name, 0) for c in kept], dtype=np.int64)
    if split_dirs:
        splits = _folder_splits(kept, labels, val_fraction=val_fraction,
                                test_fraction=test_fraction, seed=seed)
    else:
        splits = stratified_splits(labels, val_fraction=val_fraction,
                                   test_fraction=test_fraction, seed=seed)
    rels = [c.rel for c in kept]
    dataset = ImageDataset(
        name=root.name,
        images=FileImages([c.path for c in kept], root=root),
        labels=labels,
        class_names=class_names,
        splits=splits.astype(np.uint8),
        sample_ids=np.array(rels, dtype=str),
        fingerprint=_fingerprint(rels, kept_digests, labels, splits, class_names),
        crop_fraction=PHOTO_CROP_FRACTION,
        skipped=tuple(sorted(scan.skipped, key=lambda s: s.path)),
        source=str(root),
    )
    if table is None:
        return dataset
    rows = table.row_of()
    order = np.array([rows[rel] for rel in rels], dtype=np.int64)
    return dataset.with_targets({name: values[order] for name, values in table.values.items()})


# --- scanning ---------------------------------------------------------------------------

@dataclass
class _Scan:
    """What the folder walk found, before any file is opened."""

    candidates: list[_Candidate] = field(default_factory=list)
    class_folders: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)
    skipped_by_class: dict[str, list[SkippedFile]] = field(default_factory=dict)

    def skip(self, item: SkippedFile, class_name: str | None) -> None:
        self.skipped.append(item)
        if class_name is not None:
            self.skipped_by_class.setdefault(class_name, []).append(item)


def _visible(name: str) -> bool:
    return not name.startswith(".") and name.lower() not in _IGNORED_DIRS


def _subdirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if _visible(e.name) and e.is_dir())


def _split_folders(root: Path) -> dict[str, Path]:
    """Split name -> folder when `root` is layout B (only split folders, train has classes)."""
    subdirs = _subdirs(root)
    if not subdirs or any(d.name.lower() not in SPLIT_FOLDERS for d in subdirs):
        return {}
    found: dict[str, Path] = {}
    for folder in subdirs:
        split = SPLIT_FOLDERS[folder.name.lower()]
        if split in found:
            raise DatasetError(f"{shown_subject(root, root=root)} has two folders for the "
                               f"{split} split: {found[split].name}/ and {folder.name}/. Keep "
                               f"only one.")
        found[split] = folder
    # A lone `train/` full of images (no class sub-folders) is really a class named
    # "train"; layout A handles it (and will ask for a second class).
    if "train" not in found or not _subdirs(found["train"]):
        return {}
    return found


def _file_kind(name: str) -> str:
    """'image', 'ignore' (plainly not an image) or 'unsupported' (report it)."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in _NOT_IMAGE_EXTENSIONS:
        return "ignore"
    if not suffix and name.lower() in _NOT_IMAGE_NAMES:
        return "ignore"
    return "unsupported"


def _unsupported_reason(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    supported = ", ".join(sorted(IMAGE_EXTENSIONS))
    if not suffix:
        return f"no file extension; rename it if it is an image (supported: {supported})"
    return f"unsupported file type {suffix}; convert it to JPEG or PNG (supported: {supported})"


def _walk_class(scan: _Scan, root: Path, folder: Path, split: str | None) -> None:
    """Collect the image files under a class folder, recursively, hidden entries excluded."""
    class_name = folder.name
    scan.class_folders.setdefault(class_name, []).append(folder)
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if _visible(d))
        for name in sorted(filenames):
            if name.startswith("."):
                continue  # .DS_Store, ._foo.jpg (AppleDouble), editor swap files
            file_path = Path(dirpath) / name
            rel = file_path.relative_to(root).as_posix()
            kind = _file_kind(name)
            if kind == "image":
                scan.candidates.append(_Candidate(rel, file_path, class_name, split))
            elif kind == "unsupported":
                scan.skip(SkippedFile(rel, _unsupported_reason(name)), class_name)


def _report_loose_files(scan: _Scan, root: Path, folder: Path) -> None:
    """Images lying next to the class folders belong to no class: report, don't guess."""
    where = folder.relative_to(root).as_posix() + "/" if folder != root else ""
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if _visible(entry.name) and entry.is_file() and _file_kind(entry.name) == "image":
                rel = Path(entry.path).relative_to(root).as_posix()
                scan.skip(SkippedFile(rel, f"not inside a class folder; move it into "
                                           f"{where}<class>/"), None)


def _scan_class_layout(root: Path) -> _Scan:
    scan = _Scan()
    class_dirs = _subdirs(root)
    if not class_dirs:
        raise DatasetError(f"{shown_subject(root, root=root)} has no class sub-folders. Put "
                           f"each class's images in its own sub-folder, e.g. "
                           f"{shown_path(root / 'cats', root=root)}/*.jpg and "
                           f"{shown_path(root / 'dogs', root=root)}/*.jpg; "
                           f"or, for numeric targets, add a targets.csv at its root (a 'path' "
                           f"column and one numeric column per target).")
    _report_loose_files(scan, root, root)
    for folder in class_dirs:
        _walk_class(scan, root, folder, None)
    return scan


def _scan_flat(root: Path) -> _Scan:
    """A folder of images without class folders (allowed with a targets file)."""
    scan = _Scan()
    with os.scandir(root) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            kind = _file_kind(entry.name)
            if kind == "image":
                scan.candidates.append(_Candidate(entry.name, Path(entry.path), None, None))
            elif kind == "unsupported":
                scan.skip(SkippedFile(entry.name, _unsupported_reason(entry.name)), None)
    return scan


def _keep_listed(scan: _Scan, root: Path, table: TargetTable) -> None:
    """Keep the candidates the targets file lists; skip (and count) the others. A listed
    path that is no file of the folder is an error naming its row."""
    listed = set(table.paths)
    kept = []
    for candidate in scan.candidates:
        if candidate.rel in listed:
            kept.append(candidate)
        else:
            scan.skip(SkippedFile(candidate.rel, f"{UNLISTED_REASON} {table.file.name}; add a row "
                                                 f"for it to use it"), candidate.class_name)
    found = {c.rel for c in scan.candidates} | {s.path for s in scan.skipped}
    for path, where in zip(table.paths, table.row_labels):
        if path not in found and not (root / path).is_file():
            raise DatasetError(f"{table.file}, {where}: lists {path}, but there is no such "
                               f"image in {shown_path(root, root=root)}. Fix: correct the path "
                               f"(relative to the folder, '/'-separated) or remove the row.")
    scan.candidates = kept


def _shown_file(root: Path, rel: str) -> str:
    """A dataset file (`rel`: its sample id) as messages name it: in a public app as inside
    the visitor's .zip, elsewhere relative to the dataset folder (as before)."""
    return shown_path(root / rel, root=root) if is_public() else rel


def _check_some_kept(root: Path, scan: _Scan, kept: list[_Candidate], table: TargetTable) -> None:
    if kept:
        return
    example = (f" (e.g. {_shown_file(root, scan.skipped[0].path)}: "
               f"{scan.skipped[0].reason})" if scan.skipped else "")
    raise DatasetError(f"None of the {len(table.paths)} images {table.file.name} lists could "
                       f"be read from {shown_path(root, root=root)}{example}. Fix: list the "
                       f"folder's images, with paths relative to it.")


def _scan_split_layout(root: Path, split_dirs: dict[str, Path]) -> _Scan:
    scan = _Scan()
    for split, split_dir in split_dirs.items():
        _report_loose_files(scan, root, split_dir)
        for folder in _subdirs(split_dir):
            _walk_class(scan, root, folder, split)
    scan.candidates.sort(key=lambda c: c.rel)
    return scan


# --- checking and hashing ---------------------------------------------------------------

def _check_and_hash(scan: _Scan, *, verify: bool, workers: int | None,
                    progress: ProgressCallback | None) -> list[str | None]:
    """Content digest per candidate, or None (and a SkippedFile) when it cannot be used.

    Each file is read once: the same bytes are hashed and, with `verify`, decoded. Threads
    give real parallelism here because hashlib and Pillow's decoders release the GIL.
    """
    from core.base.public import policy

    rules = policy()  # a public app also caps the pixels of each uploaded image
    max_pixels = rules.max_image_pixels if rules.enabled else None

    def check(candidate: _Candidate) -> tuple[str | None, str | None]:
        try:
            if candidate.path.stat().st_size > _IN_MEMORY_LIMIT:
                digest = hash_file(candidate.path)
                if verify:
                    verify_image(candidate.path, path=candidate.rel, max_pixels=max_pixels)
                return digest, None
            data = candidate.path.read_bytes()
            hasher = new_hasher()  # same digest as hash_file gives for large files
            hasher.update(data)
            digest = hasher.hexdigest()
            if verify:
                verify_image(data, path=candidate.rel, max_pixels=max_pixels)
            return digest, None
        except ImageReadError as exc:
            return None, exc.reason
        except OSError as exc:
            return None, f"cannot read file: {exc.strerror or exc}"

    candidates = scan.candidates
    tracker = ProgressTracker(stage="Checking images" if verify else "Hashing images",
                              total=len(candidates), callback=progress)
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    digests: list[str | None] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (candidate, (digest, reason)) in enumerate(
                zip(candidates, pool.map(check, candidates)), start=1):
            digests.append(digest)
            if reason is not None:
                scan.skip(SkippedFile(candidate.rel, reason), candidate.class_name)
            if progress is not None and (done % 64 == 0 or done == len(candidates)):
                tracker.update(done)
    return digests


def _check_classes(root: Path, scan: _Scan, kept: list[_Candidate], *,
                   split_dirs: dict[str, Path]) -> None:
    """Every class needs readable (training) images, and there must be two classes."""
    if not scan.class_folders:
        raise DatasetError(f"{shown_subject(root, root=root)} has no class sub-folders. Put "
                           f"each class's images in its own sub-folder, e.g. "
                           f"{shown_path(root / 'cats', root=root)}/*.jpg.")
    kept_classes = {c.class_name for c in kept}
    for name, folders in sorted(scan.class_folders.items()):
        if name in kept_classes:
            continue
        bad = scan.skipped_by_class.get(name, [])
        example = (f", e.g. {_shown_file(root, bad[0].path)}: {bad[0].reason}"
                   if bad else "")
        where = " and ".join(shown_path(f, root=root) for f in folders)
        raise DatasetError(f"Class folder {where} has no readable images ({len(bad)} file(s) "
                           f"skipped{example}). Add images to it or remove the folder.")
    if split_dirs:
        train_classes = {c.class_name for c in kept if c.split == "train"}
        for name in sorted(scan.class_folders):
            if name not in train_classes:
                elsewhere = sorted({c.split for c in kept if c.class_name == name})
                raise DatasetError(f"Class '{name}' has images in {' and '.join(elsewhere)} but "
                                   f"none in {shown_path(split_dirs['train'] / name, root=root)}. "
                                   f"Add training images "
                                   "for it or remove it from the other splits.")
    if len(scan.class_folders) < 2:
        only = next(iter(scan.class_folders))
        raise DatasetError(f"{shown_subject(root, root=root)} has only one class ('{only}'); a "
                           "classifier needs at least two. Add another class sub-folder.")


def _folder_splits(kept: list[_Candidate], labels: np.ndarray, *, val_fraction: float,
                   test_fraction: float, seed: int) -> np.ndarray:
    """Split codes from the split folders; a missing val/test split is drawn from train."""
    splits = np.array([SPLIT_CODES[c.split] for c in kept], dtype=np.uint8)
    present = set(c.split for c in kept)
    carve_val = val_fraction if "val" not in present else 0.0
    carve_test = test_fraction if "test" not in present else 0.0
    if carve_val or carve_test:
        train = np.flatnonzero(splits == TRAIN)
        drawn = stratified_splits(labels[train], val_fraction=carve_val,
                                  test_fraction=carve_test, seed=seed)
        splits[train] = drawn
    return splits


def _fingerprint(rels: list[str], digests: list[str], labels: np.ndarray, splits: np.ndarray,
                 class_names: tuple[str, ...]) -> str:
    """Hash of every file's relative path and bytes, plus labels, splits and class names."""
    hasher = new_hasher()
    hasher.update(b"image-folder-v1\0")
    hasher.update("\0".join(class_names).encode() + b"\0\0")
    for rel, digest in zip(rels, digests):
        hasher.update(rel.encode() + b"\0" + bytes.fromhex(digest))
    hasher.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    hasher.update(np.ascontiguousarray(splits, dtype=np.uint8).tobytes())
    return hasher.hexdigest()
