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

SETUP = """
    import os, signal, sys, json
    sys.path.insert(0, {root!r})
    from core.datasets import load_dataset
    from core.finetune import fine_tune, FineTuneConfig
    data = load_dataset(name="digits").limited(limit=240)
    # progressive: epochs at 32, 32 and 40 px, so the resumed epoch runs at a new size
    config = FineTuneConfig(epochs=3, image_size=40, start_size=32, batch_size=32,
                            head_epochs=2, unfreeze="top-2")
    assert config.epoch_sizes() == [32, 32, 40]
"""


def run(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRANSFER_LENS_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(SETUP.format(root=str(ROOT)) + code)],
                          env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)


@pytest.mark.slow  # fine-tunes EfficientNet-Lite0
def test_sigkill_after_an_epoch_resumes_from_checkpoint(tmp_path):
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

    report = """
    result = fine_tune(dataset=data, config=config)
    print(json.dumps({"resumed": result.resumed_from_epoch,
                      "history": [h.val_loss for h in result.history],
                      "kernel": float(result.head_weights[0].sum())}))
    """
    resumed = run(report, tmp_path / "a")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed_out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert resumed_out["resumed"] == 2 and len(resumed_out["history"]) == 3

    straight = run(report, tmp_path / "b")
    straight_out = json.loads(straight.stdout.strip().splitlines()[-1])
    assert straight_out["resumed"] == 0
    # the resumed run continues the same trajectory: same data order, same optimizer state
    np.testing.assert_allclose(resumed_out["history"], straight_out["history"], rtol=2e-3)
    np.testing.assert_allclose(resumed_out["kernel"], straight_out["kernel"], rtol=1e-3, atol=1e-3)
    assert not list((tmp_path / "a" / "finetune").glob("*/epoch_*"))  # checkpoints cleaned up


@pytest.mark.slow  # fine-tunes EfficientNet-Lite0
def test_finetuned_backbone_gives_new_cached_transfer_values(tmp_path):
    from core.datasets import load_dataset
    from core.finetune import FineTuneConfig, fine_tune
    from core.features.transfer_values import compute_transfer_values

    data = load_dataset(name="digits").limited(limit=240)
    config = FineTuneConfig(epochs=1, image_size=32, batch_size=32, head_epochs=2)
    result = fine_tune(dataset=data, config=config, cache_dir=tmp_path)
    before = compute_transfer_values(dataset=data, backbone="efficientnet_lite0", image_size=32,
                                     cache_dir=tmp_path)
    after = compute_transfer_values(dataset=data, backbone=result.backbone_name, image_size=32,
                                    cache_dir=tmp_path)
    assert before.key != after.key and after.values.shape == before.values.shape
    assert not np.allclose(before.values, after.values)
    assert result.run_dir.name in after.manifest["key_fields"]["backbone"]
    again = fine_tune(dataset=data, config=config, cache_dir=tmp_path)  # finished: instant
    assert again.run_dir == result.run_dir and len(again.history) == 1

    import keras
    import core.backbones.layers  # noqa: F401  registers the layer used by the exported model

    model = keras.saving.load_model(result.model_path, safe_mode=True)
    probs = model(data.images.batch(np.arange(16)), training=False).numpy()
    assert probs.shape == (16, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)
    kernel, bias = result.head_weights
    logits = np.asarray(after.values[:16]) @ kernel + bias
    np.testing.assert_array_equal(probs.argmax(1), logits.argmax(1))


@pytest.mark.slow  # fine-tunes EfficientNet-Lite0
def test_progressive_resizing_grows_the_input_and_saves_the_final_size(tmp_path):
    from core.datasets import load_dataset
    from core.finetune import FineTuneConfig, fine_tune
    from core.features.transfer_values import compute_transfer_values

    config = FineTuneConfig(epochs=3, image_size=48, start_size=32, batch_size=32, head_epochs=2,
                            flip=False, unfreeze="top-2")
    assert config.epoch_sizes() == [32, 40, 48]
    data = load_dataset(name="digits").limited(limit=240)
    result = fine_tune(dataset=data, config=config, cache_dir=tmp_path)
    assert [h.epoch for h in result.history] == [1, 2, 3]
    assert all(np.isfinite(h.val_loss) for h in result.history)

    import keras
    import core.backbones.layers  # noqa: F401

    backbone = keras.saving.load_model(result.backbone_path, safe_mode=True, compile=False)
    assert backbone.input_shape == (None, 48, 48, 3)  # declares the final size, not "any"
    after = compute_transfer_values(dataset=data, backbone=result.backbone_name, image_size=48,
                                    cache_dir=tmp_path)
    model = keras.saving.load_model(result.model_path, safe_mode=True)
    probs = model(data.images.batch(np.arange(16)), training=False).numpy()
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

