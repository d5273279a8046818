"""`python -m benchmarks`: measure alternatives side by side, print ratios, write RESULTS.md.

    python -m benchmarks                          # everything, full sizes → benchmarks/RESULTS.md
    python -m benchmarks --only cache,projections # re-measure two sections, keep the others
    python -m benchmarks --quick                  # smoke run, tiny sizes → RESULTS-quick.md

Heavy work runs in fresh worker processes (imports, compilation and peak memory are then
the worker's own). A failing section is recorded in the file and the run goes on.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import report
from benchmarks.common import machine_description
from benchmarks.plan import Plan, Run, SectionFailed
from benchmarks.sections import ORDER, section_module


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=_sections, default=ORDER, metavar="SECTION[,SECTION]",
                        help=f"run only these sections, of: {', '.join(ORDER)}")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (a smoke run), written to benchmarks/RESULTS-quick.md")
    parser.add_argument("--sizes", type=_ints, metavar="PX[,PX]",
                        help="input sizes for the extraction, heads and finetune sections")
    parser.add_argument("--points", type=_ints, metavar="N[,N]",
                        help="numbers of points for the projections section")
    parser.add_argument("--heads-224", action="store_true",
                        help="also train the heads on 224 px values (a 70k extraction at 224 "
                             "px is slow when not cached)")
    parser.add_argument("--no-precision-studies", "--no-int8-recipes", action="store_true",
                        dest="no_precision_studies",
                        help="leave out section 1's values-only precision studies: int8 "
                             "recipes and where bf16's error comes from (about 15 minutes; "
                             "docs/runtimes.md holds their last tables)")
    return parser.parse_args(argv)


def _sections(text: str) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ORDER))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown section(s) {unknown}; choose from {ORDER}")
    return tuple(name for name in ORDER if name in names)  # always in report order


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {error}") from None


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan.quick_run()
    else:
        from core.datasets.registry import DATASETS  # light: no TensorFlow

        plan = Plan.full(fashion_available=DATASETS["fashion_mnist"].local())
    return plan.with_overrides(sizes=args.sizes, points=args.points, heads_224=args.heads_224,
                               precision_studies=not args.no_precision_studies)


def run_section(*, name: str, run: Run) -> tuple[list[str], bool]:
    """The section's markdown (heading, when measured, body or the failure) and success."""
    module = section_module(name)
    now = machine_description()
    load = " / ".join(f"{x:.2f}" for x in now["load_average"])
    head = [f"## {ORDER.index(name) + 1}. {module.TITLE}", "",
            f"_Measured {now['date']}; load average at the start {load}._", ""]
    started = time.perf_counter()
    run.log(f"section {name}")
    try:
        return [*head, *module.run(run=run)], True
    except Exception as error:  # record it and go on with the next section
        took = f"**Failed** after {time.perf_counter() - started:.0f} s"
        if isinstance(error, SectionFailed):
            return [*head, f"{took}: {error}.", "", *error.details, ""], False
        # a worker's error carries its stderr tail; a bug in the section, the traceback
        detail = str(error) if isinstance(error, RuntimeError) else traceback.format_exc()
        tail = "\n".join(detail.strip().splitlines()[-25:])
        return [*head, f"{took}: `{report.error_summary(error)}`", "", "```", tail, "```",
                ""], False


def preamble(*, plan: Plan, argv: list[str], start: dict, end_load=None) -> list[str]:
    command = " ".join(["python -m benchmarks", *argv])
    title = "# Benchmark results" + (" — quick smoke run (tiny sizes, not comparable)"
                                     if plan.quick else "")
    return [title, "",
            f"Written by `{command}`. Every number here was produced by that command (or, for "
            "a section it did not run, by the earlier run named in that section's date); to "
            "change a figure, change the code and re-run.", "",
            *report.machine_block(start=start, end_load=end_load)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    plan = make_plan(args)
    start = machine_description()
    done: dict[str, list[str]] = {}
    failed = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as scratch:
        # quick runs must not fill (or read) the real cache; full runs reuse its values
        env = {"TRANSFER_LENS_CACHE": str(Path(scratch) / "cache")} if plan.quick else {}
        run = Run(plan=plan, env=env, scratch=Path(scratch))
        for name in args.only:
            lines, ok = run_section(name=name, run=run)
            done[name] = lines
            if not ok:
                failed.append(name)
            print("\n".join(lines), flush=True)
            # written after every section, so an interrupted long run keeps what it measured
            report.write_results(path=plan.output, order=ORDER, sections=done,
                                 preamble=preamble(plan=plan, argv=argv, start=start))
    report.write_results(path=plan.output, order=ORDER, sections=done,
                         preamble=preamble(plan=plan, argv=argv, start=start,
                                           end_load=machine_description()["load_average"]))
    print(f"\nWrote {plan.output}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
