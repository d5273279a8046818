"""Fine-tune the backbone itself on the images: settings (a form, with the expected time on
this machine) → fine-tuning (progress, cancel, live curves; checkpointed, so a stopped run
continues) → before and after (test accuracy, the kNN vote in the new feature space), and a
switch that puts every view on the fine-tuned backbone's values."""

from __future__ import annotations

import streamlit as st

from core.base.errors import TransferLensError
from core.base.splits import SPLIT_CODES
from core.finetune.config import FineTuneConfig
from core.finetune.evaluate import default_params
from core.heads import describe_head
from dashboard import pages, state
from dashboard.services import finetune, heads
from dashboard.services.analysis import separability
from dashboard.services.public import visible
from dashboard.services.workspace import Workspace
from dashboard.state import results, session
from dashboard.ui import click_guard, components, training
from dashboard.ui.param_widgets import param_widgets
from dashboard.ui.progress import REPORT, computing_area, progress_panel, redraw_if_replaced

HEAD = "finetune"  # core's head that fine-tunes the backbone (its widget keys: hp_finetune_*)
# the fine-tuning settings worth a widget; the rest keep core's defaults (FineTuneConfig)
WIDGETS = ("epochs", "start_size", "unfreeze", "batch_size", "peak_lr", "weight_decay",
           "label_smoothing", "bn", "flip", "crop_pad_fraction", "erase")


def render(ws: Workspace) -> None:
    if components.classes_only(ws, "Fine-tuning the backbone",
                               regression_view=pages.REGRESSION):
        return
    if HEAD not in heads.head_names(fine_tunes_backbone=True):
        st.info("Fine-tuning the backbone is not offered in this public Transfer Lens: it "
                "keeps the server busy for minutes to hours. Run Transfer Lens on your own "
                "machine to fine-tune.", icon=":material/block:")
        return
    st.caption(describe_head(HEAD))
    if ws.fine_tuned_view:
        st.info("These are the fine-tuned backbone's values. Switch the feature space in the "
                "sidebar back to “Original” to fine-tune again; the heads of “Train a head” "
                "train on whichever is shown.", icon=":material/swap_horiz:")
    else:
        params, submitted = _settings(ws)
        if session.was_cancelled():
            st.warning("Training cancelled. " + ("The previous head is kept."
                       if ws.head is not None else "No head was stored."),
                       icon=":material/stop_circle:")
        if submitted and not click_guard.refused("finetune", ws):
            with computing_area("Fine-tuning"):  # alone in the view's frame (ui.progress)
                _fine_tune(ws, params)
            redraw_if_replaced()
    training.show_notice(ws.tv.key)
    if ws.finetuned is not None:
        _results(ws, ws.finetuned)


def _settings(ws: Workspace) -> tuple[dict, bool]:
    defaults = default_params(ws.settings.backbone)
    n_train = int((ws.tv.splits == SPLIT_CODES["train"]).sum())
    st.caption(f"Trains on the {n_train:,} training images, ending at the sidebar's input size "
               f"({ws.settings.image_size} px), validates on the validation split after every "
               "epoch and keeps a checkpoint, so a stopped run continues where it was. On a "
               "CPU an epoch over thousands of images takes minutes: try a subset and one "
               "epoch first.")
    with st.form("finetune_form", border=False):
        params = param_widgets(HEAD, {k: defaults[k] for k in WIDGETS}, helps=HELP,
                               specs=FineTuneConfig.parameter_specs())
        submitted = st.form_submit_button("Start fine-tuning", type="primary",
                                          icon=":material/play_arrow:",
                                          **click_guard.remember("finetune", ws))
    if not submitted:
        _estimate(ws, params)
    return params, submitted


def _estimate(ws: Workspace, params: dict) -> None:
    """The expected time of these settings, measured on this machine (a few real steps,
    once per set-up; later looks scale the kept timings to the schedule)."""
    try:
        estimate = finetune.finetune_estimate(ws, params, measure=False)
        if estimate is None and st.button(
                "Estimate the time on this machine", key="finetune_estimate",
                icon=":material/timer:",
                help="Builds the network and times a few real training steps at the "
                     "schedule's smallest and largest input size (tens of seconds), then "
                     "scales them to these settings. Kept for next time."):
            with progress_panel("Timing a few fine-tuning steps…",
                                starting="building the network…") as panel:
                estimate = finetune.finetune_estimate(ws, params, measure=True,
                                                      progress=panel)
    except TransferLensError as error:  # settings out of bounds, no such backbone
        st.caption(f":orange[No time estimate: {visible(str(error))}]")
        return
    if estimate is not None:
        st.caption(f":material/timer: Expected: {estimate.describe()} (with the values of "
                   f"{ws.settings.image_size} px already cached).")


def _fine_tune(ws: Workspace, params: dict) -> None:
    """Fine-tune with progress, cancel (finished epochs are kept) and live curves; then
    keep the result, and rerun so the sidebar's feature-space switch appears."""
    size = finetune.finetune_config(ws, params).image_size

    def work(on_epoch):
        with progress_panel(f"Fine-tuning {ws.settings.backbone} on "
                            f"{ws.dataset.split_indices('train').size:,} images at {size} px…",
                            starting="training the first head, then compiling the "
                                     "network…") as panel:
            return finetune.fine_tune(ws, params, progress=panel, on_epoch=on_epoch)

    done = training.run_training(
        ws.tv.key, work, curves=training.curves, kept=training.kept_text(ws.head),
        cancel="Cancel fine-tuning",
        cancel_help="Stops now; finished epochs are kept and the next run resumes.")
    if done is None:
        return
    results.store_finetuned(ws.tv.key, done)
    st.toast(f"Fine-tuned: test accuracy {done.head.metrics['test_accuracy']:.1%}",
             icon=":material/check_circle:")
    st.rerun()  # the sidebar's feature-space switch appears now


def _results(ws: Workspace, done) -> None:
    metrics = done.head.metrics
    before = results.head_record(done.before.key)
    knn = separability(done.before, report=REPORT)
    knn_after = separability(done.after, report=REPORT)
    result = done.result
    st.subheader("Fine-tuned backbone")
    columns = st.columns(4)
    reference = (before.head.metrics["test_accuracy"], f"the {before.head.head} head before"
                 ) if before is not None else (knn["knn_accuracy"], "the kNN vote before")
    columns[0].metric("Test accuracy", f"{metrics['test_accuracy']:.1%}",
                      delta=f"{training.points(metrics['test_accuracy'] - reference[0])} vs {reference[1]}",
                      border=True, help=f"On {metrics['n_test']:,} held-out test images.")
    columns[1].metric("Validation accuracy", f"{metrics['val_accuracy']:.1%}", border=True)
    columns[2].metric("kNN vote after", f"{knn_after['knn_accuracy']:.1%}", border=True,
                      delta=f"{training.points(knn_after['knn_accuracy'] - knn['knn_accuracy'])} vs "
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
        training.curves(done.head.history)
    if not ws.fine_tuned_view:
        st.button("Show every view on the fine-tuned backbone", on_click=state.show_fine_tuned,
                  icon=":material/swap_horiz:", key="show_fine_tuned",
                  help="Same as choosing “Fine-tuned” under Feature space in the sidebar. "
                       "The Projections view can also put before and after side by side.")


HELP = {
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
