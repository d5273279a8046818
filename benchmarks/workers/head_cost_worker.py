"""Worker: the rates behind core.heads.cost, measured by running the heads' own code.

Work is counted, CPU time (all the process's threads: what a job takes from the shared CPU,
and less sensitive to other load than wall time) is measured per unit of work (median of
`--repeats` runs per size):
  - logreg: the real LogisticRegressionHead fit (scikit-learn L-BFGS) with a fixed number of
    iterations, the loss-and-gradient evaluations counted by wrapping scipy's minimize;
    seconds per evaluation / (rows × features × classes). A converging fit at the largest
    size gives the evaluations L-BFGS makes per iteration (its line search).
  - ridge: the real head's fit (Gram matrix and eigendecomposition) per multiply-add.
  - Keras (softmax, mlp): the real mlp head's fit at 1 and 3 epochs (the difference is two
    epochs without building and compiling), at a multiply-add-heavy size (batch 256) and a
    step-heavy one (batch 1, a tiny model): seconds = multiply-adds / rate + steps × cost.
On a busy machine threads spin and caches are shared, so the rates err slow and the
estimates from them high (the safe side).

    python -m benchmarks.workers.head_cost_worker --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import emit

LOGREG_SIZES = ((2_000, 256, 10), (4_000, 640, 10), (8_000, 1_280, 10))
FIXED_ITERATIONS = 15


def head_data(n: int, dim: int, classes: int, *, seed: int = 0):
    """Separable-ish random rows (class means apart), 10 % of them for validation."""
    from core.heads.base import HeadData

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (rng.normal(size=(n, dim)) + rng.normal(size=(classes, dim))[y]).astype(np.float32)
    val = n // 10
    return HeadData(x_train=x[val:], y_train=y[val:], x_val=x[:val], y_val=y[:val],
                    num_classes=classes, train_rows=np.arange(val, n), val_rows=np.arange(val))


class CountedMinimize:
    """scipy.optimize.minimize, counting the evaluations and iterations of every call."""

    def __init__(self) -> None:
        from scipy import optimize

        self.optimize, self.original = optimize, optimize.minimize
        self.nfev = self.nit = 0

    def __enter__(self):
        def counted(*args, **kwargs):
            result = self.original(*args, **kwargs)
            self.nfev += int(result.nfev)
            self.nit += int(result.nit)
            return result

        self.optimize.minimize = counted
        return self

    def __exit__(self, *exc) -> None:
        self.optimize.minimize = self.original


def ridge_rate(repeats: int) -> dict:
    """CPU seconds of the real ridge head per multiply-add as core.heads.cost counts them
    (rows × dim² for the Gram matrix, 9 dim³ for its eigendecomposition)."""
    from core.heads.registry import get_head_class

    n, dim = 4_000, 1_280
    data = head_data(n, dim, 10)
    data.y_train = data.y_train.astype(np.float64)
    data.y_val = data.y_val.astype(np.float64)
    data.num_classes = 0
    runs = []
    for _ in range(repeats):
        head = get_head_class("ridge")(params={})
        started = time.process_time()
        head.fit(data)
        runs.append(time.process_time() - started)
    macs = len(data.x_train) * dim * dim + 9 * dim ** 3
    return {"ridge_macs_per_second": macs / float(np.median(runs)),
            "ridge_size": f"{len(data.x_train)}x{dim}"}


def logreg_fit(data, **params) -> tuple[float, int, int]:
    """(seconds, evaluations, iterations) of one fit of the real head."""
    from core.heads.registry import get_head_class

    head = get_head_class("logreg")(params=params)
    with CountedMinimize() as counted:
        started = time.process_time()
        head.fit(data)
        seconds = time.process_time() - started
    return seconds, counted.nfev, counted.nit


def logreg_rates(repeats: int) -> dict:
    per_unit, sizes, evaluations, iterations = [], [], 0, 0
    for n, dim, classes in LOGREG_SIZES:
        data = head_data(n, dim, classes)
        rows = len(data.x_train)
        runs = []
        for _ in range(repeats):
            # C tiny enough that it never converges within the fixed iterations
            seconds, nfev, nit = logreg_fit(data, C=1e3, max_iter=FIXED_ITERATIONS)
            evaluations, iterations = evaluations + nfev, iterations + nit
            runs.append(seconds / (nfev * rows * dim * classes))
        per_unit.append(float(np.median(runs)))
        sizes.append(f"{rows}x{dim}x{classes}")
    # and a converging fit (C=auto, the visitor's choice): L-BFGS's line search makes
    # about one evaluation an iteration, more when it backtracks
    _, nfev, nit = logreg_fit(head_data(*LOGREG_SIZES[-1]), C="auto", max_iter=300)
    evaluations, iterations = evaluations + nfev, iterations + nit
    return {"logreg_sizes": sizes, "logreg_seconds_per_unit": per_unit,
            "logreg_evals_per_iteration": evaluations / max(1, iterations),
            "logreg_evaluations": evaluations, "logreg_iterations": iterations}


def keras_epochs(n: int, dim: int, hidden: int, classes: int, batch: int,
                 repeats: int) -> float:
    """Median seconds of two epochs of the real mlp head (fit at 3 epochs minus fit at 1)."""
    from core.heads.registry import get_head_class

    data = head_data(n, dim, classes)
    cls = get_head_class("mlp")
    runs = []
    for _ in range(repeats):
        took = []
        for epochs in (1, 3):
            head = cls(params={"hidden": hidden, "epochs": epochs, "batch_size": batch,
                               "patience": 100})
            started = time.process_time()
            head.fit(data)
            took.append(time.process_time() - started)
        runs.append(took[1] - took[0])
    return float(np.median(runs)), len(data.x_train)


def keras_rates(repeats: int) -> dict:
    # step-heavy: batch 1 on a tiny model (multiply-adds negligible)
    two_epochs, rows = keras_epochs(600, 16, 8, 10, 1, repeats)
    step_seconds = two_epochs / (2 * rows)
    # multiply-add-heavy: 4,000 × 640 → 512 → 10 at batch 256
    n, dim, hidden, classes, batch = 4_000, 640, 512, 10, 256
    two_epochs, rows = keras_epochs(n, dim, hidden, classes, batch, repeats)
    macs = 2 * rows * (dim * hidden + hidden * classes)
    steps = 2 * -(-rows // batch)
    rate = macs / max(1e-9, two_epochs - steps * step_seconds)
    return {"keras_step_seconds": step_seconds, "keras_macs_per_second": rate,
            "keras_mac_size": f"{rows}x{dim}->{hidden}->{classes} batch {batch}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    emit({**logreg_rates(args.repeats), **ridge_rate(args.repeats), **keras_rates(args.repeats),
          "repeats": args.repeats})


if __name__ == "__main__":
    main()
