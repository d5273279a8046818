"""Review: walk the suspected label errors one image at a time (most likely errors first),
accept the suggestion, keep the label, exclude the image or pick another class, with one
key or one click each; then retrain the head on the corrected labels, see the gain on the
test split, and take the cleaned dataset away (core.corrections)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core.base.splits import SPLIT_NAMES
from dashboard import pages
from dashboard.services import corrections as fixes
from dashboard.services import heads, quality
from dashboard.services.analysis import knn as knn_graph
from dashboard.services.workspace import Workspace
from dashboard.ui import components
from dashboard.ui import corrections as fix_ui
from dashboard.ui.progress import REPORT

SOURCE = "review"
NEIGHBOURS = 6


def render(ws: Workspace) -> None:
    if components.classes_only(ws, "The review queue", regression_view=pages.REGRESSION):
        return
    fix_ui.show_notice()
    corrections = fixes.overlay(ws)
    record = heads.crossfit_head(ws.tv.key)
    if record is None:
        st.info("The review queue walks the suspected label errors, which rest on a "
                "cross-fitted head: check the data quality first.", icon=":material/rule:")
        st.button(f"Go to “{pages.DATA_QUALITY.title}”", on_click=pages.DATA_QUALITY.go_to,
                  type="primary", key="review_to_quality")
    else:
        report = quality.quality_report(ws, record, report=REPORT)
        issues = quality.quality_section(report, "label_issues", report=REPORT)
        _queue(ws, corrections, issues.reset_index(drop=True), record)
    st.divider()
    _retrain_and_compare(ws, corrections)
    _take_away(ws, corrections)


# --- the queue ---

def _queue(ws: Workspace, corrections, issues: pd.DataFrame, record) -> None:
    queue = fixes.review_queue(issues)
    if not len(queue):
        st.success("No suspected label errors to review: the cross-fitted head and the "
                   "neighbours agree with the given labels.", icon=":material/check_circle:")
        return
    counts = fixes.review_counts(corrections, ws, queue)
    position = fixes.review_position(corrections, ws, queue)
    row = issues.iloc[position]
    index = int(row["index"])
    names = ws.class_names
    given, suggested = int(row["given"]), int(row["suggested"])
    st.markdown(f"### {counts['reviewed']:,} of {counts['total']:,} reviewed  \n"
                f"{counts['changed']:,} changed · {counts['left']:,} left · suspected label "
                "errors, most likely first")
    st.progress(counts["reviewed"] / counts["total"])
    status = fixes.status_of(corrections, ws, [index]).get(index)
    with st.container(border=True, key="review_card"):
        picture, facts, evidence = st.columns([2, 3, 4])
        with picture:
            components.image_grid(ws.dataset, [index], [components.sample_name(ws, index)],
                                  size=208)
        with facts:
            probabilities = record.head.probabilities[index]
            st.markdown(
                f"Image **{position + 1} of {len(queue):,}** · "
                f"{SPLIT_NAMES[int(ws.tv.splits[index])]} split  \n"
                f"Given: **{names[given]}**  \n"
                f"Suggested: **:orange[{names[suggested]}]** "
                f"({float(probabilities[suggested]):.0%} confident)  \n"
                f"The head gives the given label {row['self_confidence']:.0%}, its "
                f"neighbours {row['knn_agreement']:.0%} · suspicion {row['score']:.2f}")
            if status is not None:
                st.markdown(fix_ui.badge(status))
        with evidence:
            neighbours = [int(j) for j in np.asarray(
                knn_graph(ws.tv, report=REPORT).indices_[index])[:NEIGHBOURS]]
            st.caption("Nearest neighbours (their given labels)")
            components.image_grid(ws.dataset, neighbours,
                                  [names[ws.tv.labels[j]] for j in neighbours], size=88)
        _decisions(ws, index, given, suggested, position, len(queue))
    st.caption("Keys: **A** accept the suggestion · **K** keep the given label · **X** "
               "exclude · **B** back · **S** skip. Every decision is saved at once and can "
               "be undone.")


def _decisions(ws: Workspace, index: int, given: int, suggested: int, position: int,
               length: int) -> None:
    """The queue's buttons: each decides (saved at once) and moves to the next image."""
    names = ws.class_names
    step = partial(_decide, ws, position=position, length=length)
    accept, keep, drop, other, back, skip = st.columns([3, 3, 2, 3, 2, 2], gap="small",
                                                       vertical_alignment="bottom")
    accept.button(f"Accept {names[suggested]}", key="review_accept", type="primary",
                  icon=":material/check:", shortcut="A", width="stretch",
                  on_click=step, args=(fixes.relabel, [index], suggested))
    keep.button(f"Keep {names[given]}", key="review_keep", icon=":material/done:",
                shortcut="K", width="stretch", on_click=step, args=(fixes.keep, [index]))
    drop.button("Exclude", key="review_exclude", icon=":material/block:", shortcut="X",
                width="stretch", on_click=step, args=(fixes.exclude, [index]))
    others = [c for c in range(len(names)) if c not in (given, suggested)]
    other.selectbox("Other class", others, index=None, format_func=lambda c: names[c],
                    key=f"review_other_{index}", placeholder="Another class…",
                    label_visibility="collapsed",
                    on_change=_other_class, args=(ws, index, position, length),
                    disabled=not others)
    back.button("Back", key="review_back", icon=":material/arrow_back:", shortcut="B",
                width="stretch", disabled=position == 0,
                on_click=fixes.move_review, args=(ws, position - 1, length))
    skip.button("Skip", key="review_skip", icon=":material/arrow_forward:", shortcut="S",
                width="stretch", disabled=position >= length - 1,
                on_click=fixes.move_review, args=(ws, position + 1, length))


def _decide(ws: Workspace, change, rows, *args, position: int, length: int) -> None:
    fix_ui.act(change, ws, rows, *args, source=SOURCE)
    fixes.move_review(ws, position + 1, length)


def _other_class(ws: Workspace, index: int, position: int, length: int) -> None:
    chosen = st.session_state.get(f"review_other_{index}")
    if chosen is not None:
        _decide(ws, fixes.relabel, [index], int(chosen), position=position, length=length)


# --- retrain and compare ---

def _retrain_and_compare(ws: Workspace, corrections) -> None:
    st.subheader("Retrain and compare")
    counts = corrections.counts()
    record = ws.head
    head = record.head.head if record is not None else "logreg"
    st.markdown(f"**{counts['relabel']:,} relabelled, {counts['exclude']:,} excluded**, "
                f"{counts['keep']:,} labels kept as given. Retraining fits the active head's "
                f"kind and parameters (**{head}**) on the corrected labels; both heads are "
                "scored on the test split (nothing is re-extracted).")
    left, right = st.columns(2, vertical_alignment="center")
    clicked = left.button(f"Retrain {head} on the corrected labels", key="retrain_compare",
                          type="primary", icon=":material/model_training:",
                          disabled=not corrections.content_hash)
    right.button("Undo the last change", key="review_undo_last", icon=":material/undo:",
                 disabled=not counts["undo_steps"], on_click=fix_ui.act,
                 args=(fixes.undo_last, ws), kwargs={"done": "Undid {n} change{s}."})
    if clicked:
        fixes.retrain_and_compare(ws, record, report=REPORT)
    done, current = fixes.current_comparison(ws, corrections)
    if done is None:
        return
    if not current:
        st.caption(":orange[The corrections changed since this comparison: retrain to "
                   "compare the current ones.]")
    _comparison(done)


def _comparison(done) -> None:
    accuracy = done.accuracy
    st.markdown(f"**Before → after**, {done.head} on the test split "
                f"({len(done.test_rows):,} images, {len(done.kept_test_rows):,} kept):")
    cols = st.columns(4)
    rows = (("before_original", "Before · test labels as given"),
            ("after_original", "After · test labels as given"),
            ("before_corrected", "Before · corrected test labels"),
            ("after_corrected", "After · corrected test labels"))
    for column, (name, label) in zip(cols, rows):
        value = accuracy.get(name)
        delta = None
        if name.startswith("after") and value is not None:
            before = accuracy.get(name.replace("after", "before"))
            if before is not None:
                delta = f"{(value - before) * 100:+.1f} pts"
        column.metric(label, "—" if value is None else f"{value:.1%}", delta, border=True)
    difference = pd.DataFrame(done.confusion_difference, index=list(done.class_names),
                              columns=list(done.class_names))
    left, right = st.columns(2)
    with left:
        st.caption("Confusion matrix after − before (rows: corrected label, columns: "
                   "predicted); the diagonal gains are errors fixed")
        st.dataframe(difference, key="confusion_difference")
    with right:
        errors = pd.DataFrame(done.label_errors)
        st.caption(f"{len(errors):,} corrected test labels; a 'before' error there was the "
                   "label's fault when it predicted the corrected class")
        if len(errors):
            st.dataframe(errors.drop(columns=["row"]), hide_index=True, key="label_errors")


# --- take it away ---

def _take_away(ws: Workspace, corrections) -> None:
    st.subheader("Take the cleaned dataset away")
    if not len(corrections):
        st.caption("Nothing corrected yet.")
        return
    left, right = st.columns(2)
    stem = str(ws.settings.dataset_label).replace("/", "_").replace(" ", "_") or "dataset"
    left.download_button(
        "Cleaned dataset (.zip)", data=partial(fixes.cleaned_zip, ws),
        file_name=f"{stem}-cleaned.zip", mime="application/zip", key="cleaned_zip",
        icon=":material/folder_zip:", on_click="ignore",
        help="One folder per corrected class (excluded images left out), labels.csv with "
             "path,label, and corrections.jsonl.")
    right.download_button(
        "Corrections file (.jsonl)", data=fixes.corrections_file(ws),
        file_name=f"{stem}-corrections.jsonl", mime="application/jsonl",
        key="corrections_file", icon=":material/download:", on_click="ignore",
        help="Apply it elsewhere: python -m core corrections apply --file FILE.")
    with st.expander(f"All corrections ({len(corrections):,})"):
        st.dataframe(corrections.table(), hide_index=True, key="corrections_table")

