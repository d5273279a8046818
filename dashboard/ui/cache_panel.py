"""The sidebar's cache panel: where the transfer values came from, the head in use, the
cache's size and location, and clearing it (after a confirmation that names what goes)."""

from __future__ import annotations

from core.datasets.base import ImageDataset
from dashboard import state
from dashboard.services import cache, heads
from dashboard.services.public import is_public
from dashboard.services.workspace import Workspace
from dashboard.state import session
from dashboard.ui import components


def status_panel(where, tv_key: str | None, dataset: ImageDataset | None = None,
                 dataset_label: str = "", ws: Workspace | None = None) -> None:
    """Cache hit/miss for the current transfer values, the head, the cache's size and
    location, and clearing it (after a confirmation that names what goes and its size);
    drawn into `where` (a sidebar container)."""
    where.subheader("Cache")
    if tv_key is not None:
        record = session.tv_status(tv_key)
        if record is not None and record[0] == "bundle":
            where.markdown(":green[●] Transfer values: **from the published bundle**")
        elif record is not None and record[0] == "miss":
            where.markdown(f":orange[●] Transfer values: **computed** (cache miss) "
                           f"in {record[1]:.1f} s, now cached")
        else:
            where.markdown(":green[●] Transfer values: **cache hit**")
        if ws is not None and ws.target is not None:
            regression_head_status(where, ws)
        else:
            head_status(where, tv_key)
    if is_public():
        # shared by every visitor: its location stays private, and nobody clears it
        where.caption("Shared by every visitor of this public app: what anyone computed "
                      "opens at once for everyone.")
        return
    overview = cache.cache_overview(cache.cache_folder())
    entries = sum(kind["entries"] for kind in overview["kinds"].values())
    where.caption(f"{components.human_bytes(overview['bytes'])} in {entries} "
                  f"entr{'y' if entries == 1 else 'ies'} at")
    where.code(overview["path"], language=None)
    if (freed := session.take_cache_cleared()) is not None:
        where.success(f"Cache cleared: {components.human_bytes(freed)} freed.")
    if not session.clear_cache_asked():
        where.button("Clear cache…", on_click=session.ask_clear_cache, icon=":material/delete:",
                     key="clear_cache",
                     help="Asks what to delete (this dataset's entries or everything) first. "
                          "Deleted arrays are recomputed when you ask for them.")
        return
    _confirm_clear(where, overview, dataset, dataset_label)


def head_status(where, tv_key: str) -> None:
    """One line: the active head on these transfer values and how many are kept."""
    head = heads.active_head(tv_key)
    kept = heads.heads_on(tv_key)
    count, usable = len(kept), sum(not summary.degenerate for summary in kept)
    if head is not None:
        acc = head.head.metrics["test_accuracy"]
        where.markdown(f":green[●] Head: **{head.head.head}**, test accuracy {acc:.1%}"
                       + (f" · active of {count} kept" if count > 1 else ""))
    elif usable:  # kept and usable, just not chosen by this session (core's rule says so)
        where.markdown(f":orange[●] Head: none active; {usable} usable of {count} kept "
                       "(make one active in “Train a head”)")
    elif count:
        where.markdown(f":orange[●] Head: none usable of {count} kept (degenerate runs)")
    else:
        where.markdown(":gray[●] Head: none trained on these transfer values yet")


def regression_head_status(where, ws: Workspace) -> None:
    """One line: the regression head shown for the chosen target and how many are kept."""
    record = ws.regression_head
    count = len(heads.regression_heads_on(ws.tv.key, ws.target))
    if record is not None:
        m = record.head.metrics
        where.markdown(f":green[●] Head on **{ws.target.name}**: **{record.head.head}**, "
                       f"{m.get('reported_on', 'test')} R² {m['r2']:.3f}"
                       + (f" · shown of {count} kept" if count > 1 else ""))
    elif count:
        where.markdown(f":orange[●] Head on **{ws.target.name}**: none usable of {count} kept "
                       "(degenerate runs)")
    else:
        where.markdown(f":gray[●] Head on **{ws.target.name}**: none trained yet")


def _confirm_clear(where, overview: dict, dataset: ImageDataset | None, label: str) -> None:
    box = where.container(border=True)
    scopes = {"everything": (None, overview["bytes"])}
    if dataset is not None and dataset.source:
        entries, size = cache.dataset_cache_entries(dataset.source)
        scopes = {"dataset": (entries, size), **scopes}
    names = {"dataset": f"This dataset ({label or dataset.name if dataset else ''})",
             "everything": "Everything in the cache"}

    def describe(scope: str) -> str:
        entries, size = scopes[scope]
        count = "" if entries is None else f", {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        return f"{names[scope]}: {components.human_bytes(size)}{count}"

    if state.get(state.CLEAR_SCOPE) not in scopes:
        state.put(state.CLEAR_SCOPE, next(iter(scopes)))
    scope = box.radio("Delete", list(scopes), format_func=describe, key=state.CLEAR_SCOPE,
                      help="This dataset: its transfer values (every subset, backbone and "
                           "input size) and what was computed from them (projections, "
                           "neighbours, heads). Everything: the whole cache folder, uploads "
                           "included.")
    entries, size = scopes[scope]
    box.caption("Nothing is recomputed until you ask; a long extraction may be needed then.")
    confirm, cancel = box.columns(2)
    confirm.button(f"Delete {components.human_bytes(size)}", type="primary",
                   key="clear_cache_confirm", on_click=_clear_cache, args=(entries,),
                   disabled=size == 0 and entries is not None and not entries)
    cancel.button("Cancel", key="clear_cache_cancel", on_click=session.cancel_clear_cache)


def _clear_cache(entries: list | None) -> None:
    if entries is None:
        session.cache_cleared(cache.clear_cache(), everything=True)
    else:
        session.cache_cleared(cache.clear_dataset_cache(entries), everything=False)
