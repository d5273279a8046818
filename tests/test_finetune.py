"""Fine-tuning on a small digits subset: resume after SIGKILL, before/after transfer values, export."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# progressive: epochs at 32, 32 and 40 px, so the resumed epoch runs at a new size
CONFIG = dict(epochs=3, image_size=40, start_size=32, batch_size=32, head_epochs=2,
              unfreeze="top-2")
SETUP = """
    import os, signal, sys, json
    sys.path.insert(0, {root!r})
    from core.datasets import load_dataset
    from core.finetune import fine_tune, FineTuneConfig
    data = load_dataset(name="digits").limited(limit=240)
    config = FineTuneConfig(**{config!r})
    assert config.epoch_sizes() == [32, 32, 40]
"""


def run(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRANSFER_LENS_CACHE": str(cache)}
    script = textwrap.dedent(SETUP.format(root=str(ROOT), config=CONFIG) + code)
    return subprocess.run([sys.executable, "-c", script],
                          env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)


REPORT = """
    result = fine_tune(dataset=data, config=config)
    print(json.dumps({"resumed": result.resumed_from_epoch,
                      "history": [h.val_loss for h in result.history],
                      "kernel": float(result.head_weights[0].sum())}))
"""


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> tuple[Path, dict]:
    """SETUP's run without interruption, in its own process: (its cache, its report). One
    fine-tuning run serves the resume comparison, the new transfer values and the export."""
    cache = tmp_path_factory.mktemp("finetune-straight")
    done = run(REPORT, cache)
    assert done.returncode == 0, done.stderr[-3000:]
    return cache, json.loads(done.stdout.strip().splitlines()[-1])


def finished_run(cache: Path):
    """The straight run's result, loaded from its folder (nothing trains again), and its data."""
    from core.datasets import load_dataset
    from core.finetune import FineTuneConfig, fine_tune

    data = load_dataset(name="digits").limited(limit=240)
    return fine_tune(dataset=data, config=FineTuneConfig(**CONFIG), cache_dir=cache), data


@pytest.mark.slow  # fine-tunes EfficientNet-Lite0
def test_sigkill_after_an_epoch_resumes_from_checkpoint(tmp_path, straight):
    killed = run("""
    def on_epoch(record):
        if record.epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    fine_tune(dataset=data, config=config, on_epoch=on_epoch)
    """, tmp_path / "a")
    assert killed.returncode == -9, killed.stderr[-3000:]
    run_dirs = list((tmp_path / "a" / "finetune").iterdir())
    assert len(run_dirs) == 1
    state = json.loads((run_dirs[0] / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]) == 2

    resumed = run(REPORT, tmp_path / "a")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed_out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert resumed_out["resumed"] == 2 and len(resumed_out["history"]) == 3

    _, straight_out = straight
    assert straight_out["resumed"] == 0
    # the resumed run continues the same trajectory: same data order, same optimizer state
    np.testing.assert_allclose(resumed_out["history"], straight_out["history"], rtol=2e-3)
    np.testing.assert_allclose(resumed_out["kernel"], straight_out["kernel"], rtol=1e-3, atol=1e-3)
    assert not list((tmp_path / "a" / "finetune").glob("*/epoch_*"))  # checkpoints cleaned up


@pytest.mark.slow  # fine-tunes EfficientNet-Lite0 (the module's one straight run)
def test_finetuned_backbone_gives_new_cached_transfer_values(straight, monkeypatch):
    from core.features.transfer_values import compute_transfer_values
    from core.finetune.trainer import Trainer

    def train_again(self):
        raise AssertionError("a finished run is loaded, not trained again")

    monkeypatch.setattr(Trainer, "run", train_again)
    cache, report = straight
    result, data = finished_run(cache)
    assert result.resumed_from_epoch == 0 and len(result.history) == 3
    assert result.head_weights[0].sum() == pytest.approx(report["kernel"])
    assert [h.val_loss for h in result.history] == report["history"]
    before = compute_transfer_values(dataset=data, backbone="efficientnet_lite0", image_size=40,
                                     cache_dir=cache)
    after = compute_transfer_values(dataset=data, backbone=result.backbone_name, image_size=40,
                                    cache_dir=cache)
    assert before.key != after.key and after.values.shape == before.values.shape
    assert not np.allclose(before.values, after.values)
    assert result.run_dir.name in after.manifest["key_fields"]["backbone"]
    assert not list(result.run_dir.glob("epoch_*"))  # checkpoints cleaned up
    _fine_tuned_values_get_exact_maps(data, after, result, cache)


def _fine_tuned_values_get_exact_maps(data, after, result, cache) -> None:
    """The fine-tuned model's maps (the dashboard's Error slices and galleries ask for them on
    fine-tuned values): exact CAM on the fine-tuned backbone's conv map, whose mean over
    positions is the fine-tuned classifier's logit."""
    import dataclasses

    from core.heads import train_head
    from core.heads.finetuned import FineTunedHead
    from core.serving.cam import class_activation_maps

    model = FineTunedHead(params={"run_dir": str(result.run_dir)}, seed=0)
    model.kernel_, model.bias_ = (np.asarray(w, np.float32) for w in result.head_weights)
    trained = dataclasses.replace(train_head(tv=after, head="logreg", cache_dir=cache),
                                  head="finetune", model=model, key=None)
    rows = np.arange(5)
    maps = class_activation_maps(dataset=data, tv=after, trained=trained, indices=rows,
                                 backbone=result.backbone_name, cache_dir=cache)
    logits = np.asarray(after.values[rows], np.float64) @ model.kernel_ + model.bias_
    assert maps.method == "cam" and maps.predicted_grid.shape[0] == len(rows)
    np.testing.assert_allclose(maps.predicted_grid.mean(axis=(1, 2)),
                               logits[np.arange(len(rows)), maps.predicted], rtol=1e-3, atol=1e-2)


@pytest.mark.slow  # fine-tunes EfficientNet-Lite0 (the module's one straight run)
def test_progressive_resizing_grows_the_input_and_saves_the_final_size(straight):
    from core.features.transfer_values import compute_transfer_values

    cache, _ = straight
    result, data = finished_run(cache)
    assert [h.epoch for h in result.history] == [1, 2, 3]
    assert [h.image_size for h in result.history] == [32, 32, 40]  # grew, as SETUP asserts
    assert all(np.isfinite(h.val_loss) for h in result.history)

    import keras
    import core.backbones.layers  # noqa: F401  registers the layer used by the exported model

    backbone = keras.saving.load_model(result.backbone_path, safe_mode=True, compile=False)
    assert backbone.input_shape == (None, 40, 40, 3)  # declares the final size, not "any"
    after = compute_transfer_values(dataset=data, backbone=result.backbone_name, image_size=40,
                                    cache_dir=cache)
    model = keras.saving.load_model(result.model_path, safe_mode=True)
    probs = model(data.images.batch(np.arange(16)), training=False).numpy()
    assert probs.shape == (16, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)
    kernel, bias = result.head_weights
    np.testing.assert_array_equal(probs.argmax(1),
                                  (np.asarray(after.values[:16]) @ kernel + bias).argmax(1))


def test_epoch_sizes_rise_in_multiples_of_eight_to_the_final_size():
    from core.base.errors import TransferLensError
    from core.finetune import FineTuneConfig

    assert FineTuneConfig(epochs=5, image_size=96, start_size=64).epoch_sizes() == [
        64, 72, 80, 88, 96]
    assert FineTuneConfig(epochs=4, image_size=96, start_size=64).epoch_sizes() == [
        64, 72, 88, 96]
    assert FineTuneConfig().epoch_sizes() == [48, 56, 56, 64, 72, 80, 80, 88]  # defaults
    assert FineTuneConfig(epochs=3, image_size=80, start_size=0).epoch_sizes() == [80, 80, 80]
    assert not FineTuneConfig(epochs=3, image_size=80, start_size=0).progressive
    assert FineTuneConfig(epochs=1, image_size=80, start_size=64).epoch_sizes() == [80]
    assert FineTuneConfig(epochs=3, image_size=48, start_size=64).epoch_sizes() == [48, 48, 48]
    with pytest.raises(TransferLensError, match="start_size"):
        FineTuneConfig(image_size=80, start_size=16).validate()

