"""Batch prediction's plumbing without a model: what counts as an image, and the table."""

import numpy as np
import pytest
from PIL import Image

from core.base.errors import DatasetError
from core.serving.batch_predict import batches_of, list_images, prediction_table


def test_list_images_walks_folders_lists_and_file_uris(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/1.png", "a/b/2.JPG", "3.webp"):
        Image.new("RGB", (4, 4)).save(tmp_path / name, format="PNG")
    (tmp_path / "notes.txt").write_text("not an image list")
    (tmp_path / ".hidden.png").write_bytes(b"")
    found = list_images(str(tmp_path))
    assert [p.removeprefix(str(tmp_path.resolve()) + "/") for p in found] == [
        "3.webp", "a/1.png", "a/b/2.JPG"]
    listing = tmp_path / "list.txt"
    listing.write_text("# chosen\n" + "\n".join(found[:2]) + "\n\n")
    assert list_images(str(listing)) == found[:2]
    assert list_images(f"file://{tmp_path / 'a'}") == [f"file://{tmp_path}/a/1.png",
                                                        f"file://{tmp_path}/a/b/2.JPG"]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.md").write_text("no images here")
    with pytest.raises(DatasetError, match="No image files"):
        list_images(str(tmp_path / "docs"))
    with pytest.raises(DatasetError, match="No folder or image"):
        list_images(str(tmp_path / "missing"))


def test_prediction_table_classification_and_regression():
    outputs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], dtype=np.float32)
    table = prediction_table(locations=["x.png", "y.png"], outputs=outputs, top_k=2,
                             class_names=["cat", "dog", "owl"])
    assert table["predicted"].tolist() == [1, 0]
    assert table["predicted_class"].tolist() == ["dog", "cat"]
    assert table["top2_class"].tolist() == ["owl", "owl"]
    np.testing.assert_allclose(table["top2_probability"], [0.2, 0.3])
    assert table.columns.tolist()[-1] == "top2_probability"
    values = prediction_table(locations=["x.png"], outputs=np.array([[3.5]], np.float32), top_k=5)
    assert values.columns.tolist() == ["path", "value"] and values["value"][0] == 3.5
    with pytest.raises(DatasetError, match="2 class names for a model with 3 outputs"):
        prediction_table(locations=["x", "y"], outputs=outputs, top_k=1, class_names=["a", "b"])


def test_batches_keep_order_and_positions():
    assert batches_of(["a", "b", "c", "d", "e"], 2) == [(0, ["a", "b"]), (2, ["c", "d"]),
                                                        (4, ["e"])]
