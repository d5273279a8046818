"""Multinomial logistic regression on standardized transfer values: the fast default head."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.base.params import Params, param
from core.heads.base import HeadData, HeadModel, linear_softmax_model, softmax
from core.heads.registry import register_head
from core.base.progress import Progress

SINGLE_THREAD_BELOW = 2_000_000  # matrix entries; see _blas_threads
C_GRID = (0.001, 0.01, 0.1)  # C="auto": tried in this order (warm-started) while val improves
WEIGHTS_FILE = "weights.npz"


def _blas_threads(matrix: np.ndarray):
    """One BLAS thread for small problems: on digits (1.4k × 64) L-BFGS took 1.0 s with the
    default thread pool on a busy 2-core machine and 0.08 s with one thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if matrix.size < SINGLE_THREAD_BELOW else None,
                             user_api="blas")


@dataclass(frozen=True)
class LogRegConfig(Params):
    # C=0.01 measured on Fashion-MNIST Lite0@96px (55k × 1280): val 89.3 %, converged in ~115
    # L-BFGS iterations; C=1 reached val 87.3 % and had not converged after 300 (291 s).
    C: float | str = param(0.01, min=0, min_exclusive=True, max=1e6, auto=True,
                           help="inverse regularisation strength (smaller: stronger); \"auto\" "
                                f"tries {', '.join(map(str, C_GRID))} on validation")
    max_iter: int = param(300, min=1, max=10_000, help="L-BFGS iterations at most")


class _IterationReport:
    """A scikit-learn fit callback (sklearn.callback, ≥ 1.9): each L-BFGS iteration is a
    progress report, so the bar moves while the solver runs and Cancel stops it there."""

    def __init__(self, progress, *, max_iter: int) -> None:
        self.progress, self.max_iter, self.C, self.done = progress, max_iter, None, 0

    def setup(self, estimator, context) -> None:
        self.done = 0  # one fit per C: iterations count from 0 again

    def teardown(self, estimator, context) -> None:
        pass

    def on_fit_task_begin(self, estimator, context) -> None:
        pass

    def on_fit_task_end(self, estimator, context, *, X=None) -> bool:
        # no X: the iteration scikit-learn opened after the last one, which never ran
        if context.task_name == "lbfgs-iter" and X is not None and self.progress is not None:
            self.done += 1
            self.progress(Progress("train logreg, L-BFGS iteration", self.done, self.max_iter,
                                   message=f"C={self.C:g}, stops when converged"))
        return False


@register_head
class LogisticRegressionHead(HeadModel):
    name = "logreg"
    title = "Logistic regression"
    description = ("Logistic regression (scikit-learn, L-BFGS) on standardized transfer values. "
                   "Fast, convex, well-calibrated probabilities; the default.")
    config = LogRegConfig

    def fit(self, data: HeadData, *, progress=None, on_epoch=None):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(data.x_train)
        z_train = scaler.transform(data.x_train).astype(np.float32)
        z_val = scaler.transform(data.x_val).astype(np.float32) if len(data.x_val) else None
        grid = C_GRID if self.params["C"] == "auto" else (float(self.params["C"]),)
        max_iter = int(self.params["max_iter"])
        model = LogisticRegression(C=grid[0], max_iter=max_iter, warm_start=True)
        iterations = _IterationReport(progress, max_iter=max_iter)
        if progress is not None and hasattr(model, "set_callbacks"):  # scikit-learn ≥ 1.9
            model.set_callbacks(iterations)
        best, tried = None, []
        for step, C in enumerate(grid):
            iterations.C = C
            if progress is not None:
                progress(Progress("train logreg", step, len(grid), message=f"C={C:g}"))
            started = time.perf_counter()
            model.set_params(C=C)
            with warnings.catch_warnings(record=True) as caught, _blas_threads(z_train):
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(z_train, data.y_train)
            converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
            val_acc = (float(np.mean(model.predict(z_val) == data.y_val))
                       if z_val is not None else None)
            tried.append({"C": C, "val_accuracy": val_acc, "converged": converged,
                          "seconds": round(time.perf_counter() - started, 3)})
            if best is None or (val_acc is not None and val_acc > best[0]):
                best = (val_acc if val_acc is not None else -1.0, C, model.coef_.copy(),
                        model.intercept_.copy(), model.classes_.copy())
            elif val_acc is not None:
                break  # validation got worse: weaker regularisation will not help
        if progress is not None:
            progress(Progress("train logreg", len(grid), len(grid)))
        _, C, coef, intercept, present = best
        # classes absent from train get a -inf-like logit so they are never predicted
        self.coef_ = np.zeros((data.num_classes, coef.shape[1]), dtype=np.float32)
        self.intercept_ = np.full(data.num_classes, -1e4, dtype=np.float32)
        if len(present) == 2 and coef.shape[0] == 1:  # sklearn's binary form: one row
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        self.coef_[present] = coef
        self.intercept_[present] = intercept
        self.mean_ = scaler.mean_.astype(np.float32)
        self.scale_ = scaler.scale_.astype(np.float32)
        self.details_ = {"C": C, "tried": tried}
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        z = (np.asarray(X, dtype=np.float32) - self.mean_) / self.scale_
        return z @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.decision_function(X).astype(np.float64)).astype(np.float32)

    def folded_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(kernel (D, C), bias (C,)): the logits as X @ kernel + bias, the standardization
        folded in (the export's Dense layer, and exact class activation maps)."""
        kernel = (self.coef_ / self.scale_).T
        bias = self.intercept_ - (self.mean_ / self.scale_) @ self.coef_.T
        return kernel, bias

    def to_keras(self):
        """One Dense softmax layer with the standardization folded into its weights."""
        kernel, bias = self.folded_weights()
        return linear_softmax_model(kernel=kernel, bias=bias, layer_name="logreg",
                                    model_name="logreg_head")

    def save_state(self, folder: Path) -> list[str]:
        np.savez(folder / WEIGHTS_FILE, coef=self.coef_, intercept=self.intercept_,
                 mean=self.mean_, scale=self.scale_)
        return [WEIGHTS_FILE]

    @classmethod
    def load_state(cls, folder: Path, *, params: dict[str, Any], seed: int) -> "LogisticRegressionHead":
        head = cls(params=params, seed=seed)
        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as weights:
            head.coef_ = weights["coef"].astype(np.float32)
            head.intercept_ = weights["intercept"].astype(np.float32)
            head.mean_ = weights["mean"].astype(np.float32)
            head.scale_ = weights["scale"].astype(np.float32)
        return head
