"""Worker: are TensorFlow's CPU gradients of depthwise convolutions worth replacing?

Forward + backward of the depthwise convolutions EfficientNet-Lite0 trains at 88 px with the
top 13 blocks unfrozen (batch 128 unless --batch), three ways: TensorFlow's own kernels, a custom gradient
whose filter part is k² strided slices times the output gradient, and one whose filter part
is a single einsum over the stacked slices. Reports ms per shape and the total; both custom
gradients are checked against TensorFlow's.

    python -m benchmarks.workers.depthwise_gradient_worker [--batch 128] [--repeats 20]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import emit

# (feature map side, channels, kernel, stride) of the unfrozen depthwise convs at 88 px
SHAPES = ((22, 144, 5, 2), (11, 240, 5, 1), (11, 240, 3, 2), (6, 480, 3, 1), (6, 480, 5, 1),
          (6, 672, 5, 2), (3, 1152, 5, 1), (3, 1152, 3, 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per shape and way")
    args = parser.parse_args()
    from core.base.tf_env import import_tensorflow

    tf = import_tensorflow()
    ways = {"tensorflow": _native(tf), "slices": _custom(tf, einsum=False),
            "einsum": _custom(tf, einsum=True)}
    rows, totals = [], dict.fromkeys(ways, 0.0)
    for side, channels, kernel, stride in SHAPES:
        x = tf.random.normal([args.batch, side, side, channels])
        w = tf.random.normal([kernel, kernel, channels, 1])
        row = {"shape": [side, channels, kernel, stride]}
        reference = None
        for name, conv in ways.items():
            seconds, grads = _time(tf, conv, x, w, stride, repeats=args.repeats)
            row[f"{name}_ms"] = seconds * 1000
            totals[name] += seconds * 1000
            if reference is None:
                reference = grads
            else:
                row[f"{name}_max_rel_error"] = max(
                    float(tf.reduce_max(tf.abs(a - b)) / tf.reduce_max(tf.abs(a)))
                    for a, b in zip(reference, grads))
        rows.append(row)
    emit({"rows": rows, "total_ms": totals, "batch": args.batch, "repeats": args.repeats})


def _native(tf):
    return lambda x, w, s: tf.nn.depthwise_conv2d(x, w, [1, s, s, 1], "SAME")


def _custom(tf, *, einsum: bool):
    def conv(x, w, s):
        k, channels = w.shape[0], x.shape[-1]

        @tf.custom_gradient
        def f(x, w):
            def grad(dy):
                top, bottom, out_h = _same_padding(x.shape[1], k, s)
                left, right, out_w = _same_padding(x.shape[2], k, s)
                padded = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
                slices = [padded[:, p:p + s * (out_h - 1) + 1:s, q:q + s * (out_w - 1) + 1:s, :]
                          for p in range(k) for q in range(k)]
                if einsum:
                    stacked = tf.reshape(tf.stack(slices), [k * k, -1, channels])
                    dw = tf.einsum("knc,nc->kc", stacked, tf.reshape(dy, [-1, channels]))
                else:
                    dw = tf.stack([tf.reduce_sum(part * dy, axis=[0, 1, 2]) for part in slices])
                dx = (tf.nn.depthwise_conv2d(dy, tf.reverse(w, [0, 1]), [1, 1, 1, 1], "SAME")
                      if s == 1 else tf.compat.v1.nn.depthwise_conv2d_native_backprop_input(
                          tf.shape(x), w, dy, [1, s, s, 1], "SAME"))
                return dx, tf.reshape(dw, [k, k, channels, 1])

            return tf.nn.depthwise_conv2d(x, w, [1, s, s, 1], "SAME"), grad

        return f(x, w)

    return conv


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def _time(tf, conv, x, w, stride: int, repeats: int = 20):
    @tf.function
    def step(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = conv(x, w, stride)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, w])

    step(x, w)  # trace
    started = time.perf_counter()
    for _ in range(repeats):
        grads = step(x, w)
    grads = [g.numpy() for g in grads]
    return (time.perf_counter() - started) / repeats, grads


if __name__ == "__main__":
    main()
