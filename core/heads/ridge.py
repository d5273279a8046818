"""Ridge regression on transfer values: closed form, the penalty chosen on validation.

One eigendecomposition of the centred training Gram matrix ZᵀZ = V diag(λ) Vᵀ serves every
penalty α: w(α) = V diag(1 / (λ + α)) Vᵀ Zᵀy, and the validation predictions are
(Z_val V) diag(1 / (λ + α)) (Vᵀ Zᵀy), so trying the whole grid costs one D×D
decomposition and a few matrix-vector products. The grid is relative to the mean
eigenvalue (trace / D), so it fits features of any scale. Matches scikit-learn's `Ridge`
for the same α (tests/test_regression_heads.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.base.params import Params, param
from core.base.progress import Progress
from core.heads.base import HeadData, RegressionHead
from core.heads.registry import register_head

# α / mean eigenvalue of ZᵀZ, tried in this order: 1e-6 … 1000 in half decades
RELATIVE_ALPHAS = tuple(10.0 ** e for e in np.arange(-6.0, 3.01, 0.5))
SCALINGS = ("none", "standardize")
WEIGHTS_FILE = "weights.npz"
# a feature whose spread is below this share of the largest one (a constant one) is left
# unscaled rather than divided by ~0
_FLAT = 1e-6


def feature_scaling(x: np.ndarray, *, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) per feature: centring always, dividing by the spread only for
    "standardize"."""
    mean = x.mean(axis=0)
    if scaling == "none":
        return mean, np.ones(x.shape[1])
    std = x.std(axis=0)
    return mean, np.where(std > _FLAT * max(float(std.max(initial=0.0)), 1e-30), std, 1.0)


@dataclass(frozen=True)
class RidgeConfig(Params):
    alpha: float | str = param("auto", kind="float", min=0, min_exclusive=True, max=1e12,
                               auto=True,
                               help=f"L2 penalty; \"auto\" tries {len(RELATIVE_ALPHAS)} values "
                                    "from 1e-6 to 1000 × the mean eigenvalue of the Gram matrix "
                                    "on validation")
    # "none": on fashion_mnist_scale (Lite0@96px, full size) raw transfer values reached val
    # R² 0.8970 and standardised ones 0.8964 — a tie here, but on the second size task
    # standardising fell from R² 0.945 to 0.41 (near-constant channels blown up on held-out
    # images), so raw is the safe default; benchmarks/RESULTS.md, "Regression heads", has both
    # side by side
    scaling: str = param("none", choices=SCALINGS,
                         help="none: centre the transfer values only; standardize: also divide "
                              "each by its spread")


@register_head
class RidgeHead(RegressionHead):
    name = "ridge"
    title = "Ridge regression"
    description = ("Ridge regression (closed form, one eigendecomposition for every penalty) on "
                   "the transfer values; the penalty is chosen on the validation split. Seconds; "
                   "the default regression head.")
    config = RidgeConfig

    def fit(self, data: HeadData, *, progress=None, on_epoch=None):
        started = time.perf_counter()
        if progress is not None:
            progress(Progress("train ridge", 0, 2, message="Gram matrix"))
        x = np.asarray(data.x_train, dtype=np.float64)
        y = np.asarray(data.y_train, dtype=np.float64)
        mean, scale = feature_scaling(x, scaling=str(self.params["scaling"]))
        z = (x - mean) / scale
        del x
        y_mean = float(y.mean())
        gram = z.T @ z
        eigenvalues, vectors = np.linalg.eigh(gram)
        eigenvalues = np.maximum(eigenvalues, 0.0)  # rounding can leave tiny negatives
        projected = vectors.T @ (z.T @ (y - y_mean))
        del z, gram
        if progress is not None:
            progress(Progress("train ridge", 1, 2, message="choosing the penalty"))
        mean_eigenvalue = float(eigenvalues.mean()) or 1.0
        has_val = len(data.x_val) > 0
        if self.params["alpha"] != "auto":
            grid = (float(self.params["alpha"]),)
        else:
            grid = tuple(r * mean_eigenvalue for r in RELATIVE_ALPHAS)
        tried, best = [], None
        val_basis = (((np.asarray(data.x_val, np.float64) - mean) / scale) @ vectors
                     if has_val else None)
        y_val = np.asarray(data.y_val, dtype=np.float64)
        for alpha in grid:
            shrunk = projected / (eigenvalues + alpha)
            rmse = (float(np.sqrt(np.mean((val_basis @ shrunk + y_mean - y_val) ** 2)))
                    if has_val else None)
            tried.append({"alpha": alpha, "relative": alpha / mean_eigenvalue, "val_rmse": rmse})
            if best is None or (rmse is not None and rmse < best[0]):
                best = (rmse if rmse is not None else np.inf, alpha, shrunk)
        if not has_val and len(grid) > 1:
            # nothing to choose on: a mild penalty (the middle of the grid)
            alpha = grid[len(grid) // 2]
            best = (None, alpha, projected / (eigenvalues + alpha))
        _, alpha, shrunk = best
        weights = vectors @ shrunk  # in the scaled space
        self.coef_ = (weights / scale).astype(np.float64)  # folded back to raw transfer values
        self.intercept_ = float(y_mean - mean @ self.coef_)
        index = grid.index(alpha)
        self.details_ = {"alpha": alpha, "relative_alpha": alpha / mean_eigenvalue,
                         "scaling": self.params["scaling"], "tried": tried,
                         "at_grid_edge": len(grid) > 1 and index in (0, len(grid) - 1),
                         "fit_seconds": round(time.perf_counter() - started, 3)}
        if progress is not None:
            progress(Progress("train ridge", 2, 2))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return (X @ self.coef_ + self.intercept_).astype(np.float32)

    def to_keras(self):
        from core.heads.base import dense_model

        return dense_model(kernel=self.coef_[:, None], bias=np.array([self.intercept_]),
                           activation=None, layer_name="ridge", model_name="ridge_head")

    def save_state(self, folder: Path) -> list[str]:
        np.savez(folder / WEIGHTS_FILE, coef=self.coef_, intercept=np.array([self.intercept_]))
        return [WEIGHTS_FILE]

    @classmethod
    def load_state(cls, folder: Path, *, params: dict[str, Any], seed: int) -> "RidgeHead":
        head = cls(params=params, seed=seed)
        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as weights:
            head.coef_ = weights["coef"].astype(np.float64)
            head.intercept_ = float(weights["intercept"][0])
        return head
