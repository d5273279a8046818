"""Targets files are bounded before they are parsed (issue 27): a 700-byte .zip holding a
4,000,000-row targets.parquet is refused from the Parquet footer, in a public upload, with a
message naming the file (relative to the upload), the count and the limit."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.base.errors import DatasetError
from core.base.paths import cache_root
from core.base.public import uploads_root
from core.datasets import targets as targets_module
from core.datasets.folder import load_image_folder
from core.datasets.targets import MAX_TARGETS_ROWS, TARGETS_ROW_SLACK, read_targets_file
from tests.support.data import dataset_members, huge_parquet_bytes, write_zip

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def huge_parquet() -> bytes:
    return huge_parquet_bytes()


@pytest.fixture
def public(monkeypatch):
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")


def test_a_tiny_zip_with_millions_of_rows_is_refused_from_the_footer(public, tmp_path,
                                                                      huge_parquet):
    from core.datasets.registry import load_dataset
    from core.datasets.zip_import import extract_zip_dataset

    members = dataset_members() | {"flowers/targets.parquet": huge_parquet}
    archive = write_zip(tmp_path / "rows.zip", members)
    with zipfile.ZipFile(archive) as opened:  # the "2 KB upload" of the rows
        assert opened.getinfo("flowers/targets.parquet").compress_size < 2_000
    root = extract_zip_dataset(zip_path_or_fileobj=archive,
                               dest_dir=uploads_root(cache_root()) / "session-rows")
    with pytest.raises(DatasetError) as caught:
        load_dataset(name=str(root))
    message = str(caught.value)
    limit = 8 + TARGETS_ROW_SLACK  # 8 images in the folder, plus the slack
    assert message.startswith(f"flowers/targets.parquet has 4,000,000 rows, over the limit of {limit:,}")
    assert "the dataset has 8 images" in message
    assert str(cache_root()) not in message and "public_uploads" not in message


def test_the_refusal_reads_only_the_footer(tmp_path, huge_parquet):
    """Peak memory of the refusal in a fresh process: the old whole read took ~860 MB."""
    file = tmp_path / "targets.parquet"
    file.write_bytes(huge_parquet)
    script = (
        "import json, resource, sys\n"
        "import pandas, pyarrow.parquet\n"
        "from pathlib import Path\n"
        "from core.datasets.targets import read_targets_file\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    read_targets_file(Path({str(file)!r}), images=8)\n"
        "except Exception as error:\n"
        "    message = str(error)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'rise_kb': after - before, 'message': message}))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "4,000,000 rows" in result["message"]
    assert result["rise_kb"] < 50_000, result  # < 50 MB


def test_csv_is_read_with_a_row_cap(tmp_path):
    file = tmp_path / "targets.csv"
    file.write_text("path,length\n" + "".join(f"img_{i}.png,{i}\n" for i in range(3_000)))
    with pytest.raises(DatasetError, match=r"targets\.csv has more than 1,010 rows, over the "
                                           r"limit of 1,010: the dataset has 10 images"):
        read_targets_file(file, images=10)
    assert len(read_targets_file(file, images=2_000).paths) == 3_000


def test_without_an_image_count_the_global_row_cap_applies(tmp_path, monkeypatch, huge_parquet):
    file = tmp_path / "targets.parquet"
    file.write_bytes(huge_parquet)
    monkeypatch.setattr(targets_module, "MAX_TARGETS_ROWS", 1_000_000)
    with pytest.raises(DatasetError, match=r"4,000,000 rows, over the limit of 1,000,000: "
                                           r"the limit is 1,000,000 rows"):
        targets_module.read_targets_file(file)
    assert MAX_TARGETS_ROWS == 2_000_000


def test_file_size_and_columns_are_bounded_before_parsing(tmp_path, monkeypatch):
    file = tmp_path / "targets.csv"
    file.write_text("path," + ",".join(f"t{i}" for i in range(1_500)) + "\n")
    with pytest.raises(DatasetError, match=r"targets\.csv has 1,501 columns, over the limit "
                                           r"of 1,001"):
        read_targets_file(file)
    monkeypatch.setattr(targets_module, "MAX_TARGETS_BYTES", 100)
    file.write_text("path,length\n" + "a.png,1\n" * 50)
    with pytest.raises(DatasetError, match=r"targets\.csv is 412 bytes, over the limit of 100"):
        read_targets_file(file)


def test_a_parquet_that_unpacks_past_the_size_limit(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = tmp_path / "targets.parquet"
    pq.write_table(pa.table({"path": ["a" * 100_000], "length": [1.0]}), file,
                   compression="zstd")
    assert file.stat().st_size < 2_000
    monkeypatch.setattr(targets_module, "MAX_TARGETS_BYTES", 50_000)
    with pytest.raises(DatasetError, match=r"targets\.parquet unpacks to [\d,]+ bytes, over "
                                           r"the limit of 50,000"):
        read_targets_file(file)


def test_a_few_rows_too_many_still_name_the_missing_image(tmp_path):
    from tests.support.data import flat_folder, write_targets_csv

    root = tmp_path / "lengths"
    names = flat_folder(root, n=4)
    write_targets_csv(root, "path,length\n" + "".join(f"{n},1\n" for n in names) + "gone.png,2\n")
    with pytest.raises(DatasetError, match=r"line 6: lists gone\.png, but there is no such "
                                           r"image"):
        load_image_folder(path=root)


def test_public_messages_name_paths_inside_the_upload(public, tmp_path):
    from core.datasets.zip_import import extract_zip_dataset

    members = {f"bags/bags_only/{i}.jpg": data for i, data in
               enumerate(dataset_members().values()) if data[:2] == b"\xff\xd8"}
    archive = write_zip(tmp_path / "one.zip", members)
    root = extract_zip_dataset(zip_path_or_fileobj=archive,
                               dest_dir=uploads_root(cache_root()) / "session-one")
    with pytest.raises(DatasetError) as caught:
        load_image_folder(path=root)
    assert str(caught.value).startswith("bags/ has only one class ('bags_only')")
    assert "public_uploads" not in str(caught.value)

    members = dataset_members() | {"flowers/targets.csv": b"path,length\nnope.jpg,1\n"}
    root = extract_zip_dataset(zip_path_or_fileobj=write_zip(tmp_path / "t.zip", members),
                               dest_dir=uploads_root(cache_root()) / "session-one")
    with pytest.raises(DatasetError) as caught:
        load_image_folder(path=root)
    assert str(caught.value).startswith("flowers/targets.csv, line 2: lists nope.jpg, but "
                                        "there is no such image in flowers/.")


def test_public_image_errors_name_the_path_inside_the_upload(public, tmp_path):
    from core.datasets.zip_import import extract_zip_dataset
    from core.datasets.image_io import ImageReadError

    archive = write_zip(tmp_path / "flowers.zip", dataset_members())
    root = extract_zip_dataset(zip_path_or_fileobj=archive,
                               dest_dir=uploads_root(cache_root()) / "session-img")
    dataset = load_image_folder(path=root)
    (root / "daisy" / "0.jpg").write_bytes(b"gone bad")  # damaged after loading
    with pytest.raises(ImageReadError) as caught:
        dataset.images.get(0)
    assert str(caught.value).startswith("Cannot read image flowers/daisy/0.jpg:")


def test_local_messages_keep_the_full_path(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC", raising=False)
    from tests.support.data import flat_folder

    root = tmp_path / "solo" / "only"
    flat_folder(root, n=3)
    with pytest.raises(DatasetError, match=f"^{tmp_path / 'solo'} has only one class"):
        load_image_folder(path=tmp_path / "solo")
