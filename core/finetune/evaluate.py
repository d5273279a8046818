"""Fine-tune, then look at the result the way every other head is looked at.

`fine_tune_and_evaluate` runs (or resumes, or loads) a fine-tuning run, computes the
fine-tuned backbone's transfer values (cached under a key naming the run's checkpoint), and
wraps the run's classifier as the "finetune" head on those values. The original backbone's
values at the same input size come along, so projections, confusion matrices, failures and
label issues can be compared before and after.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from core.datasets.base import ImageDataset
from core.backbones.lite_specs import has_lite_structure
from core.base.params import check_params
from core.finetune.config import FineTuneConfig, FineTuneEpoch, FineTuneResult
from core.finetune.run import finished_config, fine_tune
from core.heads.trained import TrainedHead
from core.base.progress import ProgressCallback
from core.features.transfer_values import TransferValues


@dataclass
class FineTuned:
    result: FineTuneResult
    before: TransferValues  # the original backbone at the same input size
    after: TransferValues  # the fine-tuned backbone
    head: TrainedHead  # the fine-tuned classifier, evaluated on `after`


def default_params(backbone: str | None = None) -> dict[str, Any]:
    """FineTuneConfig's defaults, adapted to the backbone: choosing the top K blocks and
    progressive resizing need the EfficientNet-Lite port's structure, so other backbones
    unfreeze all of it at one input size."""
    params = asdict(FineTuneConfig())
    if backbone is not None and not has_lite_structure(backbone):
        params.update(unfreeze="all", start_size=0)
    return params


def config_from_params(params: dict[str, Any] | None, *, seed: int = 0,
                       backbone: str | None = None) -> FineTuneConfig:
    """A FineTuneConfig from loose parameters (CLI `--param`, dashboard widgets) over the
    backbone's defaults; unknown names are an error that lists the known ones."""
    params = check_params(dict(params or {}), FineTuneConfig.parameter_specs(),
                          owner="fine-tuning")
    params.setdefault("seed", seed)
    config = FineTuneConfig(**{**default_params(backbone), **params})
    config.validate()
    return config


def fine_tune_and_evaluate(*, dataset: ImageDataset, backbone: str = "efficientnet_lite0",
                           config: FineTuneConfig = FineTuneConfig(),
                           cache_dir: str | Path | None = None,
                           progress: Optional[ProgressCallback] = None,
                           on_epoch: Optional[Callable[[FineTuneEpoch], None]] = None) -> FineTuned:
    """Fine-tune `backbone` on `dataset` (resuming a killed run), then evaluate it."""
    from core.heads import train_head
    from core.features.transfer_values import compute_transfer_values

    result = fine_tune(dataset=dataset, backbone=backbone, config=config, cache_dir=cache_dir,
                       progress=progress, on_epoch=on_epoch)
    before = compute_transfer_values(dataset=dataset, backbone=backbone,
                                     image_size=config.image_size, cache_dir=cache_dir,
                                     progress=progress)
    after = compute_transfer_values(dataset=dataset, backbone=result.backbone_name,
                                    image_size=config.image_size, cache_dir=cache_dir,
                                    progress=progress)
    head = train_head(tv=after, head="finetune", params={"run_dir": str(result.run_dir)},
                      seed=config.seed, cache_dir=cache_dir)
    return FineTuned(result=result, before=before, after=after, head=head)


def load_fine_tuned(*, key: str, dataset: ImageDataset, backbone: str,
                    cache_dir: str | Path | None = None) -> FineTuned:
    """The finished fine-tuning run `key` of `backbone` on `dataset` (a link's `ft=`),
    evaluated as `fine_tune_and_evaluate` does, from the cache: nothing trains. Raises
    ParameterError when the key names no finished run of these images and backbone here."""
    config = finished_config(key=key, dataset=dataset, backbone=backbone, cache_dir=cache_dir)
    return fine_tune_and_evaluate(dataset=dataset, backbone=backbone, config=config,
                                  cache_dir=cache_dir)
