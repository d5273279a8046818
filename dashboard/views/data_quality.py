"""Data quality: label errors, outliers, near-duplicates and split leakage, class balance,
and one CSV of everything flagged (core.analysis.quality, as `python -m core quality`).

One section at a time: only the chosen one computes. Everything rests on a head whose
probabilities are out-of-sample (cross-fitted), as the label-error ranking needs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.label_issues import DEFAULT_CROSS_FIT_FOLDS, DEFAULT_NEIGHBORS
from core.base.splits import SPLIT_NAMES
from core.heads import DEFAULT_HEAD, head_title, is_degenerate, train_head
from dashboard import pages, state
from dashboard.services import corrections as fixes
from dashboard.services import heads, quality
from dashboard.services.analysis import class_counts, knn as knn_graph
from dashboard.services.workspace import Workspace
from dashboard.state import results
from dashboard.ui import click_guard, components, figures
from dashboard.ui import corrections as fix_ui
from dashboard.ui.progress import REPORT, progress_panel

PER_PAGE = 8
GROUPS_PER_PAGE = 6
LABELS, OUTLIERS, DUPLICATES, BALANCE, EXPORT = (
    "Label errors", "Outliers", "Near-duplicates and leakage", "Class balance",
    "Export flagged")
SECTIONS = (LABELS, OUTLIERS, DUPLICATES, BALANCE, EXPORT)
ICONS = {LABELS: ":material/label_off:", OUTLIERS: ":material/blur_on:",
         DUPLICATES: ":material/content_copy:", BALANCE: ":material/bar_chart:",
         EXPORT: ":material/download:"}
WITNESS = {"model": "the model (confident learning)", "neighbours": "the neighbours",
           "both": "both the model and the neighbours"}


def render(ws: Workspace) -> None:
    state.seed(state.QUALITY_SECTION, LABELS)
    section = st.segmented_control(
        "Section", SECTIONS, key=state.QUALITY_SECTION, required=True,
        label_visibility="collapsed", format_func=lambda s: f"{ICONS[s]} {s}") or LABELS
    # label errors, outliers (class entropy) and the rest rest on a classifier; the target's
    # own outliers are in the Regression view
    if section != BALANCE and components.classes_only(
            ws, f"“{section}”", regression_view=pages.REGRESSION):
        return
    fix_ui.show_notice()
    record = heads.crossfit_head(ws.tv.key)
    if section == BALANCE:
        _balance(ws, record)
        return
    if record is None:
        _explain_and_offer(ws)
        return
    if section == LABELS:
        _label_errors(ws, record)
    elif section == OUTLIERS:
        _outliers(ws, record)
    elif section == DUPLICATES:
        _duplicates(ws, record)
    else:
        _export(ws, record)


def _explain_and_offer(ws: Workspace) -> None:
    folds, head = DEFAULT_CROSS_FIT_FOLDS, DEFAULT_HEAD
    title = head_title(head)
    st.markdown(
        "Data quality rests on predictions for every image by a classifier that **never saw "
        "the image**: a label is suspicious when such a classifier confidently predicts "
        "another class and the image's nearest neighbours agree with it; an outlier sits "
        f"where no class is claimed. To get such out-of-fold predictions, the head **{title}** "
        f"is trained {folds} times, each time holding out 1/{folds} of the data.")
    if st.button(f"Check data quality ({folds}-fold cross-fitted {title})",
                 type="primary", icon=":material/search:", key="find_issues",
                 **click_guard.remember("find_issues", ws)) and not click_guard.refused(
                     "find_issues", ws):
        with progress_panel(f"Cross-fitting the head {title}…") as panel:
            trained = train_head(tv=ws.tv, head=head, progress=panel, cross_fit_folds=folds)
        results.store_crossfit_head(ws.tv.key, trained)
        if heads.active_head(ws.tv.key) is None and is_degenerate(trained) is None:
            results.store_head(ws.tv.key, trained)  # the session's first head: use it everywhere
        st.rerun()
    st.caption("A head trained with cross-fitting in “Train a head” is used too. "
               "“Class balance” needs no head.")


def _report(ws: Workspace, record, threshold: float | None = None):
    return quality.quality_report(ws, record, duplicate_threshold=threshold, report=REPORT)


def _threshold() -> float:
    return float(state.get(state.QUALITY_THRESHOLD,
                           quality.quality_defaults()["duplicate_threshold"]))


# --- label errors ---

def _label_errors(ws: Workspace, record) -> None:
    issues = quality.quality_section(_report(ws, record), "label_issues", report=REPORT)
    names = ws.class_names
    st.markdown(f"**{len(issues):,} suspected label errors** among {ws.tv.n:,} images, "
                f"ranked by a cross-fitted {record.head.head} head and the "
                f"{DEFAULT_NEIGHBORS} nearest neighbours of each image "
                "(as `python -m core label-issues` and `quality` rank them).")
    if issues.empty:
        st.success("No suspicious labels found: the head and the neighbours agree with the "
                   "given labels.", icon=":material/check_circle:")
        return
    given = st.multiselect("Given label", list(range(len(names))), key=state.QUALITY_GIVEN,
                           format_func=lambda c: names[c], placeholder="any",
                           persist_state="session")
    shown = issues[issues["given"].isin(given)] if given else issues
    extra = {"suggested": shown["suggested"].to_numpy(),
             "suggested_class": shown["suggested_class"].to_numpy(),
             "score": shown["score"].to_numpy(),
             "self_confidence": shown["self_confidence"].to_numpy(),
             "knn_agreement": shown["knn_agreement"].to_numpy()}
    if "witness" in shown:
        extra["witness"] = shown["witness"].to_numpy()
    components.csv_download(
        ws, shown["index"].to_numpy(), what="label_issues", label="Label errors as CSV",
        key="label_issues_csv", extra_columns=extra,
        help="The suspected label errors listed here (filter applied), most suspicious "
             "first: sample id, given label and class, split, the suggested label and the "
             "evidence (suspicion score, the head's confidence in the given label, the "
             "neighbours' agreement, which witness flagged it).")
    corrections = fixes.overlay(ws)
    suggestions = dict(zip(shown["index"].astype(int), shown["suggested"].astype(int)))
    fix_ui.bulk_actions(ws, shown["index"].to_numpy(), key="issues", source="label_issues",
                        suggestions=suggestions, what="suspected label errors shown")
    st.button(f"Review them one by one (“{pages.REVIEW.title}”)", key="issues_to_review",
              icon=":material/rule:", on_click=pages.REVIEW.go_to)
    knn = knn_graph(ws.tv, report=REPORT)

    def actions(row) -> None:
        fix_ui.sample_actions(ws, corrections, int(row["index"]), key="issue_fix",
                              source="label_issues", suggestion=int(row["suggested"]))

    def text(row) -> str:
        witness = WITNESS.get(str(row.get("witness", "")), "")
        return (f"Given: **{names[int(row['given'])]}**  \n"
                f"Suggested: **:orange[{names[int(row['suggested'])]}]**  \n"
                f"Suspicion {row['score']:.2f} · the head gives the given label "
                f"{row['self_confidence']:.0%}, its neighbours {row['knn_agreement']:.0%}"
                + (f"  \nFlagged by {witness}" if witness else ""))

    _ranked_rows(ws, shown, knn, text=text, key="issue", page_key="issues_page",
                 actions=actions)


def _ranked_rows(ws: Workspace, frame: pd.DataFrame, knn, *, text, key: str,
                 page_key: str, actions=None) -> None:
    """One bordered row per sample (image, `text(row)` and `actions(row)`, its nearest
    neighbours), a page at a time; any thumbnail's neighbours button opens the neighbours
    panel above."""
    n_pages = max(1, math.ceil(len(frame) / PER_PAGE))
    body = st.container()
    if state.get(page_key, 1) > n_pages:  # the list shrank under a filter
        state.put(page_key, 1)
    page = st.pagination(n_pages, key=page_key) if n_pages > 1 else 1
    rows = frame.iloc[(page - 1) * PER_PAGE: page * PER_PAGE]
    on_page = rows["index"].to_numpy()
    with body:
        components.neighbours_panel(
            ws, np.concatenate([on_page, *(_neighbours(knn, i) for i in on_page)]),
            key=f"{key}_neighbours", inspect_view=pages.INSPECT)
        names = ws.class_names
        for _, row in rows.iterrows():
            index = int(row["index"])
            with st.container(border=True):
                image_col, text_col, neighbours_col = st.columns([1, 3, 4])
                with image_col:
                    components.image_grid(ws.dataset, [index],
                                          [components.sample_name(ws, index)], size=112,
                                          pick=ws.tv.key, key=key, per_row=1,
                                          inspect_view=pages.INSPECT)
                with text_col:
                    st.markdown(text(row))
                    if actions is not None:
                        actions(row)
                neighbours = _neighbours(knn, index)
                with neighbours_col:
                    st.caption("Nearest neighbours (their given labels)")
                    components.image_grid(ws.dataset, neighbours,
                                          [names[ws.tv.labels[j]] for j in neighbours],
                                          size=72, pick=ws.tv.key, key=f"{key}_{index}",
                                          per_row=6, inspect_view=pages.INSPECT)


def _neighbours(knn, index: int) -> list[int]:
    return [int(j) for j in np.asarray(knn.indices_[int(index)])[:6]]


# --- outliers ---

def _outliers(ws: Workspace, record) -> None:
    report = _report(ws, record)
    ranked = quality.quality_section(report, "ranked_outliers", report=REPORT)
    flagged = quality.quality_section(report, "outliers", report=REPORT)
    defaults = quality.quality_defaults()
    limit = report.outlier_limit
    st.markdown(
        f"**{len(flagged):,} outliers** among {ws.tv.n:,} images: images in a region no "
        f"class claims. Score = the cross-fitted {record.head.head} head's uncertainty "
        f"(entropy, 0 = certain, 1 = uniform) averaged over the "
        f"{defaults['outlier_neighbors']} nearest neighbours; flagged from "
        f"{defaults['outlier_score']:g}× the median image's ({limit:.3f}). Every image is "
        "ranked below, most unusual first.")
    if flagged.empty:
        st.caption("None reaches the limit: every region of the feature space is claimed "
                   "by a class. The most unusual images are still worth a look.")
    only = st.toggle("Only flagged outliers", key=state.QUALITY_ONLY_OUTLIERS,
                     disabled=flagged.empty)
    shown = flagged if only and not flagged.empty else ranked

    def text(row) -> str:
        badge = " · :red[**outlier**]" if row["score"] >= limit else ""
        return (f"Label: **{row['given_class']}** ({SPLIT_NAMES[int(row['split'])]})  \n"
                f"Outlier score **{row['score']:.3f}**{badge}  \n"
                f"Its own uncertainty {row['uncertainty']:.2f} · isolation "
                f"{row['isolation']:.2f}× the typical distance to its neighbours")

    corrections = fixes.overlay(ws)

    def actions(row) -> None:
        fix_ui.sample_actions(ws, corrections, int(row["index"]), key="outlier_fix",
                              source="outliers")

    _ranked_rows(ws, shown, knn_graph(ws.tv, report=REPORT), text=text, key="outlier",
                 page_key="outliers_page", actions=actions)


# --- near-duplicates and split leakage ---

def _duplicates(ws: Workspace, record) -> None:
    defaults = quality.quality_defaults()
    default, pixels = defaults["duplicate_threshold"], defaults["pixel_threshold"]
    state.seed(state.QUALITY_THRESHOLD, default)
    threshold = st.slider(
        "Near-duplicate threshold (× the median nearest-neighbour distance)", 0.0, 1.5,
        step=0.05, key=state.QUALITY_THRESHOLD,
        help=f"Two images are near-duplicates when their pixels match — blurred grey "
             f"thumbnails, aligned by the best shift of up to 10 % of the side, differ by at "
             f"most {pixels:g} of the 0–255 range (RMS; `--pixel-threshold`): resized, "
             f"re-saved or slightly shifted copies — or when their distance in the transfer "
             f"values (PCA-50) is at most this fraction of the dataset's median distance from "
             f"an image to its nearest neighbour. Core's default {default:g} keeps exact "
             "copies and near-identical renders; raising it also groups look-alikes "
             "(`python -m core quality --duplicate-threshold`).")
    report = _report(ws, record, threshold)
    duplicates = quality.quality_section(report, "duplicates", report=REPORT)
    head = heads.active_head(ws.tv.key) or record
    leak = quality.leakage_accuracy(ws, report, head, report=REPORT)
    groups = int(duplicates["group"].nunique()) if len(duplicates) else 0
    cols = st.columns(4)
    cols[0].metric("Duplicate groups", f"{groups:,}",
                   help="Groups of images within the threshold of each other.")
    cols[1].metric("Test images with a duplicate in train",
                   f"{leak['leaked_test']:,} of {leak['n_test']:,}")
    if leak["test_accuracy"] is not None:
        cols[2].metric("Test accuracy", f"{leak['test_accuracy']:.1%}",
                       help=f"The active head ({head.head.head}) on every test image.")
        without = leak["test_accuracy_without_leaked"]
        cols[3].metric("Without leaked test images",
                       "—" if without is None else f"{without:.1%}",
                       None if without is None or not leak["leaked_test"] else
                       f"{(without - leak['test_accuracy']) * 100:+.1f} pts",
                       help="The same head on the test images that have no near-duplicate "
                            "in train.")
    if not groups:
        st.success(f"No near-duplicates at {threshold:g}× the median neighbour distance.",
                   icon=":material/check_circle:")
        return
    st.markdown(f"**{len(duplicates):,} images in {groups:,} near-duplicate groups**, largest "
                "first; a group spanning splits leaks test images into training.")
    order = list(dict.fromkeys(duplicates["group"].tolist()))
    n_pages = max(1, math.ceil(len(order) / GROUPS_PER_PAGE))
    body = st.container()
    if state.get("duplicates_page", 1) > n_pages:
        state.put("duplicates_page", 1)
    page = st.pagination(n_pages, key="duplicates_page") if n_pages > 1 else 1
    shown = order[(page - 1) * GROUPS_PER_PAGE: page * GROUPS_PER_PAGE]
    members = duplicates[duplicates["group"].isin(shown)]
    under = fix_ui.gallery_actions(ws, fixes.overlay(ws), key="dup_fix", source="duplicates")
    with body:
        components.neighbours_panel(ws, members["index"].to_numpy(), key="dup_neighbours",
                                    inspect_view=pages.INSPECT)
        for group in shown:
            rows = members[members["group"] == group]
            cross = bool(rows["cross_split"].iloc[0])
            with st.container(border=True):
                st.caption(f"Group {group + 1} · {len(rows)} images"
                           + (" · :red[spans splits]" if cross else "")
                           + f" · {_matched_by(rows)}")
                indices = rows["index"].to_numpy()[:12]
                components.image_grid(
                    ws.dataset, indices,
                    [f"{components.sample_name(ws, i)} · {c} · {SPLIT_NAMES[int(s)]}"
                     for i, c, s in zip(indices, rows["given_class"], rows["split"])],
                    size=88, pick=ws.tv.key, key=f"dup_{group}", per_row=8,
                    inspect_view=pages.INSPECT, under=under)


MATCHED = {"pixels": "same pixels (resized, re-saved or shifted copy)",
           "features": "same transfer values", "both": "same pixels and transfer values"}


def _matched_by(rows: pd.DataFrame) -> str:
    """Which confirmation put the group together, and how close its pixels are."""
    if "match" not in rows:
        return ""
    kinds = set(rows["match"])
    text = MATCHED["both" if "both" in kinds or len(kinds) > 1 else next(iter(kinds))]
    closest = rows["pixel_distance"].min() if "pixel_distance" in rows else float("nan")
    return text + ("" if math.isnan(closest) else f" · pixel difference {closest:.3f}")


# --- class balance ---

def _balance(ws: Workspace, record) -> None:
    counts = class_counts(ws.tv, report=REPORT)
    splits = [name for name in SPLIT_NAMES if counts[str(name)].sum() > 0]
    st.markdown(f"**{len(counts)} classes**, {ws.tv.n:,} images: the largest class has "
                f"{counts['total'].max() / max(1, counts['total'].min()):.1f}× the images of "
                "the smallest.")
    st.plotly_chart(figures.class_balance_figure(counts, [str(s) for s in splits]),
                    key="quality_balance_chart", config={"displayModeBar": False})
    if record is None:
        st.caption("The share of flagged samples per class needs the cross-fitted head: "
                   "see “Label errors”.")
        st.dataframe(counts[["class", *map(str, splits), "total"]], hide_index=True)
        return
    balance = quality.quality_section(_report(ws, record, _threshold()), "balance",
                                      report=REPORT)
    st.markdown("**Per-class quality**: how many of each class's images are flagged (a label "
                "error, an outlier or a near-duplicate).")
    table = balance[["class", *map(str, splits), "total", "flagged", "flagged_share"]]
    st.dataframe(table, hide_index=True, key="quality_balance_table", column_config={
        "flagged_share": st.column_config.ProgressColumn(
            "flagged share", format="percent", min_value=0.0,
            max_value=max(0.01, float(table["flagged_share"].max())))})


# --- export ---

def _export(ws: Workspace, record) -> None:
    threshold = _threshold()
    report = _report(ws, record, threshold)
    flagged = quality.quality_flagged(report, report=REPORT)
    counts = report.counts()
    st.markdown(
        f"**{len(flagged):,} flagged items** ({flagged['index'].nunique():,} images): "
        f"{counts['label']:,} label errors, {counts['outlier']:,} outliers, "
        f"{counts['duplicate']:,} near-duplicates in {counts['duplicate_groups']:,} groups "
        f"(threshold {threshold:g}), {counts['leakage']:,} test images with a duplicate in "
        "train — the rows `python -m core quality --csv` writes.")
    components.csv_download(
        ws, flagged["index"].to_numpy(), what="data_quality", key="quality_csv",
        label="All flagged items as CSV",
        extra_columns={"issue": flagged["issue"].to_numpy(),
                       "score": flagged["score"].to_numpy(),
                       "suggested_class": flagged["suggested_class"].fillna("").to_numpy()},
        help="One row per flagged item: sample id (the file's path for a folder dataset), "
             "given label and class, split, the issue (label, outlier, duplicate, leakage), "
             "its score (suspicion, outlier score, or the duplicate group) and the suggested "
             "class for label errors.")
    st.dataframe(flagged.groupby("issue", sort=False).size().rename("items").reset_index(),
                 hide_index=True)
