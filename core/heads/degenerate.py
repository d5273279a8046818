"""Which trained heads are not worth keeping: a run that learned nothing (no better than
always answering the majority class, or for a regression head than always predicting the
training mean: validation R² ≤ 0) or whose loss blew up. Such a head is listed, never
chosen as the best (`core.heads.history.best_head`)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

# how many standard errors above chance an accuracy must be: below that, on this many
# samples, it cannot be told apart from guessing
NOISE_SE = 2.0


def is_degenerate(item: Any, *, history: Iterable[Any] | None = None) -> str | None:
    """Why `item` is degenerate, or None when it is not. `item` is a metrics dict (as
    `train_head` logs it) or anything with `.metrics` (a TrainedHead, a HeadSummary) and
    optionally `.history` (epoch logs: objects or dicts with `loss`/`val_loss`)."""
    metrics: Mapping[str, Any] = item if isinstance(item, Mapping) else item.metrics
    if history is None:
        history = getattr(item, "history", None) or ()
    reason = _blown_up(history)
    if reason:
        return reason
    for name in ("val_accuracy", "test_accuracy", "val_r2", "test_r2"):
        value = metrics.get(name)
        if value is not None and not math.isfinite(value):
            return f"{name.replace('_', ' ')} is not a number"
    if "val_r2" in metrics or "test_r2" in metrics:
        return _below_mean(metrics)
    return _at_chance(metrics)


def _below_mean(metrics: Mapping[str, Any]) -> str | None:
    split = "val" if metrics.get("val_r2") is not None else "test"
    r2 = metrics.get(f"{split}_r2")
    if r2 is not None and r2 <= 0:
        return (f"{split} R² {r2:.3f} ≤ 0: no better than always predicting the training "
                f"mean")
    return None


def _blown_up(history: Iterable[Any]) -> str | None:
    for entry in history:
        get = entry.get if isinstance(entry, Mapping) else (lambda k, e=entry: getattr(e, k, None))
        for name in ("loss", "val_loss"):
            value = get(name)
            if value is not None and not math.isfinite(value):
                return (f"the {name.replace('_', ' ')} became {value} in epoch {get('epoch')} "
                        f"(learning rate too high?)")
    return None


def _at_chance(metrics: Mapping[str, Any]) -> str | None:
    split = "val" if metrics.get("val_accuracy") is not None else "test"
    accuracy, n = metrics.get(f"{split}_accuracy"), metrics.get(f"n_{split}") or 0
    chance = metrics.get("chance_accuracy")
    if chance is None:
        chance = metrics.get("uniform_chance")
    if accuracy is None or chance is None:
        return None  # nothing to judge it on
    noise = NOISE_SE * math.sqrt(chance * (1 - chance) / n) if n else 0.0
    if accuracy <= chance + noise:
        return (f"{split} accuracy {accuracy:.1%} is no better than chance ({chance:.1%}, always "
                f"the majority class) within the noise of {n} samples")
    return None
