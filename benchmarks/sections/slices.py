"""Error slices and class activation maps (issue 30): planted failing slices found by
`core.analysis.slices` and by sliceguard on the same values and predictions; the CAM
pointing game on a planted corner marker."""

from __future__ import annotations

from pathlib import Path

from benchmarks import report
from benchmarks.plan import Run, SectionFailed

TITLE = "Error slices and class activation maps"
GOAL_PRECISION, GOAL_RECALL = 0.8, 0.5
# the pointing game runs at the size the app draws maps at, 224 px (7 × 7; Lite0's 3 × 3
# grid at 96 px has every cell's receptive field spanning the whole image), on 3,000 images
# to keep the 224 px extraction affordable; galleries are timed at the 96 px too
CAM_SIZE, CAM_LIMIT, GALLERY_SIZES = 224, 3000, (96, 224)


def run(*, run: Run) -> list[str]:
    plan = run.plan
    if plan.slices_input is None:
        return ["Skipped: the planted slices are built from Fashion-MNIST's classes.", ""]
    lines = _planted(run=run)
    try:
        lines += _pointing(run=run)
    except SectionFailed as error:
        lines += [f"**{error}**", "", *error.details, ""]
    return lines


def _worker_args(plan) -> list:
    dataset, backbone, size, limit = plan.slices_input
    return ["--dataset", dataset, "--backbone", backbone, "--size", size, "--limit", limit]


def _match(best: dict) -> str:
    """"#plain rank / rank among unplanted groups, P, R" of a best match."""
    if best is None or best.get("rank") is None:
        return "not found"
    planted = best.get("planted_rank", best["rank"])
    return f"#{best['rank']} / {planted}, P {best['precision']:.2f}, R {best['recall']:.2f}"


def _goal(best: dict, *, rank_key: str) -> bool:
    return (best["rank"] is not None and best.get(rank_key, best["rank"]) <= 3
            and best["precision"] >= GOAL_PRECISION and best["recall"] >= GOAL_RECALL)


def _planted(*, run: Run) -> list[str]:
    from benchmarks.workers.slices_worker import SLICEGUARD_PATH

    plan = run.plan
    results, errors = [], []
    sliceguard = Path(SLICEGUARD_PATH).is_dir()
    for seed in plan.slices_seeds:
        try:
            results.append(run.worker("benchmarks.workers.slices_worker", *_worker_args(plan),
                                      "--seed", seed,
                                      *([] if sliceguard else ["--no-sliceguard"])))
        except Exception as error:
            errors.append(f"- seed {seed}: `{report.error_summary(error)}`")
    if not results:
        raise SectionFailed("every planted-slice run failed", errors)
    rows = []
    for result in results:
        for name, failure in result["failure"].items():
            ours = result["ours"][name]
            guard = result.get("sliceguard", {}).get(name)
            better = guard is not None and guard.get("rank") is not None and (
                guard["f1"] > ours["f1"])
            goal = _goal(ours, rank_key="planted_rank") and not better
            plain = _goal(ours, rank_key="rank") and not better
            rows.append([result["seed"], name, failure["size"],
                         f"{report.percent(failure['error_rate'])} vs "
                         f"{report.percent(result['rest_error_rate'])}",
                         _match(ours), "yes" if goal else "no", "yes" if plain else "no",
                         _match(guard) if guard is not None else
                         ("error" if "sliceguard_error" in result else "not run")])
    guard_errors = [f"- seed {r['seed']}: sliceguard failed: `{r['sliceguard_error'][-300:]}`"
                    for r in results if "sliceguard_error" in r]
    # ours is cached per (values, probabilities, settings): a rerun times a cache hit
    timing = ", ".join(f"seed {r['seed']}: ours {r['ours_slices']} slices"
                       + (f", sliceguard {r['sliceguard_slices']} issues in "
                          f"{report.seconds(r['sliceguard_seconds'])}" if "sliceguard" in r
                          else "")
                       for r in results)
    return [f"{results[0]['dataset']} {results[0]['n']:,} at {plan.slices_input[2]} px, "
            "EfficientNet-Lite0, five planted slices per seed (benchmarks/planted_slices.py), "
            "each screened to fail: coats turned 90° (a rare sub-type: 0.5 % of training coats "
            "turned too), T-shirts with a bottom bar whose 150 marked training twins are "
            "labelled Trouser (the slice: the marked held-out T-shirts), low-contrast ankle "
            "boots, blurred pullovers, noisy sneakers; 120–153 evaluated rows each. One 5-fold "
            "cross-fitted logreg gives out-of-sample predictions for all rows; both methods see "
            "the same values and predictions. Best match: the returned slice with the highest "
            "F1 against the planted rows, shown as '#plain rank / rank among unplanted groups', "
            "precision (P) and recall (R). The plain rank is the match's place in the returned "
            "list. Five slices planted at once cannot all be #1–#3, so the goal reads 'in the "
            "top 3' with the second rank: 1 + the returned groups above the match that are no "
            "other planted slice's best match, i.e. at most two unplanted groups above it. "
            "Goal: that rank ≤ 3, P ≥ 0.8, R ≥ 0.5, and an F1 at least sliceguard's; the next "
            "column applies the same goal to the plain rank, for a reader who takes 'top 3' "
            "literally. Failure: the planted rows' error rate vs rows outside every planted "
            "slice.", "",
            *report.table(["seed", "planted slice", "rows", "errors vs rest",
                           "ours: # / unplanted #, P, R", "goal met",
                           "goal met by plain rank", "sliceguard 0.0.35: # / unplanted #, P, R"],
                          rows),
            "", f"Slices returned, and sliceguard's time under heavy machine load: {timing}.", "",
            "Share of our best match for the marker slice that carries the marker (the "
            "held-out T-shirts or their 150 mislabelled training twins, which the head gets "
            "'right' as Trouser): " + ", ".join(
                f"seed {r['seed']} {report.percent(r['marker_match_marked_share'])}"
                for r in results if r.get("marker_match_marked_share") is not None) + ".", "",
            *errors, *guard_errors, *([""] if errors or guard_errors else [])]


def _pointing(*, run: Run) -> list[str]:
    plan = run.plan
    rows, errors, alignment = [], [], None
    for head in ("logreg", "mlp"):
        try:
            dataset, backbone = plan.slices_input[:2]
            r = run.worker("benchmarks.workers.cam_worker", "--dataset", dataset, "--backbone",
                           backbone, "--size", CAM_SIZE, "--limit", CAM_LIMIT, "--head", head,
                           "--gallery-sizes", ",".join(map(str, GALLERY_SIZES)))
        except Exception as error:
            errors.append(f"- {head}: `{report.error_summary(error)}`")
            continue
        marked, other = r["marked_test"], r["marked_other_classes"]
        unmarked = r["unmarked_same_class"]

        def rates(part: dict) -> str:
            return (f"{report.percent(part['pointing_game_hit'])} of {part['images']} "
                    f"(marker's cell the peak: "
                    f"{report.percent(part['peak_on_marker'])}; predicted {r['marked_class']}: "
                    f"{report.percent(part['predicted_marked_class'])})")

        timed = r["gallery_seconds"]
        rows.append([head, marked["method"], f"{marked['grid'][0]} × {marked['grid'][1]}",
                     f"({r['marker_cell'][0]}, {r['marker_cell'][1]})",
                     rates(marked), rates(unmarked), rates(other),
                     *(f"{report.seconds(timed[str(px)]['first'])} / "
                       f"{report.seconds(timed[str(px)]['next'])}" if str(px) in timed else "–"
                       for px in GALLERY_SIZES)])
        alignment = alignment or r.get("alignment")
    if not rows:
        raise SectionFailed("every CAM pointing-game run failed", errors)
    aligned = [] if alignment is None else [
        f"Is the stretched map aligned with the image? A 4 px dot moved along the diagonal of "
        f"a grey {CAM_SIZE} px image: each diagonal conv cell's sensitivity centroid lies "
        f"{alignment['mean_offset']:+.1f} px on average (at most "
        f"{alignment['max_abs_offset']:.0f} px) from the centre the map is drawn at, with "
        f"cells of {alignment['cell_px']:.0f} px: a half-cell offset would be "
        f"{alignment['cell_px'] / 2:.0f} px.", ""]
    return ["CAM pointing game: a bright 4 × 4 px square in the top-left corner of every "
            "training Shirt (28 px images); half the test Shirts marked the same way, the "
            "other half not, and 200 marked test images of the other classes. The map of the "
            "predicted class hits the marker when the peak of the map stretched over the "
            f"{CAM_SIZE} px input lies within 15 px of the marker's box (the standard pointing "
            "game's tolerance, Zhang et al. 2016); stricter, in brackets: the largest conv "
            "cell is the marker's cell, the one whose activations the marker changes most "
            "(measured: the backbone run on the marked test Shirts with and without it; Lite0's "
            "corner cell sees mostly padding, so it is not the cell geometry suggests). "
            f"{CAM_LIMIT:,} images at {CAM_SIZE} px, the size the app draws maps at. Goal: "
            "≥ 90 % on marked Shirts, under half on unmarked ones. Galleries: the maps of 24 "
            "test images, predicted and given class, at each input size with values and head "
            "of that size, backbone loaded, cache cold: the first gallery after loading (a "
            "batch shape new to the backbone, as a session's first page) / the next one. "
            "Goal (the issue's size, 96 px): ≤ 2 s.", "",
            *report.table(["head", "map", "grid", "marker's cell", "marked Shirts: hit",
                           "unmarked Shirts: hit", "marked other classes: hit",
                           *(f"24-image gallery at {px} px: first / next"
                             for px in GALLERY_SIZES)], rows), "", *aligned,
            *errors, *([""] if errors else [])]
