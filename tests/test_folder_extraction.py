"""Folder datasets through extraction: mixed sizes and modes, skipped files kept in the manifest."""

import numpy as np

from core.datasets import load_dataset
from core.features.transfer_values import compute_transfer_values
from tests.support.data import make_folder


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
