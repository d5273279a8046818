"""Start, resume or load a fine-tuning run: its key, its folder and the entry point."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from core.base.errors import ParameterError, TransferLensError
from core.base.hashing import hash_key
from core.base.jobs import heavy_job
from core.base.memory import out_of_memory_as_user_error
from core.base.paths import cache_root
from core.base.progress import ProgressCallback, format_seconds
from core.base.public import refuse_fine_tuning_if_public
from core.datasets.base import ImageDataset
from core.finetune.blocks import check_unfreeze
from core.finetune.config import FINETUNE_VERSION, FineTuneConfig, FineTuneEpoch, FineTuneResult

KIND = "finetune"
_RUN_KEY = re.compile(r"^[0-9a-f]{20}$")  # core.base.hashing.hash_key's form


# settings added after runs were cached, with the value that means "off": a run that leaves
# one off keeps the key it had before the setting existed, so cached runs stay valid
LATER_SETTINGS_OFF = {"erase": 0.0}


def run_key(*, dataset: ImageDataset, backbone: str, weights_id: str, config: FineTuneConfig) -> str:
    settings = {name: value for name, value in asdict(config).items()
                if not (name in LATER_SETTINGS_OFF and value == LATER_SETTINGS_OFF[name])}
    return hash_key({"dataset": dataset.fingerprint, "backbone": backbone, "weights": weights_id,
                     "config": settings, "version": FINETUNE_VERSION})


def run_dir_for(*, dataset: ImageDataset, backbone: str, config: FineTuneConfig,
                cache_dir: str | Path | None = None) -> Path:
    from core.backbones.registry import get_backbone

    spec = get_backbone(backbone)
    key = run_key(dataset=dataset, backbone=backbone, weights_id=spec.weights_id(), config=config)
    return cache_root(cache_dir) / KIND / key


def fine_tune(*, dataset: ImageDataset, backbone: str = "efficientnet_lite0",
              config: FineTuneConfig = FineTuneConfig(), cache_dir: str | Path | None = None,
              progress: Optional[ProgressCallback] = None,
              on_epoch: Optional[Callable[[FineTuneEpoch], None]] = None) -> FineTuneResult:
    """Fine-tune `backbone` on `dataset`'s train split (validation on its val split).

    Continues a run with the same settings from its last finished epoch; returns at once when
    that run is complete. `progress` is called after every step and may raise CancelledError
    to stop: finished epochs are kept for next time.
    """
    refuse_fine_tuning_if_public()
    config.validate()
    if dataset.num_classes < 2 or len(dataset.split_indices("train")) == 0:
        raise TransferLensError("Fine-tuning needs a train split with at least two classes.")
    _bound_if_public(dataset, config)
    check_unfreeze(backbone=backbone, config=config)
    run_dir = run_dir_for(dataset=dataset, backbone=backbone, config=config, cache_dir=cache_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "result.json").is_file():
        return _load_result(run_dir, config)
    config.check_resources()  # refuse a batch that cannot fit before TensorFlow allocates it
    from core.finetune.trainer import Trainer

    trainer = Trainer(dataset=dataset, backbone=backbone, config=config, run_dir=run_dir,
                       cache_dir=cache_dir, progress=progress, on_epoch=on_epoch)
    with heavy_job(name="fine-tuning", progress=progress), \
            out_of_memory_as_user_error(what="Fine-tuning", lower="batch_size or image_size"):
        return trainer.run()


def finished_config(*, key: str, dataset: ImageDataset, backbone: str,
                    cache_dir: str | Path | None = None) -> FineTuneConfig:
    """The settings of the finished run `key` (a link's `ft=`) of `backbone` on `dataset`.
    ParameterError when the key is not of that form, no finished run has it here, or it
    was made on other images or with another backbone."""
    key = str(key).strip()
    if not _RUN_KEY.match(key):
        raise ParameterError("a fine-tuning's key is 20 hex digits")
    result = cache_root(cache_dir) / KIND / key / "result.json"
    if not result.is_file():
        raise ParameterError("no finished fine-tuning has this key here")
    try:
        saved = json.loads(result.read_text())["config"]
        config = FineTuneConfig(**{f.name: saved[f.name] for f in fields(FineTuneConfig)
                                   if f.name in saved})
    except (OSError, ValueError, KeyError, TypeError):
        raise ParameterError("this fine-tuning's record is damaged") from None
    if run_dir_for(dataset=dataset, backbone=backbone, config=config,
                   cache_dir=cache_dir).name != key:
        raise ParameterError("this fine-tuning was made on other images or another backbone")
    return config


def _bound_if_public(dataset: ImageDataset, config: FineTuneConfig) -> None:
    """A public app that allows fine-tuning still bounds it: the extraction caps on images
    and input size, and the heads' time budget on the estimated training time."""
    from core.base.public import check_public_extraction
    from core.heads.cost import check_public_fine_tune_cost

    check_public_extraction(images=len(dataset), image_size=config.image_size)
    n_train = len(dataset.split_indices("train"))
    check_public_fine_tune_cost(
        epoch_sizes=config.epoch_sizes(), n_train=n_train,
        what=f"Fine-tuning {config.epochs} epochs on {n_train:,} images at {config.image_size} px")


def _load_result(run_dir: Path, config: FineTuneConfig) -> FineTuneResult:
    result = json.loads((run_dir / "result.json").read_text())
    head = np.load(run_dir / "head.npz", allow_pickle=False)
    return FineTuneResult(
        run_dir=run_dir, backbone_path=run_dir / "backbone.keras", model_path=run_dir / "model.keras",
        head_weights=(head["kernel"], head["bias"]),
        history=[FineTuneEpoch(**h) for h in result["history"]], config=config,
        train_seconds=result["train_seconds"], resumed_from_epoch=result["resumed_from_epoch"],
        images_per_second=result["images_per_second"],
        feature_layer=result.get("feature_layer", "avg_pool"),
        weights=result.get("weights", "raw"))


def describe_history(history: list[FineTuneEpoch]) -> str:
    return "; ".join(f"epoch {h.epoch}: val {h.val_accuracy:.4f} ({format_seconds(h.seconds)})"
                     for h in history)
