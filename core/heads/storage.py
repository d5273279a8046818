"""Saving and loading trained heads — without pickle.

A saved head is a folder:
  manifest.json   head name, parameters, seed, class names, metrics, epoch history
  outputs.npz     the probabilities on the transfer values it was trained on (a regression
                  head: its predictions)
  weights.npz     logistic regression: coef, intercept, scaler mean/scale
  model.keras     Keras heads: the Keras v3 archive

Trust model: a head folder is data, never code. JSON is parsed with `json`, arrays are read
with `np.load(..., allow_pickle=False)`, and `.keras` archives are loaded with
`safe_mode=True`, which refuses Lambda layers and any other deserialization that would run
Python from the file; our heads use built-in layers only. So opening a head from someone else
cannot execute code through our loaders (it still trusts numpy's, zipfile's and Keras'
parsers to be free of bugs, like opening any file does). The head name in the manifest only
selects one of the registered classes in `HEADS`; it never imports anything by name.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from core.base.atomic import atomic_folder
from core.base.errors import TransferLensError
from core.base.jsonio import manifest_json
from core.features.preprocessing import Preprocessing
from core.heads.base import EpochLog
from core.heads.registry import get_head_class

FORMAT = "transfer-lens-head"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
OUTPUTS = "outputs.npz"


def save_head(trained, path: str | Path) -> Path:
    """Write `trained` (a TrainedHead) to the folder `path`, atomically (replaces it)."""
    path = Path(path)
    with atomic_folder(path) as tmp:
        files = trained.model.save_state(tmp)
        outputs = {"probabilities": np.asarray(trained.probabilities, np.float32)}
        if trained.task == "regression":
            outputs["predictions"] = np.asarray(trained.predictions, np.float32)
        np.savez(tmp / OUTPUTS, **outputs)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "head": trained.head,
            "task": trained.task, "target": trained.target, "target_key": trained.target_key,
            "params": trained.params, "seed": trained.seed, "classes": list(trained.classes),
            "cross_fit_folds": trained.cross_fit_folds, "tv_key": trained.tv_key,
            "feature_dim": trained.feature_dim, "key": trained.key,
            "preprocessing": (None if trained.preprocessing is None
                              else trained.preprocessing.fields()),
            "metrics": trained.metrics,
            "history": [asdict(h) for h in trained.history], "details": trained.model.details_,
            "files": files + [OUTPUTS], "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / MANIFEST).write_text(manifest_json(manifest))
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the head saved in the folder `path` (plain JSON: no weights are read,
    nothing imports TensorFlow)."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise TransferLensError(f"{path} is not a saved head ({error}).") from error
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise TransferLensError(f"{path} is not a version-{FORMAT_VERSION} Transfer Lens head.")
    return manifest


def read_probabilities(path: str | Path) -> np.ndarray:
    """(N, C) float32: the saved head's probabilities on the values it was trained on."""
    with np.load(Path(path) / OUTPUTS, allow_pickle=False) as outputs:
        return outputs["probabilities"].astype(np.float32)


def read_predictions(path: str | Path) -> np.ndarray:
    """(N,) float32: a saved regression head's numbers on the values it was trained on."""
    with np.load(Path(path) / OUTPUTS, allow_pickle=False) as outputs:
        return outputs["predictions"].astype(np.float32)


def read_head(path: str | Path) -> dict[str, Any]:
    """The fields of the TrainedHead saved in the folder `path` by `save_head` (see the trust
    model above); `core.heads.trained.load_head` builds it."""
    path = Path(path)
    manifest = read_manifest(path)
    cls = get_head_class(manifest["head"])
    model = cls.load_state(path, params=manifest["params"], seed=int(manifest["seed"]))
    model.details_ = manifest.get("details", {})
    history = [EpochLog(**h) for h in manifest.get("history", [])]
    model.history_ = history
    probabilities = read_probabilities(path)
    task = manifest.get("task", "classification")  # heads saved before regression existed
    if task == "regression":
        predictions = read_predictions(path)
    else:
        predictions = (probabilities.argmax(axis=1) if len(probabilities) else
                       np.zeros(0, np.int64))
    return dict(head=manifest["head"], params=manifest["params"],
                classes=tuple(manifest["classes"]), probabilities=probabilities,
                predictions=predictions, history=history, metrics=manifest["metrics"],
                model=model, seed=int(manifest["seed"]),
                cross_fit_folds=int(manifest.get("cross_fit_folds", 0)),
                tv_key=manifest.get("tv_key"), feature_dim=int(manifest.get("feature_dim", 0)),
                key=manifest.get("key"), cache="hit",
                preprocessing=_preprocessing(manifest.get("preprocessing")), task=task,
                target=manifest.get("target"), target_key=manifest.get("target_key"))


def _preprocessing(fields) -> Preprocessing | None:
    # heads saved before the preprocessing was stored as fields kept a string: unknown
    return Preprocessing.from_fields(fields) if isinstance(fields, dict) else None
