"""Train a head: pick a classifier and its hyper-parameters, watch it train (cancellable),
then compare accuracy before and after, with a per-class table."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pandas as pd
import streamlit as st

from dashboard import components, resources, state
from dashboard.resources import Workspace

HEAD_LABELS = {"logreg": "Logistic regression", "softmax": "Softmax (Keras)",
               "mlp": "MLP (Keras)", "finetune": "Fine-tune"}
SHOWN_HEADS = ("logreg", "softmax", "mlp", "finetune")
# the fine-tuning settings worth a widget; the rest keep core's defaults (FineTuneConfig)
FINETUNE_WIDGETS = ("epochs", "start_size", "unfreeze", "batch_size", "peak_lr", "weight_decay",
                    "label_smoothing", "bn", "flip", "crop_pad_fraction")


def render(ws: Workspace) -> None:
    from core.heads import default_head_params, describe_head

    st.session_state.setdefault("head_type", "logreg")
    head_name = st.segmented_control("Head", SHOWN_HEADS, format_func=HEAD_LABELS.get,
                                     key="head_type", required=True, persist_state="session")
    st.caption(describe_head(head_name))
    if head_name == "finetune":
        _render_finetune(ws)
        return
    with st.form("train_form", border=False):
        params = _param_widgets(head_name, default_head_params(head_name))
        with st.expander("Cross-fitting (for label issues)"):
            folds = st.number_input(
                "Folds", min_value=0, max_value=10, value=0, key="cross_fit_folds",
                persist_state="session",
                help="With k ≥ 2 folds the train samples' probabilities are out-of-fold, so "
                     "“Label issues” can trust them. Costs k extra fits; 0 = off.")
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    _say_if_cancelled(ws)
    if submitted:
        _train(ws, head_name, params, int(folds))
    record = ws.head
    if record is not None:
        _results(ws, record)


def _say_if_cancelled(ws: Workspace) -> None:
    if st.session_state.pop("train_cancelled", False):
        st.warning("Training cancelled. " + ("The previous head is kept."
                   if ws.head is not None else "No head was stored."),
                   icon=":material/stop_circle:")


# --- fine-tuning the backbone ---

def _render_finetune(ws: Workspace) -> None:
    from core.finetune.evaluate import default_params

    if ws.fine_tuned_view:
        st.info("These are the fine-tuned backbone's values. Switch the feature space in the "
                "sidebar back to “Original” to fine-tune again; the heads above train on "
                "whichever is shown.", icon=":material/swap_horiz:")
    else:
        defaults = default_params(ws.settings.backbone)
        st.caption(f"Trains on the {int((ws.tv.splits == 0).sum()):,} training images, ending "
                   f"at the sidebar's input size ({ws.settings.image_size} px), validates on the "
                   "validation split after every epoch and keeps a checkpoint, so a stopped "
                   "run continues where it was. On a CPU an epoch over thousands of images "
                   "takes minutes: try a subset and one epoch first.")
        with st.form("finetune_form", border=False):
            params = _param_widgets("finetune", {k: defaults[k] for k in FINETUNE_WIDGETS},
                                    helps=FINETUNE_HELP)
            submitted = st.form_submit_button("Start fine-tuning", type="primary",
                                              icon=":material/play_arrow:")
        _say_if_cancelled(ws)
        if submitted:
            _fine_tune(ws, params)
    done = ws.finetuned
    if done is not None:
        _finetune_results(ws, done)


def _fine_tune(ws: Workspace, params: dict) -> None:
    from core.finetune.evaluate import config_from_params, fine_tune_and_evaluate

    config = config_from_params({**params, "image_size": ws.settings.image_size},
                                backbone=ws.settings.backbone)
    keep = "Stops now; finished epochs are kept and the next run resumes."
    with _live_training("Cancel fine-tuning", cancel_help=keep) as on_epoch, \
            components.progress_panel(
            f"Fine-tuning {ws.settings.backbone} on {ws.dataset.split_indices('train').size:,}"
            f" images at {config.image_size} px…",
            starting="training the first head, then compiling the network…") as panel:
        done = fine_tune_and_evaluate(dataset=ws.dataset, backbone=ws.settings.backbone,
                                      config=config, progress=panel, on_epoch=on_epoch)
    state.store_finetuned(ws.tv.key, done)
    st.toast(f"Fine-tuned: test accuracy {done.head.metrics['test_accuracy']:.1%}",
             icon=":material/check_circle:")
    st.rerun()  # the sidebar's feature-space switch appears now


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
                      delta=f"{metrics['test_accuracy'] - reference[0]:+.1%} vs {reference[1]}",
                      border=True, help=f"On {metrics['n_test']:,} held-out test images.")
    columns[1].metric("Validation accuracy", f"{metrics['val_accuracy']:.1%}", border=True)
    columns[2].metric("kNN vote after", f"{knn_after['knn_accuracy']:.1%}", border=True,
                      delta=f"{knn_after['knn_accuracy'] - knn['knn_accuracy']:+.1%} vs "
                            f"{knn['knn_accuracy']:.1%} before",
                      help="A 10-nearest-neighbour vote in transfer-value space: how well the "
                           "features alone separate the classes, after and before.")
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


FINETUNE_HELP = {
    "epochs": "Passes over the training images. Each is checkpointed.",
    "start_size": "Progressive resizing: the first epoch trains at this size and later ones "
                  "grow to the sidebar's input size (small images are cheap while the network "
                  "adapts). 0 trains every epoch at the input size.",
    "unfreeze": "'all' trains the whole backbone; 'top-K' only its last K blocks. EfficientNet-"
                "Lite0 has 16: top-13 keeps the stem and first three blocks as ImageNet "
                "trained them (measured 1.16× faster at equal accuracy on Fashion-MNIST).",
    "peak_lr": "AdamW's learning rate at the top of the one-cycle schedule. With BN folded, "
               "5e-4 reached 94.5 % on Fashion-MNIST where 1e-3 reached 94.1 % (measured).",
    "bn": "'frozen' keeps ImageNet's batch-norm statistics (folded: faster, and better on "
          "short runs, measured); 'train' lets them adapt.",
    "flip": "Mirror training images left-right at random. Right for clothing, animals and "
            "photos; wrong for digits and text.",
    "crop_pad_fraction": "Pad by this share of the side, then crop back at a random place.",
    "label_smoothing": "Share of the target spread over the other classes.",
}


def _param_widgets(head_name: str, defaults: dict[str, Any],
                   helps: dict[str, str] | None = None) -> dict[str, Any]:
    """One input per hyper-parameter, typed after its default value."""
    params: dict[str, Any] = {}
    columns = st.columns(3)
    for position, (name, default) in enumerate(defaults.items()):
        column = columns[position % 3]
        key = f"hp_{head_name}_{name}"
        label = name.replace("_", " ").capitalize()
        # values survive view switches
        keep = {"key": key, "persist_state": "session", "help": (helps or {}).get(name)}
        if isinstance(default, bool):
            params[name] = column.checkbox(label, value=default, **keep)
        elif isinstance(default, int):
            params[name] = int(column.number_input(label, value=default, step=1, **keep))
        elif isinstance(default, float):
            # steps that make sense for 1e-3 (learning rate), 0.01 (C) and 0.0 (dropout)
            step = abs(default) / 2 if 0 < abs(default) < 1 else (abs(default) / 10 or 0.05)
            params[name] = float(column.number_input(label, value=default, step=step,
                                                     format="%g", **keep))
        elif isinstance(default, (list, tuple)) and all(isinstance(v, int) for v in default):
            keep["help"] = keep["help"] or "Comma-separated whole numbers."
            text = column.text_input(label, value=", ".join(map(str, default)), **keep)
            params[name] = _int_list(text, default)
        elif isinstance(default, str):
            params[name] = column.text_input(label, value=default, **keep)
        # anything else (None, nested settings) stays at core's default
    return params


def _int_list(text: str, default) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        st.warning(f"“{text}” is not a list of whole numbers; using {default}.")
        return tuple(default)
    return values or tuple(default)


def _cancel() -> None:
    st.session_state["train_cancelled"] = True


@contextmanager
def _live_training(cancel_label: str, *, cancel_help: str | None = None) -> Iterator[Callable]:
    """A cancel button and loss/accuracy curves redrawn after every epoch, while the block
    runs; yields the on_epoch callback. Cancel reruns the script, which stops training at
    its next progress update (Streamlit interrupts the running script)."""
    cancel_slot = st.empty()
    cancel_slot.button(cancel_label, on_click=_cancel, icon=":material/stop_circle:",
                       key="cancel_training", help=cancel_help)
    curves_slot = st.empty()
    logs: list = []

    def on_epoch(log) -> None:
        logs.append(log)
        with curves_slot.container():
            _curves(logs)

    try:
        yield on_epoch
    finally:
        cancel_slot.empty()
        curves_slot.empty()


def _train(ws: Workspace, head_name: str, params: dict, folds: int) -> None:
    """Train with live progress, curves and a cancel button."""
    from core.heads import train_head

    with _live_training("Cancel training") as on_epoch, components.progress_panel(
            f"Training a {HEAD_LABELS[head_name]} head on {ws.tv.n:,} samples…",
            starting="fitting…") as panel:
        head = train_head(tv=ws.tv, head=head_name, params=params, progress=panel,
                          on_epoch=on_epoch, cross_fit_folds=folds)
    state.store_head(ws.tv.key, head)
    if folds >= 2:
        state.store_crossfit_head(ws.tv.key, head)
    st.toast(f"Trained: test accuracy {head.metrics['test_accuracy']:.1%}",
             icon=":material/check_circle:")


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
    st.subheader(f"{HEAD_LABELS.get(head.head, head.head)} head")
    test = metrics["test_accuracy"]
    columns = st.columns(5)
    delta = None
    if record.before_accuracy is not None:
        delta = f"{test - record.before_accuracy:+.1%} vs {record.before_label}"
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
                      help="A 10-nearest-neighbour vote in transfer-value space, no training: "
                           "how separable the classes already are.")
    when = ("loaded from the cache (trained earlier in {:.1f} s)" if head.cache == "hit"
            else "trained in {:.1f} s").format(metrics["train_seconds"])
    st.caption(f"{when.capitalize()} · {metrics['n_train']:,} training images · parameters: "
               + ", ".join(f"{k}={v}" for k, v in head.params.items()))
    if head.history:
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
