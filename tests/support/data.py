"""Test data built on the fly: digits feature sets for the analysis tests (no extraction
needed), and image folders, .zip archives and targets files for the dataset tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from core.datasets import load_dataset
from core.features.feature_sets import from_arrays, pixel_values


# --- feature sets ---

def digits_pixels(*, cache_dir=None):
    """All 1,797 digits as 64 pixel features with the dataset's own splits."""
    return pixel_values(dataset=load_dataset(name="digits"), cache_dir=cache_dir)


def digits_pixels_subset(*, n: int = 400, cache_dir=None):
    full = digits_pixels(cache_dir=cache_dir)
    rows = np.sort(np.random.default_rng(0).choice(full.n, size=n, replace=False))
    return from_arrays(values=np.asarray(full.values)[rows], labels=full.labels[rows],
                       splits=full.splits[rows], sample_ids=full.sample_ids[rows],
                       class_names=full.class_names, name=f"digits-pixels-{n}",
                       cache_dir=cache_dir)


def with_flipped_labels(tv, *, fraction: float, seed: int, cache_dir=None):
    """A copy of tv with `fraction` of its labels moved to another random class."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(tv.labels).copy()
    flipped = rng.choice(tv.n, size=max(1, int(round(fraction * tv.n))), replace=False)
    num_classes = len(tv.class_names)
    labels[flipped] = (labels[flipped] + rng.integers(1, num_classes, size=len(flipped))) % num_classes
    noisy = from_arrays(values=np.asarray(tv.values), labels=labels, splits=tv.splits,
                        sample_ids=tv.sample_ids, class_names=tv.class_names,
                        name=f"noisy-{seed}", cache_dir=cache_dir)
    return noisy, flipped


# --- image folders ---

def make_folder(root: Path, rng: np.random.Generator, *, per_class: int = 8) -> None:
    """cats/dogs/owls of random sizes and modes (RGB, L, P, RGBA), each class with its own
    dominant channel, plus one broken file (dogs/broken.jpg) the loader must skip."""
    from PIL import Image

    for c, name in enumerate(["cats", "dogs", "owls"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            w, h = rng.integers(20, 90, 2)
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            pixels[..., c] = 255  # each class has its own dominant channel
            mode = ["RGB", "L", "P", "RGBA"][i % 4]
            Image.fromarray(pixels).convert(mode).save(root / name / f"{i}.png")
    (root / "dogs" / "broken.jpg").write_bytes(b"not really a jpeg")


def digit_pngs(classes=("0", "1", "7"), per_class: int = 12) -> dict[str, bytes]:
    """Real digit images as PNG files in class folders (for folder and .zip datasets)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    files = {}
    for name in classes:
        rows = np.flatnonzero(bunch.target == int(name))[:per_class]
        for i, row in enumerate(rows):
            pixels = np.round(bunch.images[row] * 255 / 16).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels).resize((24, 24), Image.NEAREST).save(buffer, format="PNG")
            files[f"digit_{name}/img_{i:02d}.png"] = buffer.getvalue()
    return files


def write_folder(folder: Path, *, per_class: int = 30, bad_row: str | None = None,
                 header: str = "path,ink,width") -> Path:
    """Class folders of digit PNGs and a targets.csv (`ink`: mean brightness / 255;
    `width`: a second target). `bad_row` replaces the third data row verbatim."""
    from PIL import Image

    lines = [header]
    for name, data in digit_pngs(per_class=per_class).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        pixels = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)
        columns = np.flatnonzero(pixels.max(axis=0) > 0)
        lines.append(f"{name},{pixels.mean() / 255:.6f},{columns.size}")
    if bad_row is not None:
        lines[3] = bad_row
    (folder / "targets.csv").write_text("\n".join(lines) + "\n")
    return folder


# --- .zip archives ---

def jpeg_bytes(seed: int) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str | zipfile.ZipInfo, bytes],
              compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def dataset_members(prefix: str = "flowers/") -> dict[str, bytes]:
    """Two classes of four JPEGs under `prefix`, a licence file, and the Finder litter
    (__MACOSX, .DS_Store) that must not reach the dataset."""
    members = {f"{prefix}{cls}/{i}.jpg": jpeg_bytes(10 * c + i)
               for c, cls in enumerate(("daisy", "roses")) for i in range(4)}
    members[f"{prefix}LICENSE.txt"] = b"cc-by"
    # Finder adds these; they must not reach the dataset.
    members[f"__MACOSX/{prefix}daisy/._0.jpg"] = b"AppleDouble"
    members[f"{prefix}.DS_Store"] = b"\0\0\0\1Bud1"
    return members


def only_entries(dest: Path) -> list[str]:
    """The names directly in `dest`, sorted (what an extraction left there)."""
    return sorted(p.name for p in dest.iterdir())


def write_png(path: Path, seed: int) -> Path:
    """A 12×10 RGB PNG of random pixels (seeded)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def flat_folder(root: Path, n: int = 12) -> list[str]:
    """`n` PNGs directly in `root` (a folder without classes); their names."""
    names = [f"img_{i:02d}.png" for i in range(n)]
    for i, name in enumerate(names):
        write_png(root / name, seed=i)
    return names


def write_targets_csv(root: Path, text: str) -> Path:
    file = root / "targets.csv"
    file.write_text(text)
    return file


def huge_parquet_bytes(rows: int = 4_000_000) -> bytes:
    """A targets.parquet of `rows` identical rows (one dictionary entry, run-length encoded):
    ~18 KB on disk, ~2 KB zipped; read whole, 4,000,000 rows took ~860 MB (issue 27)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    index = pa.array(np.zeros(rows, np.int8))
    table = pa.table({"path": pa.DictionaryArray.from_arrays(index, pa.array(["daisy/0.jpg"])),
                      "length": pa.DictionaryArray.from_arrays(index, pa.array([1.0]))})
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd", data_page_size=1 << 30,
                   write_statistics=False, row_group_size=rows)
    return out.getvalue()

def planted_noise_zip(path: Path, *, classes=("3", "5", "8"), per_class: int = 30,
                      flips: int = 8) -> dict[str, str]:
    """A .zip of real digit images (24 px PNGs) in train/ val/ test/ class folders, the last
    `flips` images of each class filed under another class in train and val only (test
    labels stay clean). Returns {member path: its true class} of the moved images."""
    files = digit_pngs(classes=classes, per_class=per_class)
    members, moved = {}, {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            split = "test" if i < per_class // 5 else "val" if i < per_class * 2 // 5 else "train"
            folder = name
            if split != "test" and i >= per_class - flips:  # planted: under another class
                folder = classes[(c + 1 + i % 2) % len(classes)]
            member = f"noisy/{split}/{folder}/{name}_{i:02d}.png"
            if folder != name:
                moved[member] = name
            members[member] = files[f"digit_{name}/img_{i:02d}.png"]
    write_zip(path, members)
    return moved
