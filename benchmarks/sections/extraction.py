"""1. Extraction: TensorFlow's bare forward pass vs the pipeline on each runtime and precision,
side by side in one run, with the values' agreement and, for each reduced precision, what
users do with the values (a head's accuracy, kNN neighbours, label-issue ranking) against f32.
Then the whole `extract` command from an empty cache (issue 31's baseline commit, today's
TensorFlow and auto) and one conversion for every input size against one per size.
"""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import BACKBONE, Run, SectionFailed

TITLE = "Extraction: bare model vs pipeline, per runtime and precision"
TARGET = 0.9  # TensorFlow pipeline images/s over bare images/s
# issue 31's bounds for a reduced precision, against f32 on Fashion-MNIST
BOUNDS = {"accuracy_points": 0.2, "knn_overlap": 0.9}


def configurations() -> list[tuple[str, str, str]]:
    """(mode, runtime, precision): TF bare, then every installed runtime's bare forward pass
    and pipeline in f32 and each reduced precision it runs."""
    from core.backbones.runtime import (F32, ONNXRUNTIME, OPENVINO, PRECISION_RUNTIME,
                                        TENSORFLOW, installed)

    configs = [("bare", TENSORFLOW, F32), ("pipeline", TENSORFLOW, F32)]
    for runtime in (OPENVINO, ONNXRUNTIME):
        if installed(runtime):
            reduced = [p for p, runs_it in PRECISION_RUNTIME.items() if runs_it == runtime]
            configs += [("bare", runtime, F32),
                        *[("pipeline", runtime, precision) for precision in (F32, *reduced)]]
    return configs


def run(*, run: Run) -> list[str]:
    plan = run.plan
    configs = configurations()
    rows, errors, rates = [], [], {}
    dataset = "?"
    for size in plan.extraction_sizes:
        best: dict[tuple, dict] = {}
        for round_ in range(plan.extraction_rounds):  # alternate: a noisy neighbour hits all
            for mode, runtime, precision in configs:
                out = run.scratch / f"values-{size}-{runtime}-{precision}.npy"
                try:
                    result = run.worker("benchmarks.workers.extraction_worker", "--backbone", BACKBONE,
                                        "--size", size, "--n", plan.extraction_images,
                                        "--mode", mode, "--runtime", runtime,
                                        "--precision", precision,
                                        *(("--out", out) if mode == "pipeline" else ()))
                except Exception as error:  # one configuration failing must not hide the rest
                    errors.append(f"- {size} px {mode} {runtime} {precision} failed: "
                                  f"`{report.error_summary(error)}`")
                    continue
                dataset = result["dataset"]
                key = (mode, runtime, precision)
                previous = best.get(key)
                result["all"] = [*(previous or {}).get("all", []), result["images_per_s"]]
                result["peak_rss_mb"] = max(result["peak_rss_mb"],
                                            (previous or {}).get("peak_rss_mb", 0.0))
                if previous is None or result["images_per_s"] >= previous["images_per_s"]:
                    best[key] = result
                else:
                    previous.update(all=result["all"], peak_rss_mb=result["peak_rss_mb"])
        rows += _size_rows(size, best, run)
        default = best.get(("pipeline", *_default_runtime()))
        if default is not None:
            rates[size] = default["images_per_s"]
    run.results["extraction_rates"] = rates
    if not rows:
        raise SectionFailed("every configuration failed", errors)
    downstream = [*_downstream(run), *_whole_command(run), *_conversion_shapes(run)]
    return [f"{BACKBONE}, {plan.extraction_images} images of {dataset} per run, batch 64, "
            f"best of {plan.extraction_rounds} alternating rounds, each configuration in a fresh "
            "process. Bare = TensorFlow's `tf.function` on ready float32 batches; pipeline = "
            "`compute_transfer_values` on that runtime and precision (uint8 batches, "
            "preprocessing in TensorFlow, chunked cache writes to a fresh folder), timed after "
            "the model is built (and converted: set-up); a runtime's bare = its forward pass "
            "alone on ready float32 batches (conversion not timed), so bare against pipeline "
            "shows what the pipeline around it costs. Agreement is against the TensorFlow "
            "pipeline's values on the same images: max |Δ| / max |value| and the lowest "
            "per-image cosine. Peak RSS = ru_maxrss of the configuration's process. Unfolded "
            "BN = the network with a BatchNorm layer after every conv, bare.", "",
            *report.table(["input", "configuration", "images/s", "/ TF bare",
                           "peak RSS MB", "max rel. diff", "min cosine", "set-up",
                           "images/s per round"], rows),
            *downstream, *_int8_recipes(run), *_bf16_sources(run), *_session_recipes(run),
            *errors]


def _default_runtime() -> tuple[str, str]:
    from core.backbones.runtime import resolve_runtime

    choice = resolve_runtime()
    return choice.runtime, choice.precision


def _size_rows(size: int, best: dict[tuple, dict], run: Run) -> list[list[str]]:
    import numpy as np

    bare = best.get(("bare", "tensorflow", "f32"))
    reference_file = run.scratch / f"values-{size}-tensorflow-f32.npy"
    reference = np.load(reference_file) if reference_file.exists() else None
    rows = []
    for (mode, runtime, precision), result in best.items():
        rate = result["images_per_s"]
        agreement = ("–", "–")
        if mode == "pipeline" and reference is not None:
            values = np.load(run.scratch / f"values-{size}-{runtime}-{precision}.npy")
            agreement = _agreement(reference, values)
        name = (("TF bare" if runtime == "tensorflow" else f"{runtime} {precision} bare")
                if mode == "bare" else f"{runtime} {precision} pipeline")
        ran = result.get("ran") or {}
        if ran.get("runtime_note"):
            name += f" (ran {ran['runtime']} {ran['precision']}: {ran['runtime_note']})"
        if result.get("bf16_convolutions"):  # what bf16mix keeps in f32, and the kernels
            name += (f" ({result['bf16_convolutions']}/{result['convolutions']} convolutions "
                     f"in bf16, {'on AMX' if result['amx'] else 'no AMX'})")
        if mode == "bare" and result.get("unfolded_images_per_s"):
            name += f" (unfolded BN: {report.number(result['unfolded_images_per_s'])} images/s)"
        ratio = rate / bare["images_per_s"] if bare else None
        met = ""
        if mode == "pipeline" and runtime == "tensorflow" and ratio is not None:
            met = " (≥ 0.9 met)" if ratio >= TARGET else " (**below 0.9**)"
        rows.append([f"{size} px", name, report.number(rate),
                     (report.ratio(ratio) + met) if ratio is not None else "–",
                     report.number(result["peak_rss_mb"], 4), *agreement,
                     report.seconds(result.get("setup_seconds")),
                     ", ".join(report.number(r) for r in result["all"])])
        run.log(f"  {size} px {name}: {report.number(rate)} images/s")
    return rows


def _agreement(reference, values) -> tuple[str, str]:
    import numpy as np

    reference = np.asarray(reference, np.float64)
    values = np.asarray(values, np.float64)
    relative = np.abs(values - reference).max() / max(np.abs(reference).max(), 1e-12)
    cosine = (reference * values).sum(1) / np.maximum(
        np.linalg.norm(reference, axis=1) * np.linalg.norm(values, axis=1), 1e-12)
    return f"{relative:.2g}", f"{cosine.min():.6f}"


def _downstream(run: Run) -> list[str]:
    """Each reduced precision against f32 on what users do with the values."""
    from core.backbones.runtime import DISPLAY_NAMES, PRECISION_RUNTIME, installed

    plan = run.plan
    rows, errors = [], []
    for precision, runtime in PRECISION_RUNTIME.items():
        if not installed(runtime):
            errors.append(f"- {precision}: {DISPLAY_NAMES[runtime]} is not installed here")
            continue
        try:
            result = run.worker("benchmarks.workers.runtime_downstream_worker", "--size",
                                plan.extraction_downstream_size, "--n",
                                plan.extraction_downstream_images, "--precision", precision)
        except Exception as error:
            errors.append(f"- downstream {precision} failed: `{report.error_summary(error)}`")
            continue
        difference = 100 * (result["test_accuracy"] - result["f32_test_accuracy"])
        holds = (abs(difference) <= BOUNDS["accuracy_points"]
                 and result["knn15_overlap"] >= BOUNDS["knn_overlap"])
        rows.append([f"{runtime} {precision}", result["dataset"], f"{result['n']:,}",
                     f"{100 * result['f32_test_accuracy']:.2f} %",
                     f"{100 * result['test_accuracy']:.2f} %", f"{difference:+.2f}",
                     f"{result['knn15_overlap']:.3f}",
                     f"{result['label_issues_top300_overlap']:.3f}",
                     f"{result['min_cosine']:.4f}", "yes" if holds else "**no**"])
    size = plan.extraction_downstream_size
    return ["", f"**Reduced precision downstream** at {size} px, each against its runtime's "
            "f32 (equal to TensorFlow's values) on the same images: the logistic-regression head's "
            "test accuracy (points), the mean share of each image's 15 nearest neighbours "
            "kept, and the share of the 300 most suspicious label issues (logreg, 5-fold "
            "cross-fit) kept. Bounds (issue 31): accuracy within "
            f"{BOUNDS['accuracy_points']} points, kNN@15 overlap ≥ {BOUNDS['knn_overlap']}.", "",
            *report.table(["precision", "dataset", "images", "f32 test acc.",
                           "test acc.", "Δ points", "kNN@15 overlap", "label issues top-300 "
                           "overlap", "min cosine", "bounds hold"], rows), *errors]


def _whole_command(run: Run) -> list[str]:
    """`python -m core extract` from an empty cache: issue 31's "today" (the baseline commit's
    own command), and today's on TensorFlow and on auto, alternating rounds, each a fresh
    process timed start to exit; their values compared with TensorFlow's, their speed with
    the baseline's and TensorFlow's."""
    import shutil

    import numpy as np

    from core.backbones.runtime import installed

    dataset, size, limit = run.plan.extract_command
    baseline = run.plan.extract_command_baseline
    commands = {**({baseline: ("--commit", baseline)} if baseline else {}),
                "tensorflow": ("--runtime", "tensorflow"), "auto": ("--runtime", "auto"),
                **{f"{runtime} {precision}": ("--runtime", runtime, "--precision", precision)
                   for runtime, precision in run.plan.extract_command_reduced
                   if installed(runtime)}}
    best: dict[str, dict] = {}
    walls: dict[str, list[float]] = {}
    errors = []
    for round_ in range(run.plan.extract_command_rounds):
        for name, option in commands.items():
            cache = run.scratch / f"extract-command-{name}-{round_}"
            try:
                result = run.worker("benchmarks.workers.extract_command_worker", "--dataset",
                                    dataset, "--size", size, "--limit", limit, *option,
                                    "--cache-dir", cache)
            except Exception as error:
                errors.append(f"- extract {' '.join(option)} failed: "
                              f"`{report.error_summary(error)}`")
                continue
            walls.setdefault(name, []).append(result["wall_seconds"])
            if name not in best or result["wall_seconds"] < best[name]["wall_seconds"]:
                result["values_array"] = np.load(result["values"])
                best[name] = result
            shutil.rmtree(cache, ignore_errors=True)
    rows = []
    reference = best.get("tensorflow") or best.get(baseline)
    for name, result in best.items():
        if name == baseline:
            command, ran = f"{baseline}'s (issue 31's today)", "tensorflow f32 (its only runtime)"
        else:
            command, ran = " ".join(commands[name]), f"{result['runtime']} {result['precision']}"
        if result.get("runtime_note"):
            ran += f" ({result['runtime_note']})"
        rows.append([command, ran, f"{result['n']:,}", report.seconds(result["wall_seconds"]),
                     report.seconds(result["command_seconds"]),
                     report.number(result["images_per_s"]),
                     *[report.ratio(best[other]["wall_seconds"] / result["wall_seconds"])
                       if other in best else "–" for other in (baseline, "tensorflow")],
                     *_command_agreement(reference, result),
                     ", ".join(report.seconds(w) for w in walls[name]),
                     "; ".join(f"{phase.replace('_', ' ')} {report.seconds(s)}"
                               for phase, s in result["phases"].items()) or "–"])
    limit_text = f"{limit:,} images of " if limit else ""
    against = (f"{baseline}'s (the commit issue 31 was filed against, run from a temporary "
               "git worktree of it with the same virtualenv), " if baseline else "")
    return ["", f"**The whole `extract` command** on {limit_text}{dataset} at {size} px from an "
            "empty cache (`benchmarks/workers/extract_command_worker.py`): a fresh "
            "`python -m core extract` process per run, timed from its start to its exit "
            "(imports, dataset, model build or conversion, extraction, cache writes), "
            f"{against}today's on TensorFlow, on auto and on each reduced precision, "
            "alternating, best of "
            f"{run.plan.extract_command_rounds}. Command's own = the `seconds` it reports "
            "(from the call into core). Speed-up = that command's wall time / this one's "
            f"(issue 31's goals against {baseline or 'today'}: auto ≥ 1.3×, a reduced "
            "precision within the downstream bounds ≥ 2.5×). Agreement "
            "against today's TensorFlow values as above. Phases of the best round, from the "
            "command's own marks (none at the baseline): imports (interpreter and core, from "
            "the process's start), dataset, model (built, or converted and loaded), "
            "extraction (every chunk computed and written), cache entry (written, checked, "
            "opened), exit (the rest).", "",
            *report.table(["command", "ran", "images", "wall", "command's own", "images/s",
                           f"speed-up vs {baseline or '–'}", "speed-up vs TensorFlow",
                           "max rel. diff", "min cosine", "wall per round", "phases"], rows),
            *errors]


def _command_agreement(reference: dict | None, result: dict) -> tuple[str, str]:
    """`_agreement` of two commands' values, or why there is none."""
    if reference is None:
        return "–", "–"
    if reference["values_array"].shape != result["values_array"].shape:
        return f"shape {result['values_array'].shape} ≠ {reference['values_array'].shape}", "–"
    return _agreement(reference["values_array"], result["values_array"])


def _conversion_shapes(run: Run) -> list[str]:
    """One conversion for every input size against one per size, at the first size."""
    size = run.plan.extraction_sizes[0]
    try:
        result = run.worker("benchmarks.workers.conversion_shape_worker", "--backbone", BACKBONE,
                            "--size", size, "--rounds", 2 if run.plan.quick else 4,
                            "--batches", 2 if run.plan.quick else 16)
    except Exception as error:
        return ["", f"- conversion shapes failed: `{report.error_summary(error)}`"]
    rows = [[runtime, report.number(r["best"]["static"]), report.number(r["best"]["any_size"]),
             report.ratio(r["ratio"]), f"{r['max_rel_diff']:.2g}",
             "; ".join(f"{shape}: " + ", ".join(report.number(x) for x in rates)
                       for shape, rates in r["images_per_s"].items())]
            for runtime, r in result["runtimes"].items()]
    return ["", f"**One conversion for every input size** ({BACKBONE} at {size} px, batch 64, "
            f"{result['rounds']} alternating rounds in one process, "
            "`benchmarks/workers/conversion_shape_worker.py`): the model converted at this size "
            "(static) against the one converted for any size (what extraction uses for Lite). "
            "OpenVINO compiles the any-size model for the size that runs.", "",
            *report.table(["runtime", "static images/s", "any-size images/s",
                           "any-size / static", "max rel. diff", "images/s per round"], rows)]


def _session_recipes(run: Run) -> list[str]:
    """ONNX Runtime session recipes against the default one, each size in one process
    (`ort_options_worker`, `core.backbones.onnx_session`)."""
    from core.backbones.runtime import ONNXRUNTIME, installed

    plan = run.plan
    if not plan.ort_session_recipes or not installed(ONNXRUNTIME):
        return []
    batch = min(64, plan.ort_session_images)
    rows, errors, first = [], [], {}
    for size in plan.extraction_sizes:
        try:
            result = run.worker("benchmarks.workers.ort_options_worker", "--backbone", BACKBONE,
                                "--sizes", size, "--recipes", ",".join(plan.ort_session_recipes),
                                "--batch", batch, "--batches", plan.ort_session_images // batch,
                                "--rounds", 1 if plan.quick else 3,
                                "--cache", run.scratch / "ort-session-recipes")
        except Exception as error:
            errors.append(f"- {size} px session recipes failed: `{report.error_summary(error)}`")
            continue
        first = result
        for name, r in result["sizes"][str(size)].items():
            changes = ", ".join(f"{k}={v}" for k, v in r["changes"].items()) or "–"
            rows.append([f"{size} px", f"`{name}`", changes, report.number(r["best"]),
                         report.ratio(r["ratio"]), report.ratio(r["median_round_ratio"]),
                         f"{r['max_rel_diff']:.2g}" + ("" if r["within_tolerance"] else " **no**"),
                         report.seconds(r["open_seconds"]),
                         ", ".join(report.number(x) for x in r["images_per_s"])])
    if not rows:
        return ["", *errors]
    return ["", f"**ONNX Runtime session recipes** ({BACKBONE}, {first['images']:,} images of "
            f"{first['dataset']} per round, batch {first['batch']}, {first['rounds']} alternating "
            "rounds in one process per size, `benchmarks/workers/ort_options_worker.py`): "
            "each recipe of `core.backbones.onnx_session` (options and model edits) against "
            f"`{first['reference']}` on the same preprocessed batches, `map` as extraction runs "
            "it, one session at a time. Per-round ratio = the median of this recipe's images/s "
            "over the reference's in the same round. Values against the reference's on "
            f"{first['values_compared_on']:,} images "
            f"(max |Δ| / max |value|; ≤ {first['tolerance']:g} may share TensorFlow's key). Open "
            "= the session opened from a warm cache (edits and a cached optimised graph "
            "included). Adopting one: `SESSION_RECIPE` in core/backbones/onnx_session.py.", "",
            *report.table(["size", "recipe", "changes", "images/s", "/ reference",
                           "per-round ratio", "max rel. diff", "open", "images/s per round"],
                          rows), *errors]


def _bf16_sources(run: Run) -> list[str]:
    """Where OpenVINO's bf16 error comes from: each convolution alone in bf16, then the
    network's start kept f32 (`bf16_sources_worker`, docs/runtimes.md; what bf16mix keeps)."""
    from core.backbones.runtime import OPENVINO, installed

    plan = run.plan
    if plan.bf16_sources is None or not installed(OPENVINO):
        return []
    n, knn_n, keep = plan.bf16_sources
    try:
        result = run.worker("benchmarks.workers.bf16_sources_worker", "--size",
                            plan.extraction_downstream_size, "--n", n, "--knn-n", knn_n,
                            "--keep", keep)
    except Exception as error:
        return ["", f"- bf16 error sources failed: `{report.error_summary(error)}`"]
    worst = sorted(result["layers"], key=lambda layer: -layer["relative_error"])[:5]
    layers = "; ".join(f"convolution {layer['position']} {layer['relative_error']:.3f}"
                       for layer in worst)
    rows = [[str(k["f32_convolutions"]), f"{k['knn15_overlap']:.3f}",
             f"{k['median_cosine']:.4f} / {k['min_cosine']:.4f}"] for k in result["kept"]]
    return ["", f"**Where bf16's error comes from** (OpenVINO {result['openvino']}, "
            f"{plan.extraction_downstream_size} px, values only). Each convolution alone in "
            f"bf16, the rest f32, mean relative error of the features on {result['n']:,} "
            f"images; the five largest: {layers or '–'}. Then bf16 with the input and the "
            f"first k convolutions kept f32, against f32 on {result['knn_n']:,} images "
            "(bf16mix keeps 3):", "",
            *report.table(["convolutions kept f32", "kNN@15 overlap", "median / min cosine"],
                          rows)]


def _int8_recipes(run: Run) -> list[str]:
    """int8 recipes (parts kept in f32, calibration) against ONNX Runtime f32: downstream
    measures and the forward pass's speed (`int8_recipes_worker`, docs/runtimes.md)."""
    from core.backbones.runtime import ONNXRUNTIME, installed

    plan = run.plan
    if not plan.int8_recipes or not installed(ONNXRUNTIME):
        return []
    try:
        result = run.worker("benchmarks.workers.int8_recipes_worker", "--size",
                            plan.extraction_downstream_size, "--n", plan.int8_recipe_images,
                            "--recipes", ",".join(plan.int8_recipes),
                            "--cache", run.scratch / "int8-recipes")
    except Exception as error:
        return ["", f"- int8 recipes failed: `{report.error_summary(error)}`"]
    rows = []
    for r in result["recipes"]:
        difference = 100 * (r["test_accuracy"] - r["f32_test_accuracy"])
        holds = (abs(difference) <= BOUNDS["accuracy_points"]
                 and r["knn15_overlap"] >= BOUNDS["knn_overlap"])
        rows.append([f"`{r['name']}`", f"{difference:+.2f}", f"{r['knn15_overlap']:.3f}",
                     f"{r['median_cosine']:.3f} / {r['min_cosine']:.3f}",
                     report.ratio(r["speedup"]),
                     ", ".join(report.ratio(x) for x in r["round_speedups"]),
                     "yes" if holds else "**no**"])
    n = result["recipes"][0]["n"] if result["recipes"] else 0
    return ["", f"**int8 recipes** at {plan.extraction_downstream_size} px on {n:,} images, "
            "each against ONNX Runtime f32 in one process: the logreg head's test accuracy "
            "(points), kNN@15 overlap, per-image cosine, and the forward pass alone (batch 64, "
            "alternating rounds on the same preprocessed batches; best int8 / best f32).", "",
            *report.table(["recipe", "Δ points", "kNN@15 overlap", "median / min cosine",
                           "int8 / f32 speed", "per round", "bounds hold"], rows)]
