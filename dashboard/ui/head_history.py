"""The heads kept on a set of transfer values, as the Train view lists them for the classes
and for a numeric target alike: one row per head (scores, when, its key), make one the
head in use, delete one (after a confirmation), compare two."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.services import heads as head_service
from dashboard.services.public import is_public
from dashboard.state import results
from dashboard.ui import figures
from dashboard.ui.training import points


@dataclass(frozen=True)
class HeadList:
    """What differs between the classification and the regression history."""

    title: str  # the subheader, before "(count)"
    empty: str  # said when no head is kept yet
    badge: str  # the word on the head in use ("active", "shown")
    use_help: str
    scores: Callable[[Any], str]  # a row's scores (markdown) from a core HeadSummary
    on_use: Callable[[str], None]  # an on_click callback: use the head with this key
    on_delete: Callable[[str], None]  # an on_click callback: delete it
    compare: Callable[[list, str | None], None]  # two heads side by side
    mark_degenerate: bool = True  # a badge on degenerate runs (the caption says it anyway)
    intro: str | None = None  # a caption above the rows


def head_history(heads: list, in_use: str | None, kind: HeadList) -> None:
    """The kept heads (core.heads.HeadSummary), newest first; the one in use highlighted."""
    st.subheader(f"{kind.title} ({len(heads)})")
    if not heads:
        st.caption(kind.empty)
        return
    if kind.intro:
        st.caption(kind.intro)
    for summary in heads:
        _row(summary, kind, in_use=summary.key == in_use)
    if len(heads) >= 2:
        kind.compare(heads, in_use)


def _row(summary, kind: HeadList, *, in_use: bool) -> None:
    with st.container(border=True, key=f"head_row_{summary.key}"):
        about, scores, actions = st.columns([5, 4, 2], vertical_alignment="center")
        badge = (f" :green-badge[:material/check: {kind.badge}]" if in_use else "") + (
            " :orange-badge[:material/warning: degenerate]"
            if summary.degenerate and kind.mark_degenerate else "")
        about.markdown(f"**{summary.title}**{badge}  \n:gray[{params_text(summary)}]")
        scores.markdown(kind.scores(summary))
        if summary.degenerate:
            st.caption(f":orange[Not used: {summary.degenerate}.]")
        if _confirm_delete(summary.key, on_delete=kind.on_delete):
            return
        use, delete = actions.columns(2, gap="small")
        if not in_use and not summary.degenerate:
            use.button(":material/check_circle:", key=f"head_use_{summary.key}",
                       type="tertiary", help=kind.use_help, on_click=kind.on_use,
                       args=(summary.key,))
        delete.button(":material/delete:", key=f"head_delete_{summary.key}", type="tertiary",
                      help="Delete this head (asks first)", on_click=results.ask_delete_head,
                      args=(summary.key,))


def _confirm_delete(key: str, *, on_delete: Callable[[str], None]) -> bool:
    """The confirmation for deleting head `key` when it was asked for (then True)."""
    if results.head_to_delete() != key:
        return False
    public = is_public()
    st.warning("Remove this head from your list? (It stays in the shared cache.)"
               if public else "Delete this head from the cache? It cannot be undone "
               "(training it again with the same settings gives it back).",
               icon=":material/delete:")
    yes, no, _ = st.columns([2, 1, 4])
    yes.button("Remove" if public else "Delete permanently", key=f"head_delete_yes_{key}",
               type="primary", on_click=on_delete, args=(key,))
    no.button("Cancel", key=f"head_delete_no_{key}", on_click=results.cancel_delete_head)
    return True


def when(created: str) -> str:
    try:
        moment = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return created or "?"
    today = datetime.now(moment.tzinfo).date()
    return moment.strftime("today %H:%M" if moment.date() == today else "%Y-%m-%d %H:%M")


def params_text(summary) -> str:
    text = ", ".join(f"{k}={v}" for k, v in summary.params.items() if k != "run_dir")
    if summary.cross_fit_folds:
        text += f" · {summary.cross_fit_folds}-fold cross-fitted"
    return text


def percent(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def number(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def pick_two(heads: list, keys: tuple[str, str], *, first: str | None,
             label: Callable[[str], str]) -> tuple[str, str] | None:
    """Two heads to compare (A starts on `first` when given); None while both are the same."""
    choices = [s.key for s in heads]
    key_a, key_b = keys
    if state.get(key_a) not in choices:
        state.put(key_a, first if first in choices else choices[0])
    if state.get(key_b) not in choices:
        state.put(key_b, [k for k in choices if k != state.get(key_a)][0])
    left, right = st.columns(2)
    a = left.selectbox("A", choices, format_func=label, key=key_a)
    b = right.selectbox("B", choices, format_func=label, key=key_b)
    if a == b:
        st.caption("Choose two different heads.")
        return None
    return a, b


# --- the classification heads ---

def class_heads(tv, *, unlisted: Any = None) -> HeadList:
    """The history of the classification heads on `tv` (the active head is the one in use).
    `unlisted`: the active head (a HeadRecord) when it is none of the listed ones (a
    published bundle's): the list is then titled and explained as the session's own, so
    "(0)" never stands beside a head in use."""
    def scores(summary) -> str:
        seconds = summary.train_seconds
        return (f"val **{percent(summary.val_accuracy)}** · test "
                f"**{percent(summary.test_accuracy)}**  \n"
                f":gray[{'?' if seconds is None else f'{seconds:.1f} s'} · "
                f"{when(summary.created)} · `{summary.key[:8]}`]")

    kind = HeadList(
        title="Heads on these transfer values",
        empty="None yet. Every head trained here is kept in the cache and listed here, "
              "also after a reload.",
        intro="Kept in the cache, newest first. The **active** head is the one every view "
              "uses (projection colours, confusion matrix, failures, inspect, export); " + (
                  "this public app lists only the heads of your session (other visitors' "
                  "heads stay theirs). " if is_public() else
                  "a new session starts with the best by validation accuracy. ") +
              "Degenerate runs are listed but never used.",
        badge="active", use_help="Make this the active head", scores=scores,
        on_use=lambda key: head_service.make_head_active(tv.key, key),
        on_delete=lambda key: head_service.delete_head(tv.key, key),
        compare=lambda heads, active: _compare_classifiers(tv, heads, active))
    if unlisted is None:
        return kind
    from core.heads import head_title

    head = unlisted.head
    return replace(kind, title="Heads you trained here", empty=(
        f"None yet. The views use the published head, {head_title(head.head)} "
        f"({percent(head.metrics['test_accuracy'])} on test), until you train one here."))


def _compare_classifiers(tv, heads: list, active: str | None) -> None:
    """Two heads side by side: accuracy, per-class F1 and how the test confusion changes."""
    st.subheader("Compare two heads")
    by_key = {s.key: s for s in heads}

    def label(key: str) -> str:
        s = by_key[key]
        return (f"{s.title} · {params_text(s)} · val {percent(s.val_accuracy)} · "
                f"{key[:8]}" + (" (active)" if key == active else ""))

    chosen = pick_two(heads, (results.HEAD_COMPARE_A, results.HEAD_COMPARE_B), first=active,
                      label=label)
    if chosen is None:
        return
    result = head_service.compare_heads(tv, *chosen)
    a, b, test = result["a"], result["b"], result["test"]
    columns = st.columns(4)
    for column, name, text in ((columns[0], "val_accuracy", "Validation accuracy"),
                               (columns[1], "test_accuracy", "Test accuracy")):
        if a[name] is not None and b[name] is not None:
            column.metric(f"{text}: B", f"{b[name]:.1%}", border=True,
                          delta=f"{points(b[name] - a[name])} vs A ({a[name]:.1%})")
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


# --- the regression heads on a numeric target ---

def target_heads(tv, target) -> HeadList:
    """The history of the regression heads on `target` (the one shown is in use)."""
    def scores(summary) -> str:
        mae = summary.metrics.get("mae")
        return (f"val R² **{number(summary.val_r2)}** · test R² "
                f"**{number(summary.test_r2)}** · MAE **{number(mae)}**  \n"
                f":gray[{when(summary.created)} · `{summary.key[:8]}`]")

    return HeadList(
        title="Heads on this target",
        empty="None yet. Every head trained here is kept in the cache and listed here.",
        badge="shown", use_help="Show this head", scores=scores, mark_degenerate=False,
        on_use=lambda key: head_service.show_regression_head(tv.key, target.key, key),
        on_delete=lambda key: head_service.delete_regression_head(tv.key, target.key, key),
        compare=lambda heads, shown: _compare_regressors(heads))


def _compare_regressors(heads: list) -> None:
    """Two regression heads' scores side by side (B − A)."""
    st.subheader("Compare two heads")
    by_key = {s.key: s for s in heads}
    chosen = pick_two(heads, (results.REGRESSION_COMPARE_A, results.REGRESSION_COMPARE_B),
                      first=None, label=lambda k: f"{by_key[k].title} · "
                                                  f"{params_text(by_key[k])} · {k[:8]}")
    if chosen is None:
        return
    rows = []
    for name in ("val_r2", "test_r2", "val_mae", "test_mae", "test_rmse", "train_seconds"):
        a, b = by_key[chosen[0]].metrics.get(name), by_key[chosen[1]].metrics.get(name)
        rows.append({"score": name, "A": a, "B": b,
                     "B − A": None if a is None or b is None else b - a})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="regression_compare")
