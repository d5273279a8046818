"""The analysis CLI commands, in-process, with --json (last stdout line is one JSON object)."""

import json

import pytest

from core.cli import main
from tests.support.cli import cli_json

DATA = ["--dataset", "digits", "--backbone", "pixels", "--limit", "500"]


def test_project_pca_then_hit(capsys):
    first = cli_json(capsys, "project", *DATA, "--method", "pca", "--dims", "3", "--json")
    assert {"n", "method", "cache", "seconds"} <= set(first)
    assert (first["n"], first["method"], first["dims"], first["cache"]) == (500, "pca", 3, "miss")
    assert len(first["explained_variance"]) == 3
    second = cli_json(capsys, "project", *DATA, "--method", "pca", "--dims", "3", "--json")
    assert second["cache"] == "hit" and second["key"] == first["key"]


def test_project_tsne_with_csv(capsys, tmp_path):
    out = tmp_path / "coords.csv"
    result = cli_json(capsys, "project", *DATA, "--method", "tsne", "--n-iter", "260",
                 "--perplexity", "10", "--out", str(out), "--json")
    assert result["params"]["perplexity"] == 10 and result["cache"] == "miss"
    lines = out.read_text().splitlines()
    assert lines[0] == "sample_id,label,class,split,x,y" and len(lines) == 501


def test_train_save_and_json(capsys, tmp_path):
    result = cli_json(capsys, "train", *DATA, "--head", "logreg", "--cross-fit", "3",
                 "--save", str(tmp_path / "head"), "--json")
    for key in ("head", "test_accuracy", "val_accuracy", "train_seconds", "n_train"):
        assert key in result
    assert result["head"] == "logreg" and result["test_accuracy"] > 0.85
    assert result["confusion_sum"] == result["n_test"]
    assert result["train_accuracy_out_of_fold"] is not None
    from core.heads import load_head

    assert load_head(result["saved"]).head == "logreg"


def test_train_softmax_epochs(capsys):
    result = cli_json(capsys, "train", *DATA, "--head", "softmax", "--epochs", "3", "--json")
    assert result["epochs_run"] <= 3 and result["params"]["epochs"] == 3


def test_label_issues_neighbors_separability(capsys):
    issues = cli_json(capsys, "label-issues", *DATA, "--top", "3", "--cross-fit", "3", "--json")
    assert issues["n"] == 500 and len(issues["top"]) <= 3
    if issues["top"]:
        assert {"sample_id", "given", "suggested", "score"} <= set(issues["top"][0])
    near = cli_json(capsys, "neighbors", *DATA, "--index", "4", "-k", "3", "--json")
    assert len(near["neighbors"]) == 3 and near["index"] == 4
    sep = cli_json(capsys, "separability", *DATA, "--json")
    assert 0 < sep["knn_accuracy"] <= 1 and sep["n"] == 500


def test_bad_parameter_is_reported(capsys):
    code = main(["project", *DATA, "--method", "umap", "--param", "bogus=1", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and "bogus" in captured.err
    assert "bogus" in json.loads(captured.out.strip().splitlines()[-1])["error"]


@pytest.mark.slow  # fine-tuning runs
def test_train_finetune_json_and_export(capsys, tmp_path, tiny_backbone):
    """`train --head finetune`: the same JSON fields as the other heads, evaluated on the
    fine-tuned backbone's values; a second run is served from the finished run."""
    args = ["train", "--dataset", "digits", "--backbone", tiny_backbone, "--limit", "400",
            "--head", "finetune", "--image-size", "32", "--epochs", "2", "--param", "flip=false",
            "--param", "batch_size=32", "--param", "head_epochs=2", "--json"]
    first = cli_json(capsys, *args, "--export", str(tmp_path / "model.keras"))
    for key in ("head", "test_accuracy", "val_accuracy", "train_seconds", "n_train"):
        assert first[key] is not None, key
    assert first["head"] == "finetune" and first["epochs"] == 2 and first["image_size"] == 32
    assert len(first["val_accuracy_per_epoch"]) == 2 and first["images_per_second"] > 0
    assert first["confusion_sum"] == first["n_test"] and first["before_key"] != first["after_key"]
    # the reported accuracy is the exported end-to-end model's on the test images
    import keras
    import numpy as np

    import core.backbones.layers  # noqa: F401  (registers the layers the model contains)
    from core.datasets import load_dataset

    data = load_dataset(name="digits").limited(limit=400)
    test = data.split_indices("test")
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    predicted = model.predict(data.images.batch(test), verbose=0).argmax(axis=1)
    assert abs(np.mean(predicted == data.labels[test]) - first["test_accuracy"]) <= 1 / len(test)
    again = cli_json(capsys, *args)  # the finished run is loaded, not trained again
    assert again["run_dir"] == first["run_dir"] and again["test_accuracy"] == first["test_accuracy"]
    assert again["train_seconds"] == first["train_seconds"]  # the run's own time, not a reload's
    assert again["total_seconds"] < first["total_seconds"]


@pytest.mark.slow  # imports TensorFlow (the tiny backbone is built to count its blocks)
def test_finetune_refuses_cross_fit_and_bad_settings(capsys, tiny_backbone, monkeypatch):
    from core.finetune.trainer import Trainer

    def no_work(self):
        raise AssertionError("bad settings must be refused before extraction and training")

    monkeypatch.setattr(Trainer, "run", no_work)
    base = ["train", "--dataset", "digits", "--backbone", tiny_backbone, "--limit", "200",
            "--head", "finetune", "--image-size", "32"]
    assert main([*base, "--cross-fit", "3"]) != 0
    assert "fine-tune once per fold" in capsys.readouterr().err
    assert main([*base, "--unfreeze", "some"]) != 0
    assert "unfreeze must be 'all' or 'top-K'" in capsys.readouterr().err
    # the tiny backbone has no named blocks: top-K is an error, not a head-only "fine-tune"
    assert main([*base, "--unfreeze", "top-2", "--param", "head_epochs=1"]) != 0
    assert "cannot pick its top blocks" in capsys.readouterr().err
    # Lite0 has 16 blocks: known from its table, refused before any extraction or training
    lite = [arg if arg != tiny_backbone else "efficientnet_lite0" for arg in base]
    assert main([*lite, "--unfreeze", "top-17"]) != 0
    assert "K must be at most 16 (top-16)" in capsys.readouterr().err
    assert main([*base, "--param", "warp=9"]) != 0
    assert "unknown fine-tuning parameter" in capsys.readouterr().err
