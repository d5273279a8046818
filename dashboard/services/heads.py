"""The heads on a set of transfer values (core.heads.history): which one is active, the
cached ones listed, loaded, compared and deleted; regression heads per numeric target."""

from __future__ import annotations

from core.base.paths import cache_root
from dashboard.services import cache
from dashboard.services.memo import memo, remembered, root
from dashboard.services.public import is_public, public_policy
from dashboard.state import results, url
from dashboard.state.results import HeadRecord


def head_names(*, fine_tunes_backbone: bool | None = None) -> list[str]:
    """The classification heads to offer. A public app offers no fine-tuning unless its
    operator allows it (core refuses it anyway; hiding it spares the visitor a form that
    cannot run)."""
    from core.heads import HEADS, head_names as names

    offered = names(fine_tunes_backbone=fine_tunes_backbone)
    rules = public_policy()
    if rules.enabled and not rules.allow_fine_tuning:
        offered = [name for name in offered if not HEADS[name].fine_tunes_backbone]
    return offered


def _heads_folder_stamp() -> int:
    """Changes whenever a head is saved or deleted (the heads folder's entries change)."""
    from core.heads.training import CACHE_KIND

    folder = cache_root() / CACHE_KIND
    return folder.stat().st_mtime_ns if folder.is_dir() else 0


def heads_on(tv_key: str) -> list:
    """Every cached head trained on these transfer values (core.heads.HeadSummary), newest
    first; read from their manifests (no weights), again only when the folder changed."""
    from core.heads import list_heads

    heads = remembered(("head_list", tv_key, _heads_folder_stamp()),
                       lambda: list_heads(tv_key=tv_key))
    if is_public():  # the cache is shared: a visitor lists only their own session's heads
        own = results.own_heads(tv_key)
        heads = [summary for summary in heads if summary.key in own]
    return heads


def load_head(key: str):
    """The cached head `key` (core.heads.TrainedHead), loaded once per process."""
    from core.heads import load_head_by_key

    return remembered(("head", key), lambda: load_head_by_key(key=key))


def active_head(tv_key: str) -> HeadRecord | None:
    """The active head on these transfer values. The first time a session looks at them it
    is restored from the heads cache: the link's `h` if it names a usable head on these
    values (else a warning), otherwise core's best_head (highest validation accuracy, never
    a degenerate one)."""
    if not results.head_resolved(tv_key):
        results.mark_head_resolved(tv_key)
        if results.head_record(tv_key) is None:
            key = _linked_head(tv_key)
            if key is None and not is_public():  # public: never another visitor's head
                from core.heads import best_head

                best = best_head(tv_key=tv_key)
                key = None if best is None else best.key
            if key is not None:
                results.store_head(tv_key, load_head(key), compare=False)
    return results.head_record(tv_key)


def _linked_head(tv_key: str) -> str | None:
    """The link's head key when it names a usable head on these values (else warned)."""
    return _linked_key(url.URL_HEAD, heads_on(tv_key),
                       missing="no head with this key was trained on these transfer values "
                               "(deleted, or another cache)")


def _linked_key(name: str, summaries: list, *, missing: str, instead: str = "") -> str | None:
    """The link's `name=` head key when it is among `summaries` (core.heads.HeadSummary)
    and not degenerate, taken once; else None, and a note saying so (`missing`) and what is
    shown `instead`."""
    key = url.take_url(name)
    if key is None:
        return None
    found = {summary.key: summary for summary in summaries}
    if key not in found:
        url.reject_url(name, key, missing + instead)
        return None
    if found[key].degenerate:
        url.reject_url(name, key, f"this head is degenerate: {found[key].degenerate}" + instead)
        return None
    return key


def crossfit_head(tv_key: str) -> HeadRecord | None:
    """A head on these values whose train probabilities are out-of-fold (for label issues):
    the active head when it was cross-fitted, else one cross-fitted in this session, else
    the best cross-fitted one in the cache."""
    active = active_head(tv_key)
    if active is not None and active.head.cross_fit_folds >= 2:
        return active
    record = results.crossfit_head(tv_key)
    if record is None and not is_public():  # public: never another visitor's head
        cached = [s for s in heads_on(tv_key) if s.cross_fit_folds >= 2 and not s.degenerate]
        if cached:
            best = max(cached, key=lambda s: (s.val_accuracy or 0.0, s.created))
            record = results.store_crossfit_head(tv_key, load_head(best.key))
    return record


def make_head_active(tv_key: str, key: str) -> None:
    """Use the cached head `key` from now on (an on_click callback)."""
    results.store_head(tv_key, load_head(key))


def delete_head(tv_key: str, key: str) -> None:
    """Delete the cached head `key` (an on_click callback, after the confirmation). When it
    was the active one, the best remaining head becomes active."""
    was_active = results.active_head_key(tv_key) == key
    _remove_head(tv_key, key)
    results.drop_head(tv_key, key)
    if was_active:
        record = active_head(tv_key)
        results.notify_head(tv_key, "info", _deleted("the active head") + "; " + (
            f"the best remaining one ({record.head.head}) is active now." if record is not None
            else "no other head is left on these transfer values."))
    else:
        results.notify_head(tv_key, "info", _deleted("the head") + ".")


def _remove_head(tv_key: str, key: str) -> None:
    """Delete the cached head `key`; in a public app hide it from this visitor's list (the
    shared cache keeps it: core refuses the deletion)."""
    from core.heads import delete_head as delete

    if is_public():
        results.forget_own_head(tv_key, key)
    else:
        delete(key=key)
        memo().discard((root(), "head", key))
    cache.cache_overview.clear()


def _deleted(what: str) -> str:
    if is_public():
        return f"Removed {what} from your list (the shared cache keeps it for other visitors)"
    return f"Deleted {what}"


def compare_heads(tv, key_a: str, key_b: str) -> dict:
    """core.heads.compare_heads for two cached heads on `tv` (their probabilities are read
    from the cache; no model is loaded)."""
    from types import SimpleNamespace

    from core.heads import compare_heads as compare
    from core.heads.history import summarize_head
    from core.heads.storage import read_probabilities

    def side(key: str):
        summary = summarize_head(key=key)
        probabilities = read_probabilities(summary.path)
        return SimpleNamespace(head=summary.head, key=key, params=summary.params,
                               metrics=summary.metrics, degenerate=summary.degenerate,
                               predictions=probabilities.argmax(axis=1))

    return remembered(("compare_heads", tv.key, key_a, key_b),
                      lambda: compare(side(key_a), side(key_b), tv=tv))


# --- regression heads on a numeric target (core.heads, task "regression") ---

def regression_heads_on(tv_key: str, target) -> list:
    """Cached regression heads on these values for exactly this target's values, newest
    first (core.heads.HeadSummary)."""
    from core.heads import list_heads

    heads = remembered(("regression_head_list", tv_key, _heads_folder_stamp()),
                       lambda: list_heads(tv_key=tv_key, task="regression"))
    heads = [s for s in heads if s.target_key == target.key]
    if is_public():
        own = results.own_heads(tv_key)
        heads = [s for s in heads if s.key in own]
    return heads


def regression_head(tv_key: str, target) -> HeadRecord | None:
    """The regression head shown for `target` (core.datasets.targets.Target): this
    session's, else the link's `rh` if it names a usable one on exactly these target values
    (else a note), else the cached one with the best validation R² (not in a public app)."""
    record = results.regression_head(tv_key, target.key)
    if record is not None:
        return record
    key = _linked_key(url.URL_REGRESSION_HEAD, regression_heads_on(tv_key, target),
                      missing="no regression head on this target has this key here",
                      instead="; none is shown" if is_public() else "; the best one is shown")
    if key is None and not is_public():
        from core.heads import best_head

        best = best_head(tv_key=tv_key, target=target)
        key = None if best is None else best.key
    if key is not None:
        record = results.store_regression_head(tv_key, target.key, load_head(key))
    return record


def show_regression_head(tv_key: str, target_key: str, key: str) -> None:
    """Show the cached regression head `key` for this target (an on_click callback)."""
    results.store_regression_head(tv_key, target_key, load_head(key))


def delete_regression_head(tv_key: str, target_key: str, key: str) -> None:
    """Delete the cached regression head `key` (hide it in a public app; an on_click
    callback, after the confirmation); the best remaining one on the target is shown next."""
    _remove_head(tv_key, key)
    results.drop_regression_head(tv_key, target_key, key)
    results.notify_head(tv_key, "info", _deleted("the head") + ".")
