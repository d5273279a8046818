"""Datasets from image URIs (a .txt list or a URI prefix) without Ray: labels from class
folders or a targets file, the fingerprint, and the errors for a missing or unreachable URI."""

import time

import numpy as np
import pytest
from PIL import Image

from core.base.errors import DatasetError
from core.datasets import load_dataset
from core.datasets.uri_dataset import UriImages, load_uri_dataset
from core.datasets.uri_io import read_image


def make_photos(root, rng, classes=("cats", "dogs"), per_class=5):
    files = []
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = rng.integers(20, 60, 2)
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            pixels[..., c] = 255
            path = root / name / f"{i}.png"
            Image.fromarray(pixels).save(path)
            files.append(path)
    return files


def test_a_list_and_a_file_prefix_label_by_class_folder_like_the_folder(tmp_path):
    files = make_photos(tmp_path / "pets", np.random.default_rng(0))
    listing = tmp_path / "pets.txt"
    listing.write_text("# my photos\n" + "\n".join(f"file://{f}" for f in files) + "\n")
    from_list = load_dataset(name=str(listing))
    from_prefix = load_dataset(name=f"file://{tmp_path / 'pets'}/")
    folder = load_dataset(name=str(tmp_path / "pets"))
    for data in (from_list, from_prefix):
        assert isinstance(data.images, UriImages) and len(data) == 10
        assert data.class_names == folder.class_names == ("cats", "dogs")
        np.testing.assert_array_equal(data.labels, folder.labels)
        np.testing.assert_array_equal(data.sample_ids, folder.sample_ids)  # cats/0.png, ...
        np.testing.assert_array_equal(data.splits, folder.splits)  # same seeded split
        assert data.crop_fraction == folder.crop_fraction
        np.testing.assert_array_equal(data.images.get(3), folder.images.get(3))
        assert "size and modification time" in data.source
    assert from_list.fingerprint == from_prefix.fingerprint != folder.fingerprint
    assert from_list.name == "pets" == from_prefix.name
    # local paths in a list (absolute, or relative to the list) read the same files
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(str(f.relative_to(tmp_path)) for f in files))
    local = load_dataset(name=str(plain))
    np.testing.assert_array_equal(local.labels, folder.labels)
    assert local.images.locations[0] == str(files[0])


def test_the_fingerprint_follows_size_and_mtime(tmp_path):
    files = make_photos(tmp_path / "pets", np.random.default_rng(1))
    prefix = f"file://{tmp_path / 'pets'}"
    before = load_uri_dataset(source=prefix).fingerprint
    assert load_uri_dataset(source=prefix).fingerprint == before
    time.sleep(0.01)
    Image.new("RGB", (30, 30), (1, 2, 3)).save(files[0])  # rewritten: other size and time
    assert load_uri_dataset(source=prefix).fingerprint != before


def test_labels_from_a_targets_file_at_the_root(tmp_path):
    files = make_photos(tmp_path / "pets", np.random.default_rng(2))
    (tmp_path / "pets" / "targets.csv").write_text(
        "path,length\n" + "".join(f"{f.parent.name}/{f.name},{i}.5\n"
                                  for i, f in enumerate(files) if i != 4))
    data = load_dataset(name=f"file://{tmp_path / 'pets'}")
    assert len(data) == 9  # the unlisted image is left out
    target = data.target("length")
    assert dict(zip(target.sample_ids, target.values))["dogs/0.png"] == 5.5
    (tmp_path / "pets" / "targets.csv").write_text("path,length\ncats/0.png,1\nowls/9.png,2\n")
    with pytest.raises(DatasetError, match=r"targets.csv, line 3: lists owls/9.png, but there "
                                           r"is no such image under file://"):
        load_dataset(name=f"file://{tmp_path / 'pets'}")


def test_a_missing_uri_is_an_error_naming_it(tmp_path):
    files = make_photos(tmp_path / "pets", np.random.default_rng(3))
    gone = tmp_path / "pets" / "dogs" / "9.png"
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([f"file://{files[0]}", f"file://{gone}", str(files[6])]))
    with pytest.raises(DatasetError, match=rf"Cannot read file://{gone}: no such file"):
        load_dataset(name=str(listing))
    listing.write_text(f"file://{files[0]}\nfile://{files[0]}\n")
    with pytest.raises(DatasetError, match="line 2: .* is listed twice"):
        load_dataset(name=str(listing))
    with pytest.raises(DatasetError, match="not inside a class folder"):
        load_uri_dataset(source=f"file://{tmp_path}/pets/cats")  # images right at the root
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("no images here")
    with pytest.raises(DatasetError, match="No image files under"):
        load_uri_dataset(source=f"file://{tmp_path}/docs")
    from core.datasets.image_io import ImageReadError

    with pytest.raises(ImageReadError, match=rf"Cannot read image file://{gone}: file not found"):
        read_image(f"file://{gone}")


def test_unreachable_object_store_or_unknown_scheme_is_a_clear_error():
    # offline (no network, no credentials): S3's region lookup fails; the message says what
    # to check instead of pyarrow's AWS error alone. (gs:// retries for GCS_RETRY_SECONDS.)
    with pytest.raises(DatasetError, match=r"Cannot read s3://transfer-lens-no-such-bucket/x/: "
                                           r".*Fix: check the URI, this machine's network, and "
                                           r"its credentials"):
        load_dataset(name="s3://transfer-lens-no-such-bucket/x/")
    with pytest.raises(DatasetError, match=r"Cannot read foo://x/y: .*Fix: use a scheme"):
        load_dataset(name="foo://x/y")
