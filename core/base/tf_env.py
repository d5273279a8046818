"""Import TensorFlow quietly, without giving up its speed.

TensorFlow prints C++ start-up lines (CPU feature guard, absl pre-init notice) and Python
warnings. TF_CPP_MIN_LOG_LEVEL must be set before the first import to silence the C++ side;
oneDNN is left on (TF_ENABLE_ONEDNN_OPTS=0 halves CPU throughput) and only its log is hidden.
Set TRANSFER_LENS_TF_VERBOSE=1 to see everything again.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import warnings

_configured = False
# Held for the whole first import: TensorFlow's import is not thread-safe (two threads
# importing it at once fail with half-initialised modules), and the app now extracts in a
# background thread while its script thread may import it too.
_import_lock = threading.RLock()


def configure() -> None:
    """Set the logging environment and import TensorFlow and Keras once (thread-safe);
    call before using tensorflow or keras."""
    global _configured
    with _import_lock:
        if _configured:
            return
        if os.environ.get("TRANSFER_LENS_TF_VERBOSE") != "1":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            os.environ.setdefault("KERAS_BACKEND", "tensorflow")
            # absl's "All log messages before absl::InitializeLog()" notice goes to stderr
            os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
            os.environ.setdefault("GLOG_minloglevel", "3")
            warnings.filterwarnings("ignore", module=r"(tensorflow|keras)(\..*)?")
            _import_without_native_stderr()
        import keras

        _guard_clear_session(keras)
        _freeze_imported_objects()
        _configured = True


def _freeze_imported_objects() -> None:
    """Leave what the process has made so far (~440,000 objects in the app once TensorFlow
    is imported, most of them TensorFlow's) out of every later garbage collection: Streamlit
    calls keras.backend.clear_session() after every script run, and its gc.collect() walked
    them all each time (~0.2 CPU-s per click). Objects made from here on are collected as
    before."""
    gc.freeze()


def _guard_clear_session(keras) -> None:
    """Make keras.backend.clear_session() wait its turn: skipped while a heavy job runs.

    clear_session() replaces Keras' naming state for every thread at once, so a model being
    built in another thread then gets duplicate layer names ("The name "conv2d" is used 2
    times in the model"). Streamlit calls it after every script run of every session, while
    an extraction, a training or another visitor's job may be building a model in its own
    thread; every such job holds a slot of core.base.jobs, so the clear is skipped then (the
    next run's clear does the tidying)."""
    original = keras.backend.clear_session
    if getattr(original, "guarded_by_transfer_lens", False):
        return

    def clear_session(*args, **kwargs):
        from core.base.jobs import job_gate

        if job_gate().status()["running"]:
            return None
        return original(*args, **kwargs)

    clear_session.guarded_by_transfer_lens = True
    clear_session.__doc__ = original.__doc__
    keras.backend.clear_session = clear_session


def _import_without_native_stderr() -> None:
    """Import TensorFlow and Keras with file descriptor 2 pointed at /dev/null.

    TensorFlow 2.21 logs its oneDNN notice through absl before absl's logging is set up,
    which TF_CPP_MIN_LOG_LEVEL no longer silences; only the C++ side's stderr is muted, and
    only during the import (Python exceptions still propagate as usual).
    """
    import sys

    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """TensorFlow, configured: quiet logs, all cores used, one op at a time.

    One op at a time (inter-op parallelism 1; each op still uses every core): with the
    default, two ops each asking for all cores oversubscribe a small CPU. On an idle 2-core
    machine it is within run-to-run noise (benchmarks/RESULTS.md, fine-tuning section, has
    the current figure); it pays off clearly while another process loads the cores, which is
    the case the setting is for.
    TRANSFER_LENS_TF_INTER_OP=N overrides it (0: TF's default).
    """
    configure()
    import tensorflow as tf

    _set_inter_op_threads(tf)

    if os.environ.get("TRANSFER_LENS_TF_VERBOSE") != "1":
        tf.get_logger().setLevel(logging.ERROR)
        try:
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:  # absl ships with TF; be safe anyway
            pass
    return tf


def _set_inter_op_threads(tf) -> None:
    threads = int(os.environ.get("TRANSFER_LENS_TF_INTER_OP", "1"))
    if tf.config.threading.get_inter_op_parallelism_threads() == threads:
        return
    try:
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime already started (TensorFlow imported elsewhere first)
        pass
