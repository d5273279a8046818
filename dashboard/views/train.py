"""Train a head: pick a classifier and its hyper-parameters, watch it train (cancellable),
then compare accuracy before and after, with a per-class table. A head that fine-tunes the
backbone (core says which) has its own settings and result, in the same flow:

    settings (a form) → train (progress, cancel button, live curves) → the heads so far
    (make one active, delete, compare two) → the active head's result

Widgets take their bounds from core's ParamSpecs; what core still refuses (a bound, the
memory a head would need) is shown as its message, and the active head stays. So does it
when a run is degenerate (core.heads.is_degenerate): listed, marked, never used.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import resources, state
from dashboard.resources import Workspace
from dashboard.ui import components, figures

# the fine-tuning settings worth a widget; the rest keep core's defaults (FineTuneConfig)
FINETUNE_WIDGETS = ("epochs", "start_size", "unfreeze", "batch_size", "peak_lr", "weight_decay",
                    "label_smoothing", "bn", "flip", "crop_pad_fraction", "erase")


def render(ws: Workspace) -> None:
    if ws.target is not None:
        _render_regression(ws)
        return
    state.seed(state.HEAD_TYPE, resources.default_head())
    head = st.segmented_control("Head", resources.head_names(), format_func=resources.head_title,
                                key=state.HEAD_TYPE, required=True,
                                persist_state="session") or resources.default_head()
    st.caption(resources.describe_head(head))
    fine_tune = resources.fine_tunes_backbone(head)
    if fine_tune and ws.fine_tuned_view:
        st.info("These are the fine-tuned backbone's values. Switch the feature space in the "
                "sidebar back to “Original” to fine-tune again; the heads above train on "
                "whichever is shown.", icon=":material/swap_horiz:")
    else:
        # 1. settings
        params, folds, submitted = (_finetune_settings(ws, head) if fine_tune
                                    else _head_settings(head))
        if state.was_cancelled():
            st.warning("Training cancelled. " + ("The previous head is kept."
                       if ws.head is not None else "No head was stored."),
                       icon=":material/stop_circle:")
        # 2. training
        if submitted:
            _train(ws, head, params, folds, fine_tune=fine_tune)
    if (notice := state.take_head_notice(ws.tv.key)) is not None:
        getattr(st, notice[0])(notice[1], icon=":material/info:")
    # 3. the heads so far, the active one highlighted; two side by side
    _history(ws)
    # 4. the result
    if fine_tune:
        if ws.finetuned is not None:
            _finetune_results(ws, ws.finetuned)
    elif ws.head is not None:
        _results(ws, ws.head)


# --- 1. settings ---

def _head_settings(head: str) -> tuple[dict, int, bool]:
    with st.form("train_form", border=False):
        params = _param_widgets(head, resources.default_head_params(head),
                                specs=resources.parameter_specs(head))
        with st.expander("Cross-fitting (for data quality)"):
            folds = st.number_input(
                "Folds", min_value=0, max_value=10, value=0, key="cross_fit_folds",
                persist_state="session",
                help="With k ≥ 2 folds the train samples' probabilities are out-of-fold, so "
                     "“Data quality” can trust them. Costs k extra fits; 0 = off.")
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    return params, int(folds), submitted


def _finetune_settings(ws: Workspace, head: str) -> tuple[dict, int, bool]:
    defaults = resources.default_finetune_params(ws.settings.backbone)
    n_train = int((ws.tv.splits == resources.split_code("train")).sum())
    st.caption(f"Trains on the {n_train:,} training images, ending at the sidebar's input size "
               f"({ws.settings.image_size} px), validates on the validation split after every "
               "epoch and keeps a checkpoint, so a stopped run continues where it was. On a "
               "CPU an epoch over thousands of images takes minutes: try a subset and one "
               "epoch first.")
    with st.form("finetune_form", border=False):
        params = _param_widgets(head, {k: defaults[k] for k in FINETUNE_WIDGETS},
                                helps=FINETUNE_HELP, specs=resources.finetune_specs())
        submitted = st.form_submit_button("Start fine-tuning", type="primary",
                                          icon=":material/play_arrow:")
    if not submitted:
        _finetune_estimate(ws, params)
    return params, 0, submitted


def _finetune_estimate(ws: Workspace, params: dict) -> None:
    """The expected time of these settings, measured on this machine (a few real steps,
    once per set-up; later looks scale the kept timings to the schedule)."""
    try:
        estimate = resources.finetune_estimate(ws, params, measure=False)
        if estimate is None and st.button(
                "Estimate the time on this machine", key="finetune_estimate",
                icon=":material/timer:",
                help="Builds the network and times a few real training steps at the "
                     "schedule's smallest and largest input size (tens of seconds), then "
                     "scales them to these settings. Kept for next time."):
            with components.progress_panel("Timing a few fine-tuning steps…",
                                           starting="building the network…") as panel:
                estimate = resources.finetune_estimate(ws, params, measure=True,
                                                       progress=panel)
    except resources.TransferLensError as error:  # settings out of bounds, no such backbone
        st.caption(f":orange[No time estimate: {error}]")
        return
    if estimate is not None:
        st.caption(f":material/timer: Expected: {estimate.describe()} (with the values of "
                   f"{ws.settings.image_size} px already cached).")


# --- 2. training ---

def _train(ws: Workspace, head: str, params: dict, folds: int, *, fine_tune: bool) -> None:
    """Train with a progress bar, a cancel button and loss/accuracy curves redrawn after
    every epoch, then store the result. Cancel reruns the script, which stops training at
    its next progress update (Streamlit interrupts the running script).

    Training is drawn alone in the view's frame (no stale second copy of the form below
    it); afterwards the script reruns and the view shows the outcome (the new head, or a
    notice saying why it did not become active)."""
    with components.computing_area("Fine-tuning" if fine_tune else "Training"):
        _train_in_frame(ws, head, params, folds, fine_tune=fine_tune)
    components.redraw_if_replaced()


def _train_in_frame(ws: Workspace, head: str, params: dict, folds: int, *,
                    fine_tune: bool) -> None:
    cancel_slot = st.empty()
    cancel_slot.button(
        "Cancel fine-tuning" if fine_tune else "Cancel training", on_click=state.mark_cancelled,
        icon=":material/stop_circle:", key="cancel_training",
        help="Stops now; finished epochs are kept and the next run resumes." if fine_tune
        else None)
    curves_slot = st.empty()
    logs: list = []

    def on_epoch(log) -> None:
        logs.append(log)
        with curves_slot.container():
            _curves(logs)

    previous = ws.head
    try:
        if fine_tune:
            size = resources.finetune_config(ws, params).image_size
            with components.progress_panel(
                    f"Fine-tuning {ws.settings.backbone} on "
                    f"{ws.dataset.split_indices('train').size:,} images at {size} px…",
                    starting="training the first head, then compiling the network…") as panel:
                done = resources.fine_tune(ws, params, progress=panel, on_epoch=on_epoch)
        else:
            title = resources.head_title(head)
            n_train = int((ws.tv.splits == resources.split_code("train")).sum())
            with components.progress_panel(
                    f"Training {_article(title)} {title} head on {n_train:,} training "
                    "samples…", starting="fitting…") as panel:
                trained = resources.train_head(ws.tv, head=head, params=params, progress=panel,
                                               on_epoch=on_epoch, cross_fit_folds=folds)
    except resources.CancelledError:
        raise
    except resources.TransferLensError as error:  # a bound, the memory needed, ...: for users
        _tell(ws, "error", f"{error}", _kept(previous))
        return
    finally:
        cancel_slot.empty()
        curves_slot.empty()
    if fine_tune:
        state.store_finetuned(ws.tv.key, done)
        st.toast(f"Fine-tuned: test accuracy {done.head.metrics['test_accuracy']:.1%}",
                 icon=":material/check_circle:")
        st.rerun()  # the sidebar's feature-space switch appears now
    reason = resources.head_degenerate(trained)
    if reason is not None:
        _tell(ws, "warning", f"This run is degenerate: {reason}. It is listed below, marked, "
              f"but not used. {_kept(previous)}")
        return
    state.store_head(ws.tv.key, trained)
    if folds >= 2:
        state.store_crossfit_head(ws.tv.key, trained)
    st.toast(f"Trained: test accuracy {trained.metrics['test_accuracy']:.1%}",
             icon=":material/check_circle:")


def _tell(ws: Workspace, level: str, text: str, more: str = "") -> None:
    """Why a run did not become active: here, or (when training replaced the view, which
    is drawn again next) as a notice the redrawn view shows once."""
    if components.view_replaced():
        state.notify_head(ws.tv.key, level, f"{text} {more}".strip())
        return
    icon = ":material/error:" if level == "error" else ":material/warning:"
    getattr(st, level)(text, icon=icon)
    if more:
        st.caption(more)


def _kept(previous: state.HeadRecord | None) -> str:
    if previous is None:
        return "No head is active on these transfer values yet."
    return (f"The active head is still the {resources.head_title(previous.head.head)} "
            f"({previous.head.metrics['test_accuracy']:.1%} on test).")


def _article(title: str) -> str:
    """'a' or 'an' as the title is spoken: "an MLP", "a softmax", "an L2 ..."."""
    first = title[:1]
    acronym = len(title) > 1 and title[:2].isupper()
    vowel_sound = first.lower() in "aeiou" or (acronym and first in "FHLMNRSX")
    return "an" if vowel_sound else "a"


def _points(difference: float) -> str:
    """An accuracy difference in percentage points (not percent of a percentage)."""
    return f"{100 * difference:+.1f} points"


# --- 3. results ---

def _finetune_results(ws: Workspace, done) -> None:
    metrics = done.head.metrics
    before = state.head_record(done.before.key)
    knn = resources.separability(done.before)
    knn_after = resources.separability(done.after)
    result = done.result
    st.subheader("Fine-tuned backbone")
    columns = st.columns(4)
    reference = (before.head.metrics["test_accuracy"], f"the {before.head.head} head before"
                 ) if before is not None else (knn["knn_accuracy"], "the kNN vote before")
    columns[0].metric("Test accuracy", f"{metrics['test_accuracy']:.1%}",
                      delta=f"{_points(metrics['test_accuracy'] - reference[0])} vs {reference[1]}",
                      border=True, help=f"On {metrics['n_test']:,} held-out test images.")
    columns[1].metric("Validation accuracy", f"{metrics['val_accuracy']:.1%}", border=True)
    columns[2].metric("kNN vote after", f"{knn_after['knn_accuracy']:.1%}", border=True,
                      delta=f"{_points(knn_after['knn_accuracy'] - knn['knn_accuracy'])} vs "
                            f"{knn['knn_accuracy']:.1%} before",
                      help=f"A {knn_after['n_neighbors']}-nearest-neighbour vote in "
                           "transfer-value space: how well the features alone separate the "
                           "classes, after and before.")
    columns[3].metric("Images / s", f"{result.images_per_second:,.0f}", border=True,
                      help="Training throughput on this machine.")
    c = result.config
    size_text = (f"{c.epoch_sizes()[0]} → {c.image_size} px" if c.progressive
                 else f"{c.image_size} px")
    st.caption(f"{len(result.history)} epochs at {size_text}, unfreeze {c.unfreeze}, "
               f"batch {c.batch_size}, peak learning rate {c.peak_lr:g}, BN {c.bn} · "
               f"{result.train_seconds / 60:.1f} min of training"
               + (f" (resumed after epoch {result.resumed_from_epoch})"
                  if result.resumed_from_epoch else ""))
    if done.head.history:
        _curves(done.head.history)
    if not ws.fine_tuned_view:
        st.button("Show every view on the fine-tuned backbone", on_click=state.show_fine_tuned,
                  icon=":material/swap_horiz:", key="show_fine_tuned",
                  help="Same as choosing “Fine-tuned” under Feature space in the sidebar. "
                       "The Projections view can also put before and after side by side.")


# widget labels where the parameter's name does not read well as one
LABELS = {
    "bn": "Batch norm",
    "peak_lr": "Peak learning rate",
    "learning_rate": "Learning rate",
    "lr": "Learning rate",
    "start_size": "Start size (px)",
    "batch_size": "Batch size",
    "weight_decay": "Weight decay",
    "label_smoothing": "Label smoothing",
    "flip": "Random left-right flip",
    "crop_pad_fraction": "Random crop (padding, share of side)",
    "erase": "Random erasing (probability)",
    "unfreeze": "Unfrozen layers",
    "C": "C (inverse regularisation)",
}

FINETUNE_HELP = {
    "epochs": "Passes over the training images. Each is checkpointed.",
    "start_size": "Progressive resizing: the first epoch trains at this size and later ones "
                  "grow to the sidebar's input size (small images are cheap while the network "
                  "adapts). 0 trains every epoch at the input size.",
    "unfreeze": "'all' trains the whole backbone; 'top-K' only its last K blocks, keeping the "
                "earlier ones as ImageNet trained them (faster per epoch). Measured effects: "
                "the README's Fine-tuning section.",
    "peak_lr": "AdamW's learning rate at the top of the one-cycle schedule. The default is the "
               "one the README's fine-tuning benchmarks chose.",
    "bn": "'frozen' keeps ImageNet's batch-norm statistics (folded into the convolutions, "
          "so faster); 'train' lets them adapt. Which does better: see the README.",
    "flip": "Mirror training images left-right at random. Right for clothing, animals and "
            "photos; wrong for digits and text.",
    "crop_pad_fraction": "Pad by this share of the side, then crop back at a random place.",
    "erase": "With this probability, replace a random rectangle (2-40 % of the image) by "
             "noise, so the network cannot lean on any one part. Measured effect: the README's "
             "Fine-tuning section.",
    "label_smoothing": "Share of the target spread over the other classes.",
}


def _param_widgets(head_name: str, defaults: dict[str, Any],
                   helps: dict[str, str] | None = None, *,
                   specs: dict | None = None) -> dict[str, Any]:
    """One input per hyper-parameter, typed after its spec (core.base.params.ParamSpec),
    else its default value; numbers get the spec's bounds, choices a select box. A parameter
    whose spec allows one value only keeps it (no widget)."""
    params: dict[str, Any] = {}
    columns = st.columns(3)
    shown = [(name, default) for name, default in defaults.items()
             if not _fixed((specs or {}).get(name))]
    for position, (name, default) in enumerate(shown):
        column = columns[position % 3]
        spec = (specs or {}).get(name)
        key = f"hp_{head_name}_{name}"
        label = LABELS.get(name) or name.replace("_", " ").capitalize()
        # values survive view switches
        keep = {"key": key, "persist_state": "session", "help": _help(name, spec, helps)}
        kind = spec.kind if spec is not None else None
        if kind == "choice" and default in spec.choices:
            params[name] = column.selectbox(label, list(spec.choices),
                                            index=list(spec.choices).index(default), **keep)
        elif isinstance(default, bool):
            params[name] = column.checkbox(label, value=default, **keep)
        elif isinstance(default, int):
            low, high = _bounds(spec, integer=True)
            params[name] = int(column.number_input(label, value=default, step=1,
                                                   min_value=low, max_value=high, **keep))
        elif isinstance(default, float):
            low, high = _bounds(spec, integer=False)
            # steps that make sense for 1e-3 (learning rate), 0.01 (C) and 0.0 (dropout)
            step = abs(default) / 2 if 0 < abs(default) < 1 else (abs(default) / 10 or 0.05)
            params[name] = float(column.number_input(label, value=default, step=step,
                                                     min_value=low, max_value=high,
                                                     format="%g", **keep))
        elif isinstance(default, (list, tuple)) and all(isinstance(v, int) for v in default):
            keep["help"] = keep["help"] or "Comma-separated whole numbers."
            text = column.text_input(label, value=", ".join(map(str, default)), **keep)
            params[name] = _int_list(text, default)
        elif isinstance(default, str):
            params[name] = column.text_input(label, value=default, **keep)
        # anything else (None, nested settings) stays at core's default
    return params


def _fixed(spec) -> bool:
    """A numeric parameter with one allowed value (softmax's hidden=0)."""
    return (spec is not None and spec.kind in ("int", "float") and spec.min is not None
            and spec.min == spec.max)


def _bounds(spec, *, integer: bool) -> tuple[Any, Any]:
    """The widget's min and max from a ParamSpec (exclusive bounds: the nearest value
    inside); None where the spec is open."""
    if spec is None or spec.kind not in ("int", "float"):
        return None, None
    low, high = spec.min, spec.max
    if integer:
        low = None if low is None else int(math.floor(low)) + (1 if spec.min_exclusive else 0)
        high = None if high is None else int(math.ceil(high)) - (1 if spec.max_exclusive else 0)
        return low, high
    if low is not None:
        low = math.nextafter(float(low), math.inf) if spec.min_exclusive else float(low)
    if high is not None:
        high = math.nextafter(float(high), -math.inf) if spec.max_exclusive else float(high)
    return low, high


def _help(name: str, spec, helps: dict[str, str] | None) -> str | None:
    """The view's own help, else the spec's; with the accepted values (core's words)."""
    text = (helps or {}).get(name) or (spec.help[:1].upper() + spec.help[1:] + "."
                                       if spec is not None and spec.help else "")
    if spec is not None and spec.kind in ("int", "float", "choice"):
        text = (text + " " if text else "") + f"Accepts {spec.describe()}."
    return text or None


def _int_list(text: str, default) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        st.warning(f"“{text}” is not a list of whole numbers; using {default}.")
        return tuple(default)
    return values or tuple(default)


def _curves(history) -> None:
    """Loss and accuracy per epoch, train against validation."""
    frame = pd.DataFrame([{"epoch": log.epoch, "train loss": log.loss,
                           "validation loss": log.val_loss, "train accuracy": log.accuracy,
                           "validation accuracy": log.val_accuracy} for log in history])
    frame = frame.set_index("epoch")
    left, right = st.columns(2)
    left.markdown("**Loss**")
    left.line_chart(frame[["train loss", "validation loss"]], height=220,
                    x_label="epoch", color=["#4c6ef5", "#f76707"])
    right.markdown("**Accuracy**")
    right.line_chart(frame[["train accuracy", "validation accuracy"]], height=220,
                     x_label="epoch", color=["#4c6ef5", "#f76707"])


def _results(ws: Workspace, record: state.HeadRecord) -> None:
    head = record.head
    metrics = head.metrics
    st.subheader(f"{resources.head_title(head.head)} head")
    test = metrics["test_accuracy"]
    columns = st.columns(5)
    delta = None
    if record.before_accuracy is not None:
        delta = f"{_points(test - record.before_accuracy)} vs {record.before_label}"
    columns[0].metric("Test accuracy", f"{test:.1%}", delta=delta, border=True,
                      help=f"On {metrics['n_test']:,} held-out test images.")
    columns[1].metric("Validation accuracy", f"{metrics['val_accuracy']:.1%}", border=True,
                      help=f"On {metrics['n_val']:,} validation images (early stopping).")
    columns[2].metric("Train accuracy", f"{metrics['train_accuracy']:.1%}", border=True,
                      help=f"On {metrics['n_train']:,} training images.")
    columns[3].metric("Before: chance", f"{metrics['chance_accuracy']:.1%}", border=True,
                      help="Always predicting the most frequent class.")
    knn = resources.separability(ws.tv)
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
        _curves(head.history)
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


# --- 3. the heads so far ---

def _history(ws: Workspace) -> None:
    """Every head trained on these transfer values (from the cache, so a reload or another
    session lists the same), newest first; the active one highlighted. One can be made
    active, deleted (after a confirmation) and two compared."""
    heads = resources.heads_on(ws.tv.key)
    record = ws.head  # resolves the active head first (the link's, else the best)
    active = None if record is None else record.key
    st.subheader(f"Heads on these transfer values ({len(heads)})")
    if not heads:
        st.caption("None yet. Every head trained here is kept in the cache and listed here, "
                   "also after a reload.")
        return
    st.caption("Kept in the cache, newest first. The **active** head is the one every view "
               "uses (projection colours, confusion matrix, failures, inspect, export); " + (
                   "this public app lists only the heads of your session (other visitors' "
                   "heads stay theirs). " if resources.is_public() else
                   "a new session starts with the best by validation accuracy. ") +
               "Degenerate runs are listed but never used.")
    for summary in heads:
        _head_row(ws, summary, active=summary.key == active)
    if len(heads) >= 2:
        _compare(ws, heads, active)


def _when(created: str) -> str:
    try:
        moment = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return created or "?"
    today = datetime.now(moment.tzinfo).date()
    return moment.strftime("today %H:%M" if moment.date() == today else "%Y-%m-%d %H:%M")


def _params_text(summary) -> str:
    text = ", ".join(f"{k}={v}" for k, v in summary.params.items() if k != "run_dir")
    if summary.cross_fit_folds:
        text += f" · {summary.cross_fit_folds}-fold cross-fitted"
    return text


def _percent(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def _head_row(ws: Workspace, summary, *, active: bool) -> None:
    with st.container(border=True, key=f"head_row_{summary.key}"):
        about, scores, actions = st.columns([5, 4, 2], vertical_alignment="center")
        badge = (" :green-badge[:material/check: active]" if active else "") + (
            " :orange-badge[:material/warning: degenerate]" if summary.degenerate else "")
        about.markdown(f"**{summary.title}**{badge}  \n:gray[{_params_text(summary)}]")
        seconds = summary.train_seconds
        scores.markdown(f"val **{_percent(summary.val_accuracy)}** · test "
                        f"**{_percent(summary.test_accuracy)}**  \n"
                        f":gray[{'?' if seconds is None else f'{seconds:.1f} s'} · "
                        f"{_when(summary.created)} · `{summary.key[:8]}`]")
        if summary.degenerate:
            st.caption(f":orange[Not used: {summary.degenerate}.]")
        if _confirm_delete(summary.key, on_delete=resources.delete_head,
                           args=(ws.tv.key, summary.key)):
            return
        use, delete = actions.columns(2, gap="small")
        if not active and not summary.degenerate:
            use.button(":material/check_circle:", key=f"head_use_{summary.key}",
                       type="tertiary", help="Make this the active head",
                       on_click=resources.make_head_active, args=(ws.tv.key, summary.key))
        _delete_button(delete, summary.key)


def _delete_button(where, key: str) -> None:
    where.button(":material/delete:", key=f"head_delete_{key}", type="tertiary",
                 help="Delete this head (asks first)", on_click=state.ask_delete_head,
                 args=(key,))


def _confirm_delete(key: str, *, on_delete, args: tuple) -> bool:
    """The confirmation for deleting head `key` when it was asked for (then True)."""
    if state.head_to_delete() != key:
        return False
    public = resources.is_public()
    st.warning("Remove this head from your list? (It stays in the shared cache.)"
               if public else "Delete this head from the cache? It cannot be undone "
               "(training it again with the same settings gives it back).",
               icon=":material/delete:")
    yes, no, _ = st.columns([2, 1, 4])
    yes.button("Remove" if public else "Delete permanently", key=f"head_delete_yes_{key}",
               type="primary", on_click=on_delete, args=args)
    no.button("Cancel", key=f"head_delete_no_{key}", on_click=state.cancel_delete_head)
    return True


def _compare(ws: Workspace, heads: list, active: str | None) -> None:
    """Two heads side by side: accuracy, per-class F1 and how the test confusion changes."""
    st.subheader("Compare two heads")
    keys = [s.key for s in heads]
    by_key = {s.key: s for s in heads}
    if state.get(state.HEAD_COMPARE_A) not in keys:
        state.put(state.HEAD_COMPARE_A, active if active in keys else keys[0])
    if state.get(state.HEAD_COMPARE_B) not in keys:
        others = [k for k in keys if k != state.get(state.HEAD_COMPARE_A)]
        state.put(state.HEAD_COMPARE_B, others[0])

    def label(key: str) -> str:
        s = by_key[key]
        return (f"{s.title} · {_params_text(s)} · val {_percent(s.val_accuracy)} · "
                f"{key[:8]}" + (" (active)" if key == active else ""))

    left, right = st.columns(2)
    key_a = left.selectbox("A", keys, format_func=label, key=state.HEAD_COMPARE_A)
    key_b = right.selectbox("B", keys, format_func=label, key=state.HEAD_COMPARE_B)
    if key_a == key_b:
        st.caption("Choose two different heads.")
        return
    result = resources.compare_heads(ws.tv, key_a, key_b)
    a, b, test = result["a"], result["b"], result["test"]
    columns = st.columns(4)
    for column, name, text in ((columns[0], "val_accuracy", "Validation accuracy"),
                               (columns[1], "test_accuracy", "Test accuracy")):
        if a[name] is not None and b[name] is not None:
            column.metric(f"{text}: B", f"{b[name]:.1%}", border=True,
                          delta=f"{_points(b[name] - a[name])} vs A ({a[name]:.1%})")
    columns[2].metric("Right only with B", f"{test['only_b_right']:,}", border=True,
                      help=f"Of {test['n']:,} test images.")
    columns[3].metric("Right only with A", f"{test['only_a_right']:,}", border=True,
                      help=f"{test['both_right']:,} are right with both, "
                           f"{test['both_wrong']:,} wrong with both.")
    table, chart = st.columns([2, 3])
    with table:
        st.markdown("**F1 per class** (test split)")
        frame = pd.DataFrame(result["per_class"]).rename(columns={
            "f1_a": "F1 A", "f1_b": "F1 B", "f1_change": "change"})
        for column in ("F1 A", "F1 B", "change"):
            frame[column] = 100 * frame[column].astype(float)
        st.dataframe(frame.style.map(_change_colour, subset=["change"]), hide_index=True,
                     key="compare_f1", column_config={
                         "class": st.column_config.TextColumn("Class"),
                         "F1 A": st.column_config.NumberColumn(format="%.1f%%"),
                         "F1 B": st.column_config.NumberColumn(format="%.1f%%"),
                         "change": st.column_config.NumberColumn("B − A",
                                                                 format="%+.1f points")})
    with chart:
        st.markdown("**Test confusion: B − A**")
        st.plotly_chart(figures.confusion_change_figure(
            change=np.asarray(result["confusion_change"]),
            before=np.asarray(result["confusion_a"]), after=np.asarray(result["confusion_b"]),
            class_names=result["class_names"]), key="compare_confusion",
            config={"displaylogo": False})
        st.caption("Images that moved between cells from A to B. Green: B does better there "
                   "(more on the diagonal, fewer off it); red: worse.")


def _change_colour(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == 0:
        return ""
    return "color: #2b8a3e" if value > 0 else "color: #c92a2a"


# --- regression heads on a numeric target (the sidebar's "Target") ---

def _render_regression(ws: Workspace) -> None:
    """The same flow for a number: pick ridge or the MLP regressor, its parameters (core's
    bounds), train with progress, cancel and live curves, then R²/MAE and the heads so far
    on this target. Fine-tuning has no regression output in core, so it is not offered."""
    target = ws.target
    names = resources.regression_head_names()
    state.seed(state.REGRESSION_HEAD_TYPE, names[0])
    head = st.segmented_control("Head", names, format_func=resources.head_title,
                                key=state.REGRESSION_HEAD_TYPE, required=True,
                                persist_state="session") or names[0]
    st.caption(f"Predicts **{target.name}** (a number) from the transfer values. "
               + resources.describe_head(head) + " Fine-tuning the backbone is for classes "
               "only (its trainer and evaluation are built around softmax and accuracy).")
    with st.form("regression_form", border=False):
        params = _param_widgets(head, resources.default_head_params(head),
                                specs=resources.parameter_specs(head))
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    if state.was_cancelled():
        st.warning("Training cancelled. The previous head is kept.", icon=":material/stop_circle:")
    if submitted:
        with components.computing_area("Training"):
            _train_regression(ws, head, params)
        components.redraw_if_replaced()
    if (notice := state.take_head_notice(ws.tv.key)) is not None:
        getattr(st, notice[0])(notice[1], icon=":material/info:")
    _regression_history(ws)
    record = resources.regression_head(ws)
    if record is not None:
        _regression_results(ws, record)


def _train_regression(ws: Workspace, head: str, params: dict) -> None:
    cancel_slot = st.empty()
    cancel_slot.button("Cancel training", on_click=state.mark_cancelled,
                       icon=":material/stop_circle:", key="cancel_training")
    curves_slot = st.empty()
    logs: list = []

    def on_epoch(log) -> None:
        logs.append(log)
        with curves_slot.container():
            _regression_curves(logs)

    title = resources.head_title(head)
    n_train = int((ws.tv.splits == resources.split_code("train")).sum())
    try:
        with components.progress_panel(f"Training {_article(title)} {title} head on "
                                       f"{n_train:,} training samples…",
                                       starting="fitting…") as panel:
            trained = resources.train_regression_head(ws.tv, ws.target, head=head,
                                                      params=params, progress=panel,
                                                      on_epoch=on_epoch)
    except resources.CancelledError:
        raise
    except resources.TransferLensError as error:  # a bound, the memory needed: for users
        _tell(ws, "error", f"{error}", "The previous head is kept.")
        return
    finally:
        cancel_slot.empty()
        curves_slot.empty()
    reason = resources.head_degenerate(trained)
    if reason is not None:
        _tell(ws, "warning", f"This run is degenerate: {reason}. It is listed below, marked, "
              "but not used.")
        return
    state.store_regression_head(ws.tv.key, ws.target.key, trained)
    st.toast(f"Trained: test R² {trained.metrics['r2']:.3f}", icon=":material/check_circle:")


def _regression_curves(history) -> None:
    """Loss and mean absolute error per epoch, train against validation."""
    frame = pd.DataFrame([{"epoch": log.epoch, "train loss": log.loss,
                           "validation loss": log.val_loss, "train MAE": log.mae,
                           "validation MAE": log.val_mae} for log in history]).set_index("epoch")
    left, right = st.columns(2)
    left.markdown("**Loss**")
    left.line_chart(frame[["train loss", "validation loss"]], height=220, x_label="epoch",
                    color=["#4c6ef5", "#f76707"])
    right.markdown("**Mean absolute error**")
    right.line_chart(frame[["train MAE", "validation MAE"]], height=220, x_label="epoch",
                     color=["#4c6ef5", "#f76707"])


def _number(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _regression_results(ws: Workspace, record: state.HeadRecord) -> None:
    head = record.head
    m = head.metrics
    st.subheader(f"{resources.head_title(head.head)} head on {head.target}")
    split = m.get("reported_on", "test")
    columns = st.columns(4)
    columns[0].metric(f"R² ({split})", _number(m["r2"]), border=True,
                      help=f"1 − squared error / variance, on {m[f'n_{split}']:,} {split} images.")
    columns[1].metric(f"MAE ({split})", _number(m["mae"]), border=True,
                      delta=None if m["baseline_mae"] is None else
                      f"{m['mae'] - m['baseline_mae']:+.3g} vs the mean",
                      delta_color="inverse", help="Mean absolute error, in the target's units.")
    columns[2].metric(f"RMSE ({split})", _number(m["rmse"]), border=True)
    columns[3].metric("Before: predict the mean", _number(m["baseline_mae"]), border=True,
                      help=f"MAE of always predicting {m['baseline_rule']}.")
    when = ("loaded from the cache (trained earlier in {:.1f} s)" if head.cache == "hit"
            else "trained in {:.1f} s").format(m["train_seconds"])
    st.caption(f"{when.capitalize()} · {m['n_train']:,} training images · validation R² "
               f"{_number(m.get('val_r2'))} · parameters: "
               + ", ".join(f"{k}={v}" for k, v in head.params.items()))
    if head.history:
        _regression_curves(head.history)
    if m.get("per_class"):
        st.markdown(f"**Error per class** ({split} split)")
        st.dataframe(pd.DataFrame(m["per_class"]), hide_index=True, key="train_per_class",
                     column_config={"mean_error": st.column_config.NumberColumn(
                         "mean error", help="predicted − actual: positive over-estimates")})


def _regression_history(ws: Workspace) -> None:
    """The regression heads on this target (from the cache), newest first; one can be
    shown, deleted, and two compared by their scores."""
    heads = resources.regression_heads_on(ws.tv.key, ws.target)
    record = resources.regression_head(ws)
    shown = None if record is None else record.key
    st.subheader(f"Heads on this target ({len(heads)})")
    if not heads:
        st.caption("None yet. Every head trained here is kept in the cache and listed here.")
        return
    for summary in heads:
        with st.container(border=True, key=f"head_row_{summary.key}"):
            about, scores, actions = st.columns([5, 4, 2], vertical_alignment="center")
            badge = " :green-badge[:material/check: shown]" if summary.key == shown else ""
            about.markdown(f"**{summary.title}**{badge}  \n:gray[{_params_text(summary)}]")
            mae = summary.metrics.get("mae")
            scores.markdown(f"val R² **{_number(summary.val_r2)}** · test R² "
                            f"**{_number(summary.test_r2)}** · MAE **{_number(mae)}**  \n"
                            f":gray[{_when(summary.created)} · `{summary.key[:8]}`]")
            if summary.degenerate:
                st.caption(f":orange[Not used: {summary.degenerate}.]")
            if _confirm_delete(summary.key, on_delete=resources.delete_regression_head,
                               args=(ws.tv.key, ws.target.key, summary.key)):
                continue
            use, delete = actions.columns(2, gap="small")
            if summary.key != shown and not summary.degenerate:
                use.button(":material/check_circle:", key=f"head_use_{summary.key}",
                           type="tertiary", help="Show this head",
                           on_click=_show_regression_head,
                           args=(ws.tv.key, ws.target.key, summary.key))
            _delete_button(delete, summary.key)
    if len(heads) >= 2:
        _compare_regression(heads)


def _show_regression_head(tv_key: str, target_key: str, key: str) -> None:
    state.store_regression_head(tv_key, target_key, resources.load_head(key))


def _compare_regression(heads: list) -> None:
    """Two regression heads' scores side by side (B − A)."""
    st.subheader("Compare two heads")
    by_key = {s.key: s for s in heads}
    keys = list(by_key)
    left, right = st.columns(2)
    label = lambda k: f"{by_key[k].title} · {_params_text(by_key[k])} · {k[:8]}"  # noqa: E731
    key_a = left.selectbox("A", keys, format_func=label, key=state.REGRESSION_COMPARE_A)
    key_b = right.selectbox("B", keys, index=1, format_func=label, key=state.REGRESSION_COMPARE_B)
    if key_a == key_b:
        st.caption("Choose two different heads.")
        return
    rows = []
    for name in ("val_r2", "test_r2", "val_mae", "test_mae", "test_rmse", "train_seconds"):
        a, b = by_key[key_a].metrics.get(name), by_key[key_b].metrics.get(name)
        rows.append({"score": name, "A": a, "B": b,
                     "B − A": None if a is None or b is None else b - a})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="regression_compare")
