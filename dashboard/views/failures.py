"""Failure gallery: misclassified images, worst (most confidently wrong) first."""

from __future__ import annotations

import streamlit as st

from core.heads.evaluation import failure_ranking
from core.base.splits import split_mask
from dashboard import pages, state
from dashboard.services.workspace import Workspace
from dashboard.services import corrections as fixes
from dashboard.ui import cam_overlays, components
from dashboard.ui import corrections as fix_ui

SPLITS = ("test", "val")


def render(ws: Workspace) -> None:
    if components.classes_only(ws, "The failure gallery",
                               regression_view=pages.REGRESSION):
        return
    record = ws.head
    if record is None:
        components.need_head("the failure gallery", "failures", train_view=pages.TRAIN)
        return
    head, tv, names = record.head, ws.tv, ws.class_names
    state.seed(state.FAIL_SPLIT, "test")
    split_col, true_col, pred_col = st.columns([1, 2, 2], vertical_alignment="bottom")
    split = split_col.segmented_control("Split", list(SPLITS), key=state.FAIL_SPLIT, required=True,
                                        persist_state="session") or "test"
    mask = split_mask(tv.splits, split)
    ranking = failure_ranking(labels=tv.labels, probabilities=head.probabilities, mask=mask)
    options = list(range(len(names)))
    true_filter = true_col.multiselect("True class", options, format_func=lambda c: names[c],
                                       key="fail_true", placeholder="any",
                                       persist_state="session")
    pred_filter = pred_col.multiselect("Predicted class", options,
                                       format_func=lambda c: names[c], key="fail_pred",
                                       placeholder="any", persist_state="session")
    shown = ranking
    if true_filter:
        shown = shown[shown["true"].isin(true_filter)]
    if pred_filter:
        shown = shown[shown["predicted"].isin(pred_filter)]
    total = int(mask.sum())
    st.markdown(f"**{len(ranking):,} of {total:,} {split} images are misclassified** "
                f"({len(ranking) / max(total, 1):.1%})"
                + (f" · {len(shown):,} match the filters" if len(shown) != len(ranking) else ""))
    if shown.empty:
        st.success("No misclassified images here.", icon=":material/check_circle:")
        return
    rows = shown.set_index("index")

    def caption(index: int) -> str:
        row = rows.loc[index]
        return (f"{names[int(row['true'])]} → {names[int(row['predicted'])]} "
                f"{row['confidence']:.0%}")

    st.caption("Under each image: true class → predicted class, and the head's confidence "
               "in its (wrong) prediction. Worst first: confidently wrong images often hide "
               "label errors or look-alike classes.")
    fix_ui.show_notice()
    components.neighbours_panel(ws, shown["index"].to_numpy(), key="fail_neighbours",
                                inspect_view=pages.INSPECT)
    # the head's prediction is the suggestion: a confident failure is often a wrong label
    suggestions = dict(zip(shown["index"].astype(int), shown["predicted"].astype(int)))
    cam_overlays.gallery(ws, head, shown["index"].to_numpy(), caption, key="fail_gallery",
                         per_page=40, size=112, pick=tv.key, inspect_view=pages.INSPECT,
                         under=fix_ui.gallery_actions(ws, fixes.overlay(ws), key="fail_fix",
                                                      source="failures",
                                                      suggestions=suggestions))
    components.csv_download(
        ws, shown["index"].to_numpy(), what=f"failures_{split}", label="Failures as CSV",
        key="failures_csv", head=head,
        extra_columns={"p_true_class": shown["true_prob"].to_numpy()},
        help="The misclassified images listed here (filters applied), worst first: sample "
             "id, label, class, split, the head's prediction, confidence and class "
             "probabilities.")
    with st.expander("As a table"):
        table = shown.assign(true=shown["true"].map(lambda c: names[c]),
                             predicted=shown["predicted"].map(lambda c: names[c]),
                             sample_id=tv.sample_ids[shown["index"].to_numpy()])
        st.dataframe(table, hide_index=True, column_config={
            "confidence": st.column_config.NumberColumn(format="percent"),
            "true_prob": st.column_config.NumberColumn("p(true class)", format="percent")})
