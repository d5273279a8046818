"""The learning-rate schedule of fine-tuning: one-cycle (warm-up, then cosine) or cosine."""

from __future__ import annotations

import math


class OneCycleSchedule:
    """Learning rate for step t: linear warm-up to the peak, then cosine decay to ~0."""

    def __init__(self, *, total_steps: int, peak: float, warmup_fraction: float,
                 kind: str) -> None:
        self.total = max(1, total_steps)
        self.peak = peak
        self.warmup = int(self.total * warmup_fraction) if kind == "onecycle" else 0
        self.start = peak / 25.0  # one-cycle's usual starting point

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.start + (self.peak - self.start) * step / max(1, self.warmup)
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return self.peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
