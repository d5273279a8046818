"""Extraction and the transfer-values cache: hits, resume after SIGKILL, concurrent writers, damage."""

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from core.base.cache import CorruptEntryWarning
from core.datasets import load_dataset
from core.base.errors import CancelledError
from core.features.input_size import SMALL_IMAGE_INPUT
from core.features.transfer_values import (compute_transfer_values, load_transfer_values,
                                           transfer_values_key)

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def digits_subset(n=300):
    return load_dataset(name="digits").limited(limit=n)


def test_miss_then_hit_identical(tiny_backbone, isolated_cache):
    data = digits_subset()
    first = compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=128)
    assert first.cache == "miss" and first.values.shape == (300, 16)
    assert np.isfinite(first.values).all() and first.values.std() > 0
    second = compute_transfer_values(dataset=data, backbone=tiny_backbone)
    assert second.cache == "hit" and second.key == first.key
    np.testing.assert_array_equal(np.asarray(first.values), np.asarray(second.values))
    np.testing.assert_array_equal(second.labels, data.labels)
    np.testing.assert_array_equal(second.sample_ids, data.sample_ids)
    assert second.class_names == data.class_names
    manifest = json.loads((second.path.parent / "manifest.json").read_text())
    assert manifest["key_fields"]["backbone"] == tiny_backbone
    assert not list(isolated_cache.glob("transfer_values/*.partial"))
    opened = load_transfer_values(key=first.key)
    np.testing.assert_array_equal(np.asarray(opened.values), np.asarray(first.values))


def test_key_changes_with_inputs(tiny_backbone):
    data = digits_subset()
    base = compute_transfer_values(dataset=data, backbone=tiny_backbone)
    bigger = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=24)
    other_data = compute_transfer_values(dataset=digits_subset(200), backbone=tiny_backbone)
    half = compute_transfer_values(dataset=data, backbone=tiny_backbone, dtype="float16")
    assert len({base.key, bigger.key, other_data.key, half.key}) == 4
    assert half.values.dtype == np.float16
    assert bigger.cache == other_data.cache == "miss"


def test_no_image_size_means_the_default_size():
    """Every caller that leaves the size out (CLI, app, scripts) gets default_image_size: for
    8-px digits that is the small-image input, not the backbone's native 224 px."""
    data = digits_subset()
    key = transfer_values_key(dataset=data, backbone="efficientnet_lite0")
    assert key == transfer_values_key(dataset=data, backbone="efficientnet_lite0",
                                      image_size=SMALL_IMAGE_INPUT)
    assert key != transfer_values_key(dataset=data, backbone="efficientnet_lite0", image_size=224)


def test_values_report_their_image_size(tiny_backbone):
    tv = compute_transfer_values(dataset=digits_subset(), backbone=tiny_backbone, image_size=24)
    assert tv.image_size == 24 and load_transfer_values(key=tv.key).image_size == 24


def test_float16_matches_float32(tiny_backbone):
    data = digits_subset(100)
    full = compute_transfer_values(dataset=data, backbone=tiny_backbone)
    half = compute_transfer_values(dataset=data, backbone=tiny_backbone, dtype="float16")
    np.testing.assert_allclose(np.asarray(half.values, np.float32), full.values, rtol=2e-3, atol=1e-4)


def _run_child(code: str, cache: str) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "TRANSFER_LENS_CACHE": cache, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


CHILD_PRELUDE = """
    import os, signal, sys
    from tests.support.tiny_backbone import register_tiny
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values
    name = register_tiny()
    data = load_dataset(name="digits").limited(limit=600)
"""


@pytest.mark.slow  # a fresh Python process that imports TensorFlow
def test_sigkill_midway_then_resume_equals_uninterrupted(tiny_backbone, isolated_cache, tmp_path):
    killer = CHILD_PRELUDE + """
    def progress(p):
        if p.done >= 300:  # two 128-image chunks are on disk, the third is in flight
            os.kill(os.getpid(), signal.SIGKILL)
    compute_transfer_values(dataset=data, backbone=name, chunk_size=128, batch_size=32,
                            progress=progress)
    """
    result = _run_child(killer, str(isolated_cache))
    assert result.returncode == -9, result.stderr
    work = list((isolated_cache / "transfer_values").glob("*.partial"))
    assert len(work) == 1 and len(list(work[0].glob("chunk_*.npy"))) == 2

    seen = []
    data = load_dataset(name="digits").limited(limit=600)
    resumed = compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=999,
                                      batch_size=32, progress=seen.append)
    assert resumed.cache == "miss"
    assert seen[0].done == 256 and seen[0].message == "resuming"
    assert seen[1].message == "loading the backbone"
    assert not work[0].exists()

    clean = compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=128,
                                    batch_size=32, cache_dir=tmp_path / "clean")
    np.testing.assert_array_equal(np.asarray(resumed.values), np.asarray(clean.values))


@pytest.mark.slow  # two fresh Python processes that import TensorFlow
def test_two_concurrent_writers_end_with_one_correct_entry(isolated_cache, tiny_backbone):
    writer = CHILD_PRELUDE + """
    tv = compute_transfer_values(dataset=data, backbone=name, chunk_size=128)
    import numpy as np
    np.save(sys.argv[-1] if False else os.environ["OUT"], np.asarray(tv.values))
    print(tv.cache)
    """
    import os

    procs = []
    for i in range(2):
        env = {**os.environ, "TRANSFER_LENS_CACHE": str(isolated_cache), "PYTHONPATH": str(ROOT),
               "OUT": str(isolated_cache.parent / f"out{i}.npy")}
        procs.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(writer)], env=env,
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sorted(o[0].strip() for o in outputs) == ["hit", "miss"]
    a, b = (np.load(isolated_cache.parent / f"out{i}.npy") for i in range(2))
    np.testing.assert_array_equal(a, b)
    entries = [p for p in (isolated_cache / "transfer_values").iterdir()
               if p.is_dir() and not p.name.endswith(".partial")]
    assert len(entries) == 1
    data = load_dataset(name="digits").limited(limit=600)
    again = compute_transfer_values(dataset=data, backbone=tiny_backbone)
    assert again.cache == "hit"
    np.testing.assert_array_equal(np.asarray(again.values), a)


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "bad_manifest"])
def test_damaged_entry_is_detected_and_recomputed(tiny_backbone, damage):
    import core.base.cache

    data = digits_subset(100)
    first = compute_transfer_values(dataset=data, backbone=tiny_backbone)
    expected = np.array(first.values)
    values_file = first.path
    core.base.cache._verified.clear()  # a new process would verify again
    if damage == "truncate":
        with open(values_file, "r+b") as f:
            f.truncate(values_file.stat().st_size - 100)
    elif damage == "flip_byte":
        raw = bytearray(values_file.read_bytes())
        raw[-5] ^= 0xFF
        values_file.write_bytes(bytes(raw))
    else:
        (values_file.parent / "manifest.json").write_text("{not json")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = compute_transfer_values(dataset=data, backbone=tiny_backbone)
    assert again.cache == "miss"
    assert any(issubclass(w.category, CorruptEntryWarning) for w in caught)
    np.testing.assert_array_equal(np.asarray(again.values), expected)


def test_a_progress_callback_stops_extraction_and_finished_chunks_are_kept(tiny_backbone,
                                                                            isolated_cache):
    data = digits_subset(400)

    def stop_after_160(progress):  # five batches of 32: one 128-chunk done and a bit
        if progress.done >= 160:
            raise CancelledError("stop")

    with pytest.raises(CancelledError, match="1 finished chunks are kept"):
        compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=128,
                                batch_size=32, progress=stop_after_160)
    work = next((isolated_cache / "transfer_values").glob("*.partial"))
    assert len(list(work.glob("chunk_*.npy"))) == 1
    done = compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=128, batch_size=32)
    assert done.n == 400
