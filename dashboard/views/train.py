"""Train a head: pick a classifier and its hyper-parameters, watch it train (cancellable),
then compare accuracy before and after, with a per-class table:

    settings (a form) → train (progress, cancel button, live curves) → the heads so far
    (make one active, delete, compare two) → the active head's result

With a numeric target chosen in the sidebar the same flow trains a regression head.
Fine-tuning the backbone has its own view (finetune.py).

Widgets take their bounds from core's ParamSpecs; what core still refuses (a bound, the
memory a head would need) is shown as its message, and the active head stays. So does it
when a run is degenerate (core.heads.is_degenerate): listed, marked, never used.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.base.splits import SPLIT_CODES
from core.heads import (DEFAULT_HEAD, default_head_params, describe_head, head_names,
                        head_title, is_degenerate, parameter_specs, train_head)
from dashboard import state
from dashboard.services import heads
from dashboard.services.analysis import separability
from dashboard.services.workspace import Workspace
from dashboard.state import results, session
from dashboard.state.results import HeadRecord
from dashboard.ui import click_guard, head_history, training
from dashboard.ui.param_widgets import param_widgets
from dashboard.ui.progress import REPORT, computing_area, progress_panel, redraw_if_replaced


def render(ws: Workspace) -> None:
    if ws.target is not None:
        _render_regression(ws)
        return
    offered = heads.head_names(fine_tunes_backbone=False)
    state.seed(state.HEAD_TYPE, DEFAULT_HEAD)
    head = st.segmented_control("Head", offered, format_func=head_title, key=state.HEAD_TYPE,
                                required=True, persist_state="session") or DEFAULT_HEAD
    st.caption(describe_head(head))
    # 1. settings
    params, folds, submitted = _head_settings(head, ws)
    if session.was_cancelled():
        st.warning("Training cancelled. " + ("The previous head is kept."
                   if ws.head is not None else "No head was stored."),
                   icon=":material/stop_circle:")
    # 2. training
    if submitted and not click_guard.refused("train", ws):
        with computing_area("Training"):  # alone in the view's frame (see ui.progress)
            _train(ws, head, params, folds)
        redraw_if_replaced()
    training.show_notice(ws.tv.key)
    # 3. the heads so far, the active one highlighted; two side by side
    kept = heads.heads_on(ws.tv.key)
    record = ws.head  # resolves the active head (the link's, else the best)
    published = ws.bundle is not None and record is not None and record.head is ws.bundle.head
    unlisted = record if published else None  # in use until the visitor trains a head
    head_history.head_history(kept, None if record is None else record.key,
                              head_history.class_heads(ws.tv, unlisted=unlisted))
    # 4. the result
    if ws.head is not None:
        _results(ws, ws.head)


def _head_settings(head: str, ws: Workspace) -> tuple[dict, int, bool]:
    with st.form("train_form", border=False):
        params = param_widgets(head, default_head_params(head), specs=parameter_specs(head))
        with st.expander("Cross-fitting (for data quality)"):
            folds = st.number_input(
                "Folds", min_value=0, max_value=10, value=0, key="cross_fit_folds",
                persist_state="session",
                help="With k ≥ 2 folds the train samples' probabilities are out-of-fold, so "
                     "“Data quality” can trust them. Costs k extra fits; 0 = off.")
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:",
                                          **click_guard.remember("train", ws))
    return params, int(folds), submitted


def _train(ws: Workspace, head: str, params: dict, folds: int) -> None:
    """Train with progress, cancel and live curves, then keep the head (active unless
    degenerate). Afterwards the script reruns and the view shows the outcome (the new head,
    or a notice saying why it did not become active)."""
    previous = ws.head
    title = head_title(head)
    n_train = int((ws.tv.splits == SPLIT_CODES["train"]).sum())

    def work(on_epoch):
        with progress_panel(f"Training {training.article(title)} {title} head on "
                            f"{n_train:,} training samples…", starting="fitting…") as panel:
            return train_head(tv=ws.tv, head=head, params=params, progress=panel,
                              on_epoch=on_epoch, cross_fit_folds=folds)

    trained = training.run_training(ws.tv.key, work, curves=training.curves,
                                    kept=training.kept_text(previous))
    if trained is None:
        return
    reason = is_degenerate(trained)
    if reason is not None:
        training.tell(ws.tv.key, "warning", f"This run is degenerate: {reason}. It is listed "
                      f"below, marked, but not used. {training.kept_text(previous)}")
        return
    results.store_head(ws.tv.key, trained)
    if folds >= 2:
        results.store_crossfit_head(ws.tv.key, trained)
    st.toast(f"Trained: test accuracy {trained.metrics['test_accuracy']:.1%}",
             icon=":material/check_circle:")


def _results(ws: Workspace, record: HeadRecord) -> None:
    head = record.head
    metrics = head.metrics
    st.subheader(f"{head_title(head.head)} head")
    test = metrics["test_accuracy"]
    columns = st.columns(5)
    delta = None
    if record.before_accuracy is not None:
        delta = f"{training.points(test - record.before_accuracy)} vs {record.before_label}"
    columns[0].metric("Test accuracy", f"{test:.1%}", delta=delta, border=True,
                      help=f"On {metrics['n_test']:,} held-out test images.")
    columns[1].metric("Validation accuracy", f"{metrics['val_accuracy']:.1%}", border=True,
                      help=f"On {metrics['n_val']:,} validation images (early stopping).")
    columns[2].metric("Train accuracy", f"{metrics['train_accuracy']:.1%}", border=True,
                      help=f"On {metrics['n_train']:,} training images.")
    columns[3].metric("Before: chance", f"{metrics['chance_accuracy']:.1%}", border=True,
                      help="Always predicting the most frequent class.")
    knn = separability(ws.tv, report=REPORT)
    columns[4].metric("Before: kNN vote", f"{knn['knn_accuracy']:.1%}", border=True,
                      help=f"A {knn['n_neighbors']}-nearest-neighbour vote in transfer-value "
                           "space, no training: "
                           "how separable the classes already are.")
    when = ("loaded from the cache (trained earlier in {:.1f} s)" if head.cache == "hit"
            else "trained in {:.1f} s").format(metrics["train_seconds"])
    st.caption(f"{when.capitalize()} · {metrics['n_train']:,} training images · parameters: "
               + ", ".join(f"{k}={v}" for k, v in head.params.items()))
    if head.history:
        planned = head.params.get("epochs")
        if isinstance(planned, int) and 0 < len(head.history) < planned:
            st.caption(f"Stopped early at epoch {len(head.history)} of {planned} (validation "
                       "loss stopped improving); the weights of the best epoch are kept.")
        training.curves(head.history)
    st.markdown("**Per class** (test split)")
    table = pd.DataFrame(metrics["per_class"])
    for column in ("precision", "recall", "f1"):  # shown as 0–100 so the bars read "87%"
        table[column] = 100 * table[column].astype(float)
    percent = {"format": "%.0f%%", "min_value": 0, "max_value": 100}
    st.dataframe(
        table, hide_index=True,
        column_config={
            "class": st.column_config.TextColumn("Class"),
            "precision": st.column_config.ProgressColumn("Precision", **percent),
            "recall": st.column_config.ProgressColumn("Recall", **percent),
            "f1": st.column_config.ProgressColumn("F1", **percent),
            "support": st.column_config.NumberColumn("Test images", format="%d"),
        })


# --- regression heads on a numeric target (the sidebar's "Target") ---

def _render_regression(ws: Workspace) -> None:
    """The same flow for a number: pick ridge or the MLP regressor, its parameters (core's
    bounds), train with progress, cancel and live curves, then R²/MAE and the heads so far
    on this target. Fine-tuning has no regression output in core, so it is not offered."""
    target = ws.target
    names = head_names(task="regression")
    state.seed(state.REGRESSION_HEAD_TYPE, names[0])
    head = st.segmented_control("Head", names, format_func=head_title,
                                key=state.REGRESSION_HEAD_TYPE, required=True,
                                persist_state="session") or names[0]
    st.caption(f"Predicts **{target.name}** (a number) from the transfer values. "
               + describe_head(head) + " Fine-tuning the backbone is for classes "
               "only (its trainer and evaluation are built around softmax and accuracy).")
    with st.form("regression_form", border=False):
        params = param_widgets(head, default_head_params(head), specs=parameter_specs(head))
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:",
                                          **click_guard.remember("train", ws))
    if session.was_cancelled():
        st.warning("Training cancelled. The previous head is kept.", icon=":material/stop_circle:")
    if submitted and not click_guard.refused("train", ws):
        with computing_area("Training"):
            _train_regression(ws, head, params)
        redraw_if_replaced()
    training.show_notice(ws.tv.key)
    kept = heads.regression_heads_on(ws.tv.key, target)
    record = ws.regression_head
    head_history.head_history(kept, None if record is None else record.key,
                              head_history.target_heads(ws.tv, target))
    record = ws.regression_head
    if record is not None:
        _regression_results(ws, record)


def _train_regression(ws: Workspace, head: str, params: dict) -> None:
    title = head_title(head)
    n_train = int((ws.tv.splits == SPLIT_CODES["train"]).sum())

    def work(on_epoch):
        with progress_panel(f"Training {training.article(title)} {title} head on "
                            f"{n_train:,} training samples…", starting="fitting…") as panel:
            return train_head(tv=ws.tv, head=head, target=ws.target, params=params,
                              progress=panel, on_epoch=on_epoch)

    trained = training.run_training(ws.tv.key, work, curves=training.regression_curves,
                                    kept="The previous head is kept.")
    if trained is None:
        return
    reason = is_degenerate(trained)
    if reason is not None:
        training.tell(ws.tv.key, "warning", f"This run is degenerate: {reason}. It is listed "
                      "below, marked, but not used.")
        return
    results.store_regression_head(ws.tv.key, ws.target.key, trained)
    st.toast(f"Trained: test R² {trained.metrics['r2']:.3f}", icon=":material/check_circle:")


def _regression_results(ws: Workspace, record: HeadRecord) -> None:
    number = head_history.number
    head = record.head
    m = head.metrics
    st.subheader(f"{head_title(head.head)} head on {head.target}")
    split = m.get("reported_on", "test")
    columns = st.columns(4)
    columns[0].metric(f"R² ({split})", number(m["r2"]), border=True,
                      help=f"1 − squared error / variance, on {m[f'n_{split}']:,} {split} images.")
    columns[1].metric(f"MAE ({split})", number(m["mae"]), border=True,
                      delta=None if m["baseline_mae"] is None else
                      f"{m['mae'] - m['baseline_mae']:+.3g} vs the mean",
                      delta_color="inverse", help="Mean absolute error, in the target's units.")
    columns[2].metric(f"RMSE ({split})", number(m["rmse"]), border=True)
    columns[3].metric("Before: predict the mean", number(m["baseline_mae"]), border=True,
                      help=f"MAE of always predicting {m['baseline_rule']}.")
    when = ("loaded from the cache (trained earlier in {:.1f} s)" if head.cache == "hit"
            else "trained in {:.1f} s").format(m["train_seconds"])
    st.caption(f"{when.capitalize()} · {m['n_train']:,} training images · validation R² "
               f"{number(m.get('val_r2'))} · parameters: "
               + ", ".join(f"{k}={v}" for k, v in head.params.items()))
    if head.history:
        training.regression_curves(head.history)
    if m.get("per_class"):
        st.markdown(f"**Error per class** ({split} split)")
        st.dataframe(pd.DataFrame(m["per_class"]), hide_index=True, key="train_per_class",
                     column_config={"mean_error": st.column_config.NumberColumn(
                         "mean error", help="predicted − actual: positive over-estimates")})
