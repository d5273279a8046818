"""How a converted model runs in an ONNX Runtime session: the session options and the model
edits that may make the forward pass faster with the same values (within 1e-4 relative).

The Lite graph (written by core.backbones.lite_onnx as Keras' ONNX export through tf2onnx
makes it, opset 17) is NHWC at its input:
the scalar normalisation (Mul, Add), one Transpose to NCHW, 49 Conv (33 followed by a
ReLU6 Clip), 10 residual Add, GlobalAveragePool, Squeeze. ONNX Runtime's default level
(ALL) already fuses every Clip and Add into its convolution and runs them in its blocked
NCHWc layout; convolutions take ~98 % of the kernel time at 96 px. `SESSION_RECIPES` are the
candidates `benchmarks/workers/ort_options_worker.py` times side by side; `SESSION_RECIPE`
names the one extraction and prediction use (adopting another is a one-line change).
"""

from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

LEVELS = ("disabled", "basic", "extended", "all")


@dataclass(frozen=True)
class SessionRecipe:
    """Session options (`level`: graph optimisation level; `spinning`: idle intra-op threads
    spin rather than sleep; `arena`: the CPU memory arena; `mem_pattern`: memory planned
    from the first run's shapes; `parallel`: the parallel execution mode; `denormal_as_zero`:
    flush denormal floats; `dynamic_block_base`: the intra-op scheduler's dynamic block
    size, 0 = off; `threads`: intra-op threads, None = as the caller asks; `part_images`:
    data-parallel runs, 0 = off: each batch is cut into parts of this many images, run
    side by side, one per thread, on a one-thread session, so no operation waits for its
    threads to meet) and model edits
    (`nchw_input`: the input Transpose removed, the batch transposed here instead;
    `fixed_size`: height and width fixed to the size that runs; `pre_optimised`: the graph
    optimised once, cached, and opened without optimising again)."""

    level: str = "all"
    spinning: bool = False
    arena: bool = True
    mem_pattern: bool = True
    parallel: bool = False
    denormal_as_zero: bool = False
    dynamic_block_base: int = 0
    threads: int | None = None
    part_images: int = 0
    nchw_input: bool = False
    fixed_size: bool = False
    pre_optimised: bool = False

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if (self.dynamic_block_base < 0 or self.part_images < 0
                or (self.threads is not None and self.threads < 1)):
            raise ValueError("dynamic_block_base and part_images must be ≥ 0, threads ≥ 1")

    def workers(self, *, threads: int) -> int:
        """How many runs go side by side: `threads` (or the recipe's own) for data-parallel
        runs, else 1 (the session's intra-op threads share each run)."""
        return int(self.threads or threads) if self.part_images else 1

    def options(self, *, threads: int):
        """The `onnxruntime.SessionOptions` of this recipe with `threads` intra-op threads
        (unless the recipe sets its own)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        # data-parallel: each run on its caller's thread alone, the runs side by side
        options.intra_op_num_threads = 1 if self.part_images else int(self.threads or threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        options.graph_optimization_level = _level(self.level)
        options.enable_cpu_mem_arena = self.arena
        options.enable_mem_pattern = self.mem_pattern
        if self.parallel:
            options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        # sleeping idle threads let the next batch's preprocessing run beside them on the
        # same cores (under load, 1.3–1.7× the images/s of spinning)
        options.add_session_config_entry("session.intra_op.allow_spinning",
                                         "1" if self.spinning else "0")
        if self.denormal_as_zero:
            options.add_session_config_entry("session.set_denormal_as_zero", "1")
        if self.dynamic_block_base:
            options.add_session_config_entry("session.dynamic_block_base",
                                             str(self.dynamic_block_base))
        return options


# the candidates; "default" is what ran before they were compared
SESSION_RECIPES: dict[str, SessionRecipe] = {
    "default": SessionRecipe(),
    "extended": SessionRecipe(level="extended"),  # fused, but no NCHWc layout
    "spinning": SessionRecipe(spinning=True),
    "no_arena": SessionRecipe(arena=False),
    "no_mem_pattern": SessionRecipe(mem_pattern=False),
    "parallel": SessionRecipe(parallel=True),
    "denormal_as_zero": SessionRecipe(denormal_as_zero=True),
    "dynamic_blocks": SessionRecipe(dynamic_block_base=4),
    "one_thread": SessionRecipe(threads=1),
    "nchw_input": SessionRecipe(nchw_input=True),
    "fixed_size": SessionRecipe(fixed_size=True),
    "pre_optimised": SessionRecipe(pre_optimised=True),
    "data_parallel": SessionRecipe(part_images=16),
    "data_parallel_32": SessionRecipe(part_images=32),
}
# the recipe extraction and prediction run: data-parallel parts of 16 images ran Lite0 at
# 1.12-1.17× the default's images/s at 96 and 224 px (4 alternating rounds, 2026-12-07)
SESSION_RECIPE = "data_parallel"


def _level(name: str):
    import onnxruntime as ort

    levels = ort.GraphOptimizationLevel
    return {"disabled": levels.ORT_DISABLE_ALL, "basic": levels.ORT_ENABLE_BASIC,
            "extended": levels.ORT_ENABLE_EXTENDED, "all": levels.ORT_ENABLE_ALL}[name]


def prepared_model(model: bytes, *, recipe: SessionRecipe, image_size: int | None,
                   cache_dir: str | Path | None = None) -> tuple[bytes, SessionRecipe, bool]:
    """`model` (serialised ONNX, NHWC input) edited as `recipe` asks: (the model, the recipe
    its session opens with, whether batches go in as NCHW). An edit that does not apply to
    this graph (no input Transpose to remove, no size given) is left out."""
    nchw = False
    if recipe.nchw_input:
        edited = without_input_transpose(model)
        if edited is not None:
            model, nchw = edited, True
    if recipe.fixed_size and image_size:
        model = with_fixed_size(model, image_size=image_size, nchw=nchw)
    if recipe.pre_optimised:
        model = optimised_model(model, recipe=recipe, cache_dir=cache_dir)
        recipe = replace(recipe, level="disabled")
    return model, recipe, nchw


def without_input_transpose(model: bytes) -> bytes | None:
    """`model` taking NCHW batches: the NHWC→NCHW Transpose after its input removed, when
    only elementwise ops with scalar constants (the normalisation) come before it; else
    None."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(model)
    graph = proto.graph
    if len(graph.input) != 1:
        return None
    scalars = {init.name for init in graph.initializer
               if numpy_helper.to_array(init).size == 1}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    tensor = graph.input[0].name
    while len(consumers.get(tensor, [])) == 1:
        node = consumers[tensor][0]
        if node.op_type == "Transpose":
            perm = [list(a.ints) for a in node.attribute if a.name == "perm"]
            dims = graph.input[0].type.tensor_type.shape.dim
            if perm != [[0, 3, 1, 2]] or len(dims) != 4:
                return None
            for other in graph.node:  # its consumers read its input instead
                for i, name in enumerate(other.input):
                    if name == node.output[0]:
                        other.input[i] = node.input[0]
            graph.node.remove(node)
            n, h, w, c = (onnx.TensorShapeProto.Dimension() for _ in range(4))
            for new, old in zip((n, h, w, c), dims):
                new.CopyFrom(old)
            for dim, new in zip(dims, (n, c, h, w)):
                dim.CopyFrom(new)
            _clear_inner_shapes(graph)
            return proto.SerializeToString()
        if node.op_type not in ("Mul", "Add", "Sub", "Div") or not all(
                name == tensor or name in scalars for name in node.input):
            return None
        tensor = node.output[0]
    return None


def with_fixed_size(model: bytes, *, image_size: int, nchw: bool = False) -> bytes:
    """`model` with its input's height and width fixed to `image_size` (the batch stays free)."""
    import onnx

    proto = onnx.load_from_string(model)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    for axis in ((2, 3) if nchw else (1, 2)):
        dims[axis].Clear()
        dims[axis].dim_value = image_size
    _clear_inner_shapes(proto.graph)
    return proto.SerializeToString()


def _clear_inner_shapes(graph) -> None:
    """Drop the inferred shapes of inner tensors: ONNX Runtime infers them again from the
    edited input (a stale one would contradict it)."""
    del graph.value_info[:]


def optimised_model(model: bytes, *, recipe: SessionRecipe,
                    cache_dir: str | Path | None = None) -> bytes:
    """`model` as ONNX Runtime optimises it at `recipe.level`, from the cache, else optimised
    once and cached. The ALL level's blocked layout depends on the CPU's vector width, so
    the key holds this CPU's flags and ONNX Runtime's version."""
    import onnxruntime as ort

    from core.backbones.conversion_cache import cached_conversion
    from core.base.hashing import hash_key, new_hasher

    hasher = new_hasher()
    hasher.update(model)
    fields = {"optimised_onnx": hasher.hexdigest(), "level": recipe.level,
              "onnxruntime": ort.__version__, "machine": platform.machine(),
              "cpu_flags": hash_key({"flags": _cpu_flags()})}

    def optimise() -> dict[str, bytes]:
        with tempfile.TemporaryDirectory(prefix="transfer-lens-ort-") as folder:
            path = Path(folder) / "optimised.onnx"
            options = recipe.options(threads=1)
            options.optimized_model_filepath = str(path)
            ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            return {"onnx": path.read_bytes()}

    return cached_conversion(fields=fields, convert=optimise, cache_dir=cache_dir,
                             tensorflow=False)["onnx"]


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return platform.processor()


def batch_input(batch: np.ndarray, *, nchw: bool) -> np.ndarray:
    """A batch (B, H, W, 3) as the session takes it: contiguous float32, NCHW if `nchw`."""
    if nchw:
        return np.ascontiguousarray(np.asarray(batch, np.float32).transpose(0, 3, 1, 2))
    return np.ascontiguousarray(batch, np.float32)


def default_threads() -> int:
    """The CPUs this process may use (2 on the project's machines)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def recipe_named(name: str) -> SessionRecipe:
    """The candidate called `name` (a clear error naming the others)."""
    if name not in SESSION_RECIPES:
        raise ValueError(f"unknown session recipe {name!r}; one of {', '.join(SESSION_RECIPES)}")
    return SESSION_RECIPES[name]


def describe(recipe: SessionRecipe) -> dict[str, Any]:
    """What differs from the default recipe (for reports)."""
    default = asdict(SessionRecipe())
    return {k: v for k, v in asdict(recipe).items() if default[k] != v}
