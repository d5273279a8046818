"""10. Regression heads on fashion_mnist_scale: ridge on transfer values vs ridge on raw pixels
vs the MLP regressor, scaling measured both ways; planted wrong targets found."""

from __future__ import annotations

from benchmarks import report
from benchmarks.plan import BACKBONE, Run, SectionFailed

TITLE = "Regression heads: fashion_mnist_scale"
PIXELS = "pixels"
# (label, backbone, head, --param pairs): the baseline first, the defaults marked
RUNS = (
    ("raw pixels, ridge", PIXELS, "ridge", ()),
    ("Lite0, ridge (default: raw values)", BACKBONE, "ridge", ()),
    ("Lite0, ridge, standardised values", BACKBONE, "ridge", ("scaling=standardize",)),
    ("Lite0, MLP regressor (default: raw values, MSE)", BACKBONE, "mlp_regressor", ()),
    ("Lite0, MLP regressor, standardised values", BACKBONE, "mlp_regressor",
     ("scaling=standardize",)),
)


def run(*, run: Run) -> list[str]:
    plan = run.plan
    limit, size = plan.regression_limit, plan.regression_size
    rows, errors, notes = [], [], {}
    for label, backbone, head, params in RUNS:
        args = ["--backbone", backbone, "--size", 0 if backbone == PIXELS else size,
                "--head", head, "--limit", limit]
        for pair in params:
            args += ["--param", pair]
        try:
            result = run.worker("benchmarks.workers.regression_worker", *args)
        except Exception as error:
            errors.append(f"- {label}: `{report.error_summary(error)}`")
            continue
        if result["values_cache"] == "miss":
            notes[backbone] = (f"{'raw pixels' if backbone == PIXELS else f'{backbone} at {size} px'}"
                               f": computed in {report.seconds(result['values_seconds'])} "
                               f"({result['n'] / result['values_seconds']:.0f} images/s)")
        rows.append((label, result))
        run.log(f"  {label}: R² {result['r2']:.4f} in {result['train_seconds']:.1f} s")
    if not rows:
        raise SectionFailed("every head failed", errors)
    baseline = rows[0][1]["r2"] if rows[0][0].startswith("raw pixels") else None
    table = [[label, report.number(r["r2"], 4), report.number(r["val_r2"], 4),
              report.number(r["mae"], 3), report.number(r["rmse"], 3),
              report.number(r["baseline_mae"], 3), report.seconds(r["train_seconds"]),
              "–" if baseline is None else f"{r['r2'] - baseline:+.3f}", _details(r),
              report.number(r["peak_rss_mb"], 4)]
             for label, r in rows]
    first = rows[0][1]
    lines = [f"fashion_mnist_scale{'' if not limit else f' (seeded subset of {limit:,})'}: "
             f"{first['n']:,} images, {first['n_train']:,} train / {first['n_val']:,} validation "
             f"(the penalty, early stopping) / {first['n_test']:,} test (the figures). Target: "
             f"the drawn scale factor in [0.35, 1]; baseline MAE = always the training mean. "
             f"Each head in a fresh process with the head cache off; time = `train_seconds` "
             f"(fitting, choosing the penalty or early stopping, predicting every sample). "
             f"Lite0 = {BACKBONE} at {size} px.", "",
             *report.table(["features, head", "test R²", "val R²", "test MAE", "test RMSE",
                            "baseline MAE", "time", "R² − pixels", "chosen", "peak RSS MB"],
                           table)]
    if notes:
        lines += [f"Values {', '.join(notes.values())}.", ""]
    lines += _outliers(run, limit=limit, size=size, errors=errors)
    return [*lines, *errors, *([""] if errors else [])]


def _details(result: dict) -> str:
    details = result.get("details", {})
    if result["head"] == "ridge":
        edge = " (grid edge)" if details.get("at_grid_edge") else ""
        return f"α = {details['alpha']:.3g} ({details['relative_alpha']:.2g} × mean eigenvalue){edge}"
    return f"{result['epochs_run']} epochs, best {details.get('best_epoch')}"


def _outliers(run: Run, *, limit: int, size: int, errors: list[str]) -> list[str]:
    try:
        r = run.worker("benchmarks.workers.target_outliers_worker",
                       "--backbone", BACKBONE, "--size",
                       size, "--limit", limit, "--fraction", 0.02, "--top", 0.04, "--seed", 1)
    except Exception as error:
        errors.append(f"- target outliers: `{report.error_summary(error)}`")
        return []
    share = lambda hits: f"{hits:,} ({report.percent(hits / r['planted'])})"  # noqa: E731
    return ["**Target outliers.** 2 % of the targets (all splits, seed 1) replaced by 1.35 − v; "
            "a 5-fold cross-fitted ridge gives out-of-sample predictions, the 20 nearest "
            "neighbours (PCA-50 of the transfer values) their median value. Planted values found "
            f"in the top 4 % ({r['k']:,} of {r['n']:,}); {r['planted_moved_over_0_1']:,} of the "
            f"{r['planted']:,} planted moved by more than 0.1 (one near 0.675 barely moves).", "",
            *report.table(["ranking", "planted found in the top 4 %"],
                          [["`find_target_outliers` (both witnesses must disagree: min of the two z)",
                            share(r["found_ranking"])],
                           ["model alone (out-of-sample residual)", share(r["found_model_only"])],
                           ["neighbours alone (distance to their median)",
                            share(r["found_neighbours_only"])],
                           ["sum of the two z", share(r["found_mean_of_both"])]]),
            f"Flagged (both z ≥ 3): {r['flagged']:,}, of them planted: {r['flagged_planted']:,}. "
            f"Time: {report.seconds(r['seconds'])} in all, of which the ridge and its 5 "
            f"cross-fitted copies {report.seconds(r['cross_fit_seconds'])} and the 20-NN graph "
            f"{report.seconds(r['knn_seconds'])} "
            f"({'a cache hit' if r['knn_cache'] == 'hit' else 'computed'}).", ""]
