"""Fine-tuning settings and records: what changes a run (its key), what each epoch
reports, and what a finished run hands back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.base.errors import ParameterError, TransferLensError
from core.base.memory import require_memory
from core.base.params import Params, check_params, param, whole_number

FINETUNE_VERSION = 1
# bytes of training memory per input pixel of one image in a batch (activations kept for the
# backward pass): a deliberately low figure for EfficientNet-Lite0, so the check only refuses
# batches that cannot fit on any account
TRAIN_BYTES_PER_PIXEL = 500
_FRACTION = dict(kind="float", min=0, max=1, max_exclusive=True)
# what every view of the app shows once a run finished: the original backbone's values or
# the fine-tuned one's (the link's `space=`)
FEATURE_SPACES = ("original", "fine_tuned")


@dataclass(frozen=True)
class FineTuneConfig(Params):
    """Everything that changes a fine-tuning run (part of its key); each field's default,
    bounds and help declared once (`FineTuneConfig.parameter_specs()` for a front end)."""

    # 8 epochs growing from 48 to 88 px, the top 13 of 16 blocks unfrozen, peak lr 5e-4:
    # chosen by whole runs on Fashion-MNIST on 2 CPU cores. Why each (the measured runs and
    # their figures are in the README, "Fine-tuning"): small inputs are cheap while the
    # network adapts; this set-up (BN folded, top 13 blocks) fits better with a gentler step
    # than the recipe's 1e-3; freezing the stem and first three blocks trains faster at no
    # loss of accuracy.
    epochs: int = param(8, min=1, max=1000, help="epochs of end-to-end training")
    # also the fine-tuned extractor's input size
    image_size: int = param(88, min=32, max=1024, help="the last epoch's input size (px)")
    # progressive resizing, in multiples of 8: cheap small images while the network adapts,
    # the full size where it settles
    start_size: int = param(48, min=0, max=1024,
                            help="first epoch's input size, growing to image_size (0: off, "
                                 "else at least 32)")
    batch_size: int = param(128, min=1, max=4096, help="images per step")
    peak_lr: float = param(5e-4, min=0, min_exclusive=True, max=1,
                           help="the schedule's highest learning rate")
    weight_decay: float = param(0.05, min=0, max=1, help="AdamW's decoupled weight decay")
    label_smoothing: float = param(0.1, **_FRACTION,
                                   help="share of the target spread over classes")
    schedule: str = param("onecycle", choices=("onecycle", "cosine"),
                          help="learning-rate shape")
    warmup_fraction: float = param(0.25, **_FRACTION,
                                   help="one-cycle: share of steps rising to the peak")
    # top-K: K blocks of the backbone, plus its head conv
    unfreeze: str = param("top-13", help="'all' or 'top-K': the backbone blocks that train")
    # frozen: the statistics are folded into the convolutions
    bn: str = param("frozen", choices=("frozen", "train"),
                    help="batch norm: ImageNet statistics (frozen) or adapting (train)")
    crop_pad_fraction: float = param(0.1, min=0, max=0.5,
                                     help="pad by this share of the side, then random-crop")
    flip: bool = param(True, help="random horizontal flips")
    erase: float = param(0.0, min=0, max=1,  # applied in core.finetune.augment
                         help="probability of random erasing: a noise rectangle of 2-40 % of "
                              "each image (0: off)")
    dropout: float = param(0.2, **_FRACTION, help="dropout before the classifier")
    # updated every step; each epoch's validation scores the raw weights and the average
    ema: float = param(0.0, min=0, max=1, max_exclusive=True,
                       help="momentum of an exponential moving average of the weights (0: off); "
                            "the average is kept when it scores higher on validation")
    head_epochs: int = param(8, min=0, max=1000,
                             help="phase 1: epochs of the linear head on cached values")
    seed: int = param(0, min=0, max=2**31 - 1, help="random seed")

    def validate(self) -> None:
        """ParameterError naming the bound of the first field outside its spec, or a
        TransferLensError for the rules between fields."""
        from dataclasses import asdict

        check_params(asdict(self), self.parameter_specs(), owner="fine-tuning")
        if self.unfreeze != "all" and not (self.unfreeze.startswith("top-")
                                           and whole_number(self.unfreeze[4:]) is not None):
            raise TransferLensError(f"unfreeze must be 'all' or 'top-K' (e.g. top-3), not "
                                    f"'{self.unfreeze}'")
        if self.start_size and self.start_size < 32:
            raise TransferLensError(f"start_size must be 0 (off) or at least 32, not "
                                    f"{self.start_size}")

    def check_resources(self) -> None:
        """ResourceLimitError when a batch at the largest input size cannot fit in memory."""
        needed = self.batch_size * self.image_size ** 2 * TRAIN_BYTES_PER_PIXEL
        require_memory(needed=needed, what=f"Fine-tuning with batches of {self.batch_size} "
                                           f"images at {self.image_size} px",
                       lower="batch_size or image_size")

    @property
    def progressive(self) -> bool:
        """Whether epochs train at different input sizes."""
        return len(set(self.epoch_sizes())) > 1

    def epoch_sizes(self) -> list[int]:
        """The input size of every epoch (all image_size unless start_size is set)."""
        start = min(self.start_size, self.image_size)  # never above the final size
        if not start or self.epochs == 1 or start == self.image_size:
            return [self.image_size] * self.epochs
        span = self.image_size - start
        sizes = [start + span * e / (self.epochs - 1) for e in range(self.epochs)]
        return [min(self.image_size, max(32, 8 * round(size / 8))) for size in sizes[:-1]] + [
            self.image_size]


def linked_feature_space(text: str, *, fine_tuned: bool) -> bool:
    """Whether a link's `space=` asks for the fine-tuned backbone's values. ParameterError
    when it is none of FEATURE_SPACES, or asks for those values with no finished fine-tuning
    to show (`fine_tuned` False: the link's `ft=` was absent or could not be used)."""
    text = str(text).strip()
    if text not in FEATURE_SPACES:
        raise ParameterError(f"the space is {' or '.join(FEATURE_SPACES)}")
    if text == FEATURE_SPACES[1] and not fine_tuned:
        raise ParameterError("needs a usable fine-tuning (ft=)")
    return text == FEATURE_SPACES[1]


@dataclass
class FineTuneEpoch:
    epoch: int  # 1-based
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    images_per_second: float
    learning_rate: float
    image_size: int = 0  # the epoch's input size (0: not recorded by older runs)
    ema_val_accuracy: float = float("nan")  # the weights' moving average (nan: ema off)


@dataclass
class FineTuneResult:
    run_dir: Path
    backbone_path: Path  # the fine-tuned feature extractor, usable as a backbone
    model_path: Path  # end to end: uint8 images of any size in, class probabilities out
    head_weights: tuple[np.ndarray, np.ndarray]  # (D, C) kernel and (C,) bias
    history: list[FineTuneEpoch]
    config: FineTuneConfig
    train_seconds: float
    resumed_from_epoch: int
    images_per_second: float
    feature_layer: str = "avg_pool"  # the extractor's output layer (its pooling)
    weights: str = "raw"  # "ema" when the moving average scored higher on validation

    @property
    def backbone_name(self) -> str:
        """The name `core.backbones.get_backbone` resolves to the fine-tuned extractor."""
        return f"{self.backbone_path}:{self.feature_layer}"
