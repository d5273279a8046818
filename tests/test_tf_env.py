"""core.base.tf_env: a thread-safe first import, and Keras' global clear kept away from
models that other threads are building."""

from __future__ import annotations

import threading

import pytest

from core.base.jobs import heavy_job
from core.base.tf_env import configure


def build_in_steps(names: list, between) -> None:
    """Two auto-named Conv2D layers and a model, with `between()` run after the first."""
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    between()
    x = keras.layers.Conv2D(2, 3)(x)
    model = keras.Model(inputs, x)
    names.extend(layer.name for layer in model.layers)


def test_clear_session_waits_while_a_job_builds_a_model():
    """Streamlit calls keras.backend.clear_session() after every script run; without the
    guard a model half-built in another thread got two layers named "conv2d"."""
    configure()
    import keras

    first_layer_made, cleared = threading.Event(), threading.Event()
    names, errors = [], []

    def job() -> None:
        def between() -> None:
            first_layer_made.set()
            cleared.wait(10)

        try:
            with heavy_job(name="building a model"):
                build_in_steps(names, between)
        except Exception as error:  # noqa: BLE001 - asserted below
            errors.append(error)

    worker = threading.Thread(target=job)
    worker.start()
    assert first_layer_made.wait(30)
    keras.backend.clear_session()  # as Streamlit does when another run ends
    cleared.set()
    worker.join(30)
    assert not errors, errors
    conv_names = [name for name in names if name.startswith("conv2d")]
    assert len(conv_names) == 2 and len(set(conv_names)) == 2


def test_clear_session_still_clears_when_no_job_runs():
    configure()
    import keras

    keras.layers.Conv2D(2, 3)
    keras.backend.clear_session()
    assert keras.layers.Conv2D(2, 3).name == "conv2d"  # the naming started afresh


@pytest.mark.slow  # a fresh Python process that imports TensorFlow
def test_concurrent_first_imports_are_safe():
    """configure() from several threads at once in a fresh interpreter (the app's
    background extraction and its script thread) must not expose half-imported modules;
    without the lock this failed with "module 'keras' has no attribute 'initializers'"."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import sys, threading
from core.base.tf_env import configure
errors = []
def use():
    try:
        configure()
        import keras
        keras.initializers.RandomNormal(stddev=0.1)
    except Exception as error:
        errors.append(repr(error))
threads = [threading.Thread(target=use) for _ in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors)
sys.exit(1 if errors else 0)
"""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
