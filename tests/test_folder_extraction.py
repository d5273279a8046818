"""Folder datasets through extraction: mixed sizes and modes, skipped files kept in the manifest."""

import numpy as np
from PIL import Image

from core.datasets import load_dataset
from core.features.transfer_values import compute_transfer_values


def make_folder(root, rng):
    for c, name in enumerate(["cats", "dogs", "owls"]):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(8):
            w, h = rng.integers(20, 90, 2)
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            pixels[..., c] = 255  # each class has its own dominant channel
            mode = ["RGB", "L", "P", "RGBA"][i % 4]
            Image.fromarray(pixels).convert(mode).save(folder / f"{i}.png")
    (root / "dogs" / "broken.jpg").write_bytes(b"not really a jpeg")


def test_folder_extracts_and_reports_skipped(tmp_path, tiny_backbone):
    make_folder(tmp_path / "pets", np.random.default_rng(0))
    data = load_dataset(name=str(tmp_path / "pets"))
    assert len(data) == 24 and data.class_names == ("cats", "dogs", "owls")
    assert [s.path for s in data.skipped] == ["dogs/broken.jpg"]
    tv = compute_transfer_values(dataset=data, backbone=tiny_backbone, batch_size=5)
    assert tv.values.shape == (24, 16) and np.isfinite(tv.values).all()
    assert tv.manifest["skipped_files"][0]["path"] == "dogs/broken.jpg"
    # the class signal survives: a nearest-centroid check on the tiny features beats chance
    centroids = np.stack([tv.values[tv.labels == c].mean(0) for c in range(3)])
    predicted = np.argmin(((tv.values[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (predicted == tv.labels).mean() > 0.6
