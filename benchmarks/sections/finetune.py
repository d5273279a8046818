"""Fine-tuning throughput (optimizer steps, images/s) at several input sizes, and the
speed-ups core uses (matmul gradients for 1×1 convolutions, one op at a time, BN folded)
against their baselines, side by side; and a custom gradient for the depthwise convolutions
against TensorFlow's own (not adopted: the README's fine-tuning levers)."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import BACKBONE, Run, SectionFailed

TITLE = "Fine-tuning speed"


def run(*, run: Run) -> list[str]:
    plan = run.plan
    results, errors = [], []
    for size in plan.finetune_sizes:
        try:
            results.append(run.worker("benchmarks.workers.finetune_speed_worker", "--size", size,
                                      "--batch", plan.finetune_batch,
                                      "--steps", plan.finetune_steps))
        except Exception as error:
            errors.append(f"- {size} px: `{report.error_summary(error)}`")
    if not results:
        raise SectionFailed("every size failed", errors)
    ablation = _ablation(run=run, size=plan.finetune_sizes[0], errors=errors)
    depthwise = _depthwise(run=run, errors=errors)
    base = results[0]
    rows = [[f"{r['size']} px", report.number(r["train_images_per_s"]),
             report.ratio(r["train_images_per_s"] / base["train_images_per_s"]),
             report.ratio((r["size"] / base["size"]) ** 2),
             report.seconds(r["first_step_seconds"]), report.number(r["peak_rss_mb"], 4)]
            for r in results]
    return [f"{BACKBONE}, the real training step of `core.finetune` (augmentation, forward, "
            f"backward, AdamW) with unfreeze={base['unfreeze']}, bn={base['bn']}, "
            f"{base['mixed']}, batch {base['batch']}, on random 28×28 uint8 images: "
            f"{plan.finetune_steps} timed steps after two warm-up steps (the first, which "
            "traces the graph, is shown apart). One fresh process per size.", "",
            *report.table(["input", "train images/s", f"speed vs {base['size']} px",
                           f"pixels vs {base['size']} px", "first step (tracing)",
                           "peak RSS MB"], rows),
            *ablation, *depthwise, *errors, *([""] if errors else [])]


# (label, extra worker arguments, extra environment): core's defaults first
VARIANTS = (
    ("core's defaults (top-13 blocks, BN folded, matmul 1×1 gradients, inter-op 1, any-size "
     "model)", ("--bn", "frozen"), {}),
    ("all blocks unfrozen", ("--bn", "frozen", "--unfreeze", "all"), {}),
    ("fixed-size model (no progressive resizing)", ("--bn", "frozen", "--start-size", "0"), {}),
    ("TensorFlow's own 1×1 convolution gradients", ("--bn", "frozen", "--plain-pointwise"), {}),
    ("TensorFlow's default inter-op threads", ("--bn", "frozen"),
     {"TRANSFER_LENS_TF_INTER_OP": "0"}),
    ("BN in training mode (statistics adapt)", ("--bn", "train"), {}),
)


def _ablation(*, run: Run, size: int, errors: list[str]) -> list[str]:
    """Each variant twice, alternating, best of two: a noisy neighbour slows all alike."""
    plan = run.plan
    best: dict[str, float] = {}
    for _ in range(2):
        for label, args, env in VARIANTS:
            try:
                result = run.worker("benchmarks.workers.finetune_speed_worker", "--size", size,
                                    "--batch", plan.finetune_batch, "--steps",
                                    plan.finetune_steps, *args, env=env)
            except Exception as error:
                errors.append(f"- {label}: `{report.error_summary(error)}`")
                continue
            best[label] = max(best.get(label, 0.0), result["train_images_per_s"])
    if VARIANTS[0][0] not in best:
        return []
    ours = best[VARIANTS[0][0]]
    rows = [[label, report.number(rate), report.ratio(ours / rate)]
            for label, rate in best.items()]
    return ["", f"At {size} px, each variant in its own process, alternating, best of two:", "",
            *report.table(["variant", "train images/s", "core's defaults vs this"], rows)]


def _depthwise(*, run: Run, errors: list[str]) -> list[str]:
    """Forward + backward of the depthwise convolutions fine-tuning trains, three ways."""
    plan = run.plan
    try:
        r = run.worker("benchmarks.workers.depthwise_gradient_worker",
                       "--batch", plan.finetune_batch, "--repeats", plan.depthwise_repeats)
    except Exception as error:
        errors.append(f"- depthwise gradients: `{report.error_summary(error)}`")
        return []
    ways = list(r["total_ms"])
    rows = [[f"{side}×{side}×{channels}, {kernel}×{kernel}, stride {stride}",
             *(f"{row[f'{way}_ms']:.1f}" for way in ways),
             ", ".join(f"{row[f'{way}_max_rel_error']:.1e}" for way in ways[1:])]
            for row in r["rows"] for side, channels, kernel, stride in [row["shape"]]]
    rows.append(["total", *(f"{r['total_ms'][way]:.0f}" for way in ways), ""])
    return ["", f"The depthwise convolutions of {BACKBONE}'s unfrozen blocks at 88 px "
            f"(`benchmarks/workers/depthwise_gradient_worker.py`): forward + backward, batch "
            f"{r['batch']}, mean of {r['repeats']} steps after tracing, ms. TensorFlow's own "
            "gradients against a custom gradient whose filter part is k² strided slices times "
            "the output gradient, and one that does it as a single einsum; max relative "
            "difference from TensorFlow's gradients.", "",
            *report.table(["feature map, kernel", *(f"{way} ms" for way in ways),
                           f"max rel. error ({', '.join(ways[1:])})"], rows)]
