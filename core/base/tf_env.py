"""Import TensorFlow quietly, without giving up its speed.

TensorFlow prints C++ start-up lines (CPU feature guard, absl pre-init notice) and Python
warnings. TF_CPP_MIN_LOG_LEVEL must be set before the first import to silence the C++ side;
oneDNN is left on (TF_ENABLE_ONEDNN_OPTS=0 halves CPU throughput) and only its log is hidden.
Set TRANSFER_LENS_TF_VERBOSE=1 to see everything again.
"""

from __future__ import annotations

import logging
import os
import warnings

_configured = False


def configure() -> None:
    """Set the logging environment; call before importing tensorflow or keras."""
    global _configured
    if _configured:
        return
    _configured = True
    if os.environ.get("TRANSFER_LENS_TF_VERBOSE") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # absl's "All log messages before absl::InitializeLog()" notice goes to stderr at level 0.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GLOG_minloglevel", "3")
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras)(\..*)?")
    _import_without_native_stderr()


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
