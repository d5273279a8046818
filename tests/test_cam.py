"""Class activation maps: exact for linear heads (the map averages to the logit), Grad-CAM
for the MLP, cached, at the image's size, and overlays."""

from __future__ import annotations

import numpy as np
import pytest

from core.datasets import load_dataset
from core.features.transfer_values import compute_transfer_values
from core.heads import train_head
from core.serving.cam import (class_activation_maps, linear_weights, overlay, peak,
                              side_by_side, to_image_size)

SIZE = 32  # tiny backbone: 32 → 15 → 7, a 7 × 7 grid


def _setup(backbone, cache, head, params=None, n=300):
    dataset = load_dataset(name="digits").limited(limit=n)
    tv = compute_transfer_values(dataset=dataset, backbone=backbone, image_size=SIZE,
                                 cache_dir=cache)
    trained = train_head(tv=tv, head=head, params=params, cache_dir=cache)
    return dataset, tv, trained


@pytest.mark.parametrize("head,params", [("logreg", None), ("softmax", {"epochs": 3})])
def test_linear_head_map_averages_to_its_logit(tiny_backbone, tmp_path, head, params):
    dataset, tv, trained = _setup(tiny_backbone, tmp_path, head, params)
    rows = np.arange(0, 40, 3)
    maps = class_activation_maps(dataset=dataset, tv=tv, trained=trained, indices=rows,
                                 backbone=tiny_backbone, cache_dir=tmp_path, batch_size=5)
    assert maps.method == "cam" and maps.predicted_grid.shape == (len(rows), 7, 7)
    kernel, bias = linear_weights(trained.model)
    logits = np.asarray(tv.values[rows], np.float64) @ kernel + bias
    # the exactness check: the map's mean over positions is the head's logit for its class
    picked = np.arange(len(rows))
    np.testing.assert_allclose(maps.predicted_grid.mean(axis=(1, 2)),
                               logits[picked, maps.predicted], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(maps.given_grid.mean(axis=(1, 2)),
                               logits[picked, np.asarray(dataset.labels)[rows]],
                               rtol=1e-3, atol=1e-3)
    # and the folded weights are the head's own: same probabilities as the head gives
    np.testing.assert_array_equal(maps.predicted, trained.predict(np.asarray(tv.values[rows])))
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probabilities / probabilities.sum(axis=1, keepdims=True),
                               trained.predict_proba(np.asarray(tv.values[rows])), atol=1e-4)
    again = class_activation_maps(dataset=dataset, tv=tv, trained=trained, indices=rows,
                                  backbone=tiny_backbone, cache_dir=tmp_path)
    assert again.cache == "hit"
    np.testing.assert_array_equal(again.predicted_grid, maps.predicted_grid)
    full = maps.predicted_map(0)
    assert full.shape == (8, 8) and np.isfinite(full).all()


def test_grad_cam_runs_for_the_mlp(tiny_backbone, tmp_path):
    dataset, tv, trained = _setup(tiny_backbone, tmp_path, "mlp", {"epochs": 3, "hidden": 32})
    assert linear_weights(trained.model) is None
    rows = np.arange(12)
    maps = class_activation_maps(dataset=dataset, tv=tv, trained=trained, indices=rows,
                                 backbone=tiny_backbone, cache_dir=tmp_path)
    assert maps.method == "grad-cam"
    assert (maps.predicted_grid >= 0).all() and maps.predicted_grid.max() > 0
    np.testing.assert_allclose(maps.logits.argmax(axis=1), maps.predicted)
    np.testing.assert_array_equal(maps.predicted, trained.predict(np.asarray(tv.values[rows])))
    assert maps.given_map(3).shape == (8, 8)


def test_the_fine_tuned_head_gets_the_exact_cam(tiny_backbone, tmp_path):
    """The fine-tuned model's classifier is linear on its backbone's pooled values: a
    "finetune" head holding logreg's folded weights gives logreg's maps (here on the tiny
    backbone standing in for a fine-tuned one)."""
    import dataclasses

    from core.heads.finetuned import FineTunedHead

    dataset, tv, trained = _setup(tiny_backbone, tmp_path, "logreg")
    head = FineTunedHead(params={"run_dir": ""}, seed=0)
    head.kernel_, head.bias_ = (np.asarray(w, np.float32) for w in linear_weights(trained.model))
    fine_tuned = dataclasses.replace(trained, head="finetune", model=head, key=None)
    rows = np.arange(6)
    ours, theirs = (class_activation_maps(dataset=dataset, tv=tv, trained=t, indices=rows,
                                          backbone=tiny_backbone, cache_dir=tmp_path)
                    for t in (fine_tuned, trained))
    assert ours.method == "cam" and ours.key != theirs.key
    np.testing.assert_allclose(ours.predicted_grid, theirs.predicted_grid, rtol=1e-5, atol=1e-5)


def test_bounds_and_helpers(tiny_backbone, tmp_path):
    dataset, tv, trained = _setup(tiny_backbone, tmp_path, "logreg")
    with pytest.raises(ValueError, match="sample indices"):
        class_activation_maps(dataset=dataset, tv=tv, trained=trained, indices=[len(dataset)],
                              backbone=tiny_backbone, cache_dir=tmp_path)
    grid = np.zeros((3, 3), np.float32)
    grid[0, 2] = 1.0
    stretched = to_image_size(grid, (30, 40), crop_fraction=1.0)
    assert stretched.shape == (30, 40) and np.isnan(stretched[:, :5]).all()
    row, column = peak(stretched)
    assert row < 10 and column > 25  # the top-right cell of the centred square
    image = np.random.default_rng(0).integers(0, 255, (30, 40), dtype=np.uint8)
    assert overlay(image, stretched).shape == (30, 40, 3)
    assert side_by_side(image, stretched, stretched, scale=2).shape == (60, 2 * (3 * 40 + 4), 3)


@pytest.mark.slow
def test_exact_cam_on_efficientnet_lite0(tmp_path):
    dataset = load_dataset(name="digits").limited(limit=200)
    tv = compute_transfer_values(dataset=dataset, backbone="efficientnet_lite0", image_size=96,
                                 cache_dir=tmp_path)
    trained = train_head(tv=tv, head="logreg", cache_dir=tmp_path)
    rows = np.arange(8)
    maps = class_activation_maps(dataset=dataset, tv=tv, trained=trained, indices=rows,
                                 backbone="efficientnet_lite0", cache_dir=tmp_path)
    assert maps.predicted_grid.shape == (8, 3, 3)  # 96 px / 32
    kernel, bias = linear_weights(trained.model)
    logits = np.asarray(tv.values[rows], np.float64) @ kernel + bias
    np.testing.assert_allclose(maps.predicted_grid.mean(axis=(1, 2)),
                               logits[np.arange(8), maps.predicted], rtol=1e-3, atol=1e-2)


def test_cli_cam_writes_pngs_and_ids(tiny_backbone, tmp_path, capsys):
    import json

    import pandas as pd
    from PIL import Image

    from core.cli.main import main

    dataset = load_dataset(name="digits").limited(limit=300)
    sample = str(dataset.sample_ids[7])
    code = main(["cam", "--dataset", "digits", "--limit", "300", "--backbone", tiny_backbone,
                 "--image-size", str(SIZE), "--cache-dir", str(tmp_path / "cache"),
                 "--cross-fit", "0", "--images", "0,3", sample, "--out", str(tmp_path / "maps"),
                 "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    table = pd.read_csv(result["csv"])
    assert table["index"].tolist() == [0, 3, 7] and table["sample_id"].iloc[2] == sample
    assert result["method"] == "cam"
    strip = Image.open(tmp_path / "maps" / table["file"].iloc[0])
    assert strip.size[0] > 3 * strip.size[1] > 0  # image | predicted | given
    assert main(["cam", "--dataset", "digits", "--limit", "300", "--backbone", tiny_backbone,
                 "--image-size", str(SIZE), "--cache-dir", str(tmp_path / "cache"),
                 "--images", "no-such-id", "--out", str(tmp_path / "x")]) == 2
