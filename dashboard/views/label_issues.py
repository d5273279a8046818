"""Label issues: images whose given label disagrees with a cross-fitted head and with their
neighbours, most suspicious first, with the suggested label and the neighbours as evidence."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from dashboard import resources, state
from dashboard.resources import Workspace
from dashboard.ui import components

PER_PAGE = 8


def render(ws: Workspace) -> None:
    record = resources.crossfit_head(ws.tv.key)
    if record is None:
        _explain_and_offer(ws)
        return
    issues = resources.label_issues(ws, record)
    names = ws.class_names
    st.markdown(f"**{len(issues):,} suspected label errors** among {ws.tv.n:,} images, "
                f"ranked by a cross-fitted {record.head.head} head and the "
                f"{resources.label_issue_neighbors()} nearest neighbours of each image "
                "(as `python -m core label-issues` ranks them).")
    if issues.empty:
        st.success("No suspicious labels found: the head and the neighbours agree with the "
                   "given labels.", icon=":material/check_circle:")
        return
    given = st.multiselect("Given label", list(range(len(names))), key="issues_given",
                           format_func=lambda c: names[c], placeholder="any",
                           persist_state="session")
    shown = issues[issues["given"].isin(given)] if given else issues
    components.csv_download(
        ws, shown["index"].to_numpy(), what="label_issues", label="Label issues as CSV",
        key="label_issues_csv",
        extra_columns={"suggested": shown["suggested"].to_numpy(),
                       "suggested_class": shown["suggested_class"].to_numpy(),
                       "score": shown["score"].to_numpy(),
                       "self_confidence": shown["self_confidence"].to_numpy(),
                       "knn_agreement": shown["knn_agreement"].to_numpy()},
        help="The suspected label errors listed here (filter applied), most suspicious "
             "first: sample id, given label and class, split, the suggested label and the "
             "evidence (suspicion score, the head's confidence in the given label, the "
             "neighbours' agreement).")
    pages = max(1, math.ceil(len(shown) / PER_PAGE))
    body = st.container()
    page = st.pagination(pages, key="issues_page") if pages > 1 else 1
    knn = resources.knn(ws.tv)
    rows = shown.iloc[(page - 1) * PER_PAGE: page * PER_PAGE]
    on_page = rows["index"].to_numpy()
    with body:
        # an issue image, or one of its neighbours, clicked: its own neighbours on top
        components.neighbours_panel(
            ws, np.concatenate([on_page, *(_neighbours(knn, i) for i in on_page)]),
            key="issue_neighbours")
        for _, row in rows.iterrows():
            _issue_row(ws, row, knn)


def _explain_and_offer(ws: Workspace) -> None:
    folds, head = resources.label_issue_folds(), resources.default_head()
    title = resources.head_title(head)
    st.markdown(
        "A label is suspicious when a classifier that **never saw the image** confidently "
        "predicts another class, and the image's nearest neighbours agree with it. To get "
        f"such out-of-fold predictions for every image, the head **{title}** is "
        f"trained {folds} times, each time holding out 1/{folds} of the data.")
    if st.button(f"Find label issues ({folds}-fold cross-fitted {title})",
                 type="primary", icon=":material/search:", key="find_issues"):
        with components.progress_panel(f"Cross-fitting the head {title}…") as panel:
            trained = resources.train_head(ws.tv, head=head, progress=panel,
                                           cross_fit_folds=folds)
        state.store_crossfit_head(ws.tv.key, trained)
        st.rerun()
    st.caption("A head trained with cross-fitting in “Train a head” is used too.")


def _issue_row(ws: Workspace, row, knn) -> None:
    names = ws.class_names
    index = int(row["index"])
    with st.container(border=True):
        image_col, text_col, neighbours_col = st.columns([1, 2, 5])
        with image_col:
            components.image_grid(ws.dataset, [index], [components.sample_name(ws, index)],
                                  size=112, pick=ws.tv.key, key="issue", per_row=1)
        text_col.markdown(f"Given: **{names[int(row['given'])]}**  \n"
                          f"Suggested: **:orange[{names[int(row['suggested'])]}]**  \n"
                          f"Suspicion {row['score']:.2f} · the head gives the given label "
                          f"{row['self_confidence']:.0%}, its neighbours "
                          f"{row['knn_agreement']:.0%}")
        neighbours = _neighbours(knn, index)
        with neighbours_col:
            st.caption("Nearest neighbours (their given labels)")
            components.image_grid(ws.dataset, neighbours,
                                  [names[ws.tv.labels[j]] for j in neighbours], size=72,
                                  pick=ws.tv.key, key=f"issue_{index}", per_row=6)


def _neighbours(knn, index: int) -> list[int]:
    return [int(j) for j in np.asarray(knn.indices_[int(index)])[:6]]
