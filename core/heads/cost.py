"""A head's training cost, estimated from its data and parameters before it starts, so a
public app refuses a run that would hold the shared CPU for hours (issue 27: an MLP with
100,000 hidden units, 1,000 epochs, batch 1 and 10 folds would take weeks).

The estimate is an upper bound: every epoch (Keras heads) or iteration (L-BFGS) runs, none
stopped early, over the training rows, once more per cross-fit fold. Work is counted from
what the heads' code does; it becomes seconds through CPU-time rates of the heads' own fits
(`python -m benchmarks.workers.head_cost_worker`: median of 3 runs per size, all threads'
CPU time, which is what a job takes from the shared CPU), measured 2026-12-06 on the
project's 2-core machine under a load average of ~20 (rates err slow, estimates high):
  - logistic regression (scikit-learn L-BFGS): each evaluation of the loss and its gradient
    is a rows × features × classes product each way; 2.4e-9 CPU-s per row·feature·class
    (the slowest of 1,800×256, 3,600×640 and 7,200×1,280 ×10 classes: 0.39, 2.4 and 1.9
    e-9), and L-BFGS's line search made 1.22 evaluations an iteration over all fits and 1.56
    on a converging C=auto fit: 1.6 is counted. C="auto" counts all 3 values of the grid
    at max_iter each;
  - ridge (Gram matrix rows·dim², eigendecomposition ~9·dim³): 7.0e9 multiply-adds per
    CPU-s (3,600 × 1,280);
  - Keras Dense training (softmax, mlp): 6.1e9 and 6.7e9 forward multiply-adds per CPU-s
    (3,600 × 640 → 512 → 10 at batch 256; the backward pass is inside that time): 6.0e9
    is used; 0.8 and 1.5 ms of fixed cost per gradient step (batch 1 on a tiny model):
    1.5 ms is used.
So every head's defaults, and logistic regression with C=auto, each with 5 cross-fit folds
on the public bundle's 7,837 × 1,280 values, fit the public hour (C=auto: ~35 min bound),
while an MLP with 100,000 hidden units, 1,000 epochs, batch 1 and 10 folds counts ~550 h.
The heads' modules are not touched: this reads their params.

Fine-tuning (only when the operator allows it in a public app) is costed from the training
speed benchmarks/RESULTS.md section 6 measured for efficientnet_lite0 (290 images/s at
64 px, 136 at 96, 71.6 at 128: about 1/px²), over every epoch's input size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from core.base.progress import format_seconds

KERAS_MACS_PER_SECOND = 6.0e9
KERAS_STEP_SECONDS = 1.5e-3
LOGREG_SECONDS_PER_UNIT = 2.4e-9  # one row × feature × class in one loss-and-gradient evaluation
LBFGS_EVALUATIONS_PER_ITERATION = 1.6
RIDGE_MACS_PER_SECOND = 7.0e9
C_GRID_SIZE = 3  # logreg's C="auto" tries up to core.heads.logreg.C_GRID's 3 values
FINETUNE_IMAGES_PER_SECOND_AT_64PX = 290.0


@dataclass(frozen=True)
class HeadCost:
    """An upper bound of a head's training work and the time it takes here."""

    head: str
    multiply_adds: float  # 0 when costed another way (fine-tuning: images and sizes)
    steps: int  # gradient steps (Keras heads); 0 for the others
    seconds: float
    basis: str = ""  # what the estimate counts, when not multiply-adds
    kind: str = "an upper bound"  # or "an estimate" (fine-tuning runs every epoch anyway)

    def describe(self) -> str:
        steps = f" and {self.steps:,} gradient steps" if self.steps else ""
        basis = self.basis or f"{self.multiply_adds:.2g} multiply-adds{steps}"
        return (f"about {format_seconds(self.seconds)} ({self.kind}: {basis}, at rates "
                f"measured on this machine)")


def _keras(params: dict[str, Any], *, n_rows: int, dim: int, classes: int,
           fits: int) -> tuple[float, int, float]:
    hidden = int(params.get("hidden", 0) or 0)
    per_row = dim * hidden + hidden * classes if hidden else dim * classes
    epochs, batch = int(params["epochs"]), max(1, int(params["batch_size"]))
    macs = float(fits) * epochs * n_rows * per_row
    steps = fits * epochs * math.ceil(n_rows / batch)
    return macs, steps, macs / KERAS_MACS_PER_SECOND + steps * KERAS_STEP_SECONDS


def _logreg(params: dict[str, Any], *, n_rows: int, dim: int, classes: int,
            fits: int) -> tuple[float, int, float]:
    grid = C_GRID_SIZE if params.get("C") == "auto" else 1
    evaluations = fits * grid * int(params["max_iter"]) * LBFGS_EVALUATIONS_PER_ITERATION
    units = evaluations * n_rows * dim * classes  # the loss's product, and the gradient's
    return 2 * units, 0, units * LOGREG_SECONDS_PER_UNIT


def _ridge(params: dict[str, Any], *, n_rows: int, dim: int, classes: int,
           fits: int) -> tuple[float, int, float]:
    macs = float(fits) * (n_rows * dim * dim + 9 * dim ** 3)  # Gram matrix, then eigh
    return macs, 0, macs / RIDGE_MACS_PER_SECOND


MODELS: dict[str, Callable[..., tuple[float, int, float]]] = {
    "logreg": _logreg, "ridge": _ridge, "softmax": _keras, "mlp": _keras,
    "mlp_regressor": _keras}


def estimate_head_cost(*, head: str, params: dict[str, Any], n_rows: int, dim: int,
                       classes: int, folds: int = 0) -> HeadCost | None:
    """The cost of training `head` with (resolved) `params` on `n_rows` × `dim` values and
    `classes` outputs (1 for a regression), plus `folds` cross-fit fits; None when there is
    no cost model for it (a head that trains like the Keras ones, with epochs and a batch
    size, is costed as one)."""
    model = MODELS.get(head)
    if model is None and {"epochs", "batch_size"} <= set(params):
        model = _keras
    if model is None:
        return None
    macs, steps, seconds = model(params, n_rows=n_rows, dim=dim, classes=max(1, classes),
                                 fits=1 + max(0, folds))
    return HeadCost(head=head, multiply_adds=macs, steps=steps, seconds=seconds)


def estimate_fine_tune_cost(*, epoch_sizes: Sequence[int], n_train: int) -> HeadCost:
    """Fine-tuning's training time: every epoch over `n_train` images at its input size."""
    seconds = sum(n_train / (FINETUNE_IMAGES_PER_SECOND_AT_64PX * (64 / size) ** 2)
                  for size in epoch_sizes)
    sizes = "–".join(str(s) for s in sorted({min(epoch_sizes), max(epoch_sizes)}))
    return HeadCost(head="finetune", multiply_adds=0.0, steps=0, seconds=seconds,
                    basis=f"{len(epoch_sizes)} epochs of {n_train:,} images at {sizes} px",
                    kind="an estimate")


def check_public_fine_tune_cost(*, epoch_sizes: Sequence[int], n_train: int,
                                what: str) -> HeadCost | None:
    """In a public app (whose operator allows fine-tuning), refuse a run estimated over
    PublicPolicy.max_head_seconds; returns the estimate."""
    from core.base.public import policy

    if not policy().enabled:
        return None
    cost = estimate_fine_tune_cost(epoch_sizes=epoch_sizes, n_train=n_train)
    _refuse_over_budget(what, cost, fix="use fewer epochs, a smaller input size or a subset")
    return cost


def _refuse_over_budget(what: str, cost: HeadCost, *, fix: str) -> None:
    from core.base.public import policy, refuse_heavy_if_public

    limit = policy().max_head_seconds
    over = ([f"it would take {cost.describe()}, over the limit of {format_seconds(limit)}"]
            if cost.seconds > limit else [])
    refuse_heavy_if_public(what, over=over, fix=fix)


def check_public_head_cost(*, head: str, params: dict[str, Any], n_rows: int, dim: int,
                           classes: int, folds: int = 0, fine_tunes_backbone: bool = False
                           ) -> HeadCost | None:
    """In a public app, refuse (PublicModeError) a head whose estimated training time is over
    PublicPolicy.max_head_seconds, or that has no cost model; returns the estimate. Heads
    that fine-tune the backbone are bounded by fine-tuning's own refusal."""
    from core.base.public import policy, refuse_heavy_if_public

    rules = policy()
    if not rules.enabled or fine_tunes_backbone:
        return None
    cost = estimate_head_cost(head=head, params=params, n_rows=n_rows, dim=dim,
                              classes=classes, folds=folds)
    shown = ", ".join(f"{k} {v}" for k, v in params.items())
    what = (f"Training the {head} head ({shown}){f' with {folds} cross-fit folds' if folds else ''}"
            f" on {n_rows:,} rows × {dim:,} values")
    if cost is None:
        refuse_heavy_if_public(what, over=["it has no cost estimate, so its time cannot be "
                                           "bounded"], fix="choose another head")
        return None
    _refuse_over_budget(what, cost, fix="use fewer epochs, hidden units, iterations or "
                                        "folds, or a larger batch")
    return cost
