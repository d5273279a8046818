"""The heads trained on a set of transfer values, as the heads cache holds them: listed from
their manifests (no weights read, no TensorFlow), the best one picked, one loaded or deleted
by key. Every `train_head` call with caching on adds to it, so it survives reloads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from core.base.cache import ArrayCache
from core.base.errors import TransferLensError
from core.heads.degenerate import is_degenerate
from core.heads.registry import HEADS
from core.heads.storage import read_manifest
from core.heads.trained import TrainedHead, load_head
from core.heads.training import CACHE_KIND

_KEY = re.compile(r"^[A-Za-z0-9_-]+$")  # a cache key, never a path


@dataclass
class HeadSummary:
    """One cached head, from its manifest."""

    key: str
    head: str
    title: str
    tv_key: Optional[str]
    params: dict[str, Any]
    seed: int
    cross_fit_folds: int
    val_accuracy: Optional[float]
    test_accuracy: Optional[float]
    chance_accuracy: Optional[float]
    train_seconds: Optional[float]
    created: str
    path: Path
    degenerate: Optional[str]  # why it is not worth keeping (core.heads.degenerate), or None
    fine_tunes_backbone: bool
    metrics: dict[str, Any] = field(repr=False, default_factory=dict)
    task: str = "classification"
    target: Optional[str] = None  # a regression head's target, its values hashed in target_key
    target_key: Optional[str] = None
    val_r2: Optional[float] = None
    test_r2: Optional[float] = None

    def fields(self) -> dict[str, Any]:
        """Plain data for a table or JSON (without the full metrics)."""
        return {name: (str(value) if isinstance(value, Path) else value)
                for name, value in vars(self).items() if name != "metrics"}


def _cache(cache_dir) -> ArrayCache:
    return ArrayCache(kind=CACHE_KIND, root=cache_dir)


def _summary(path: Path) -> HeadSummary:
    manifest = read_manifest(path)
    metrics = manifest.get("metrics") or {}
    cls = HEADS.get(manifest["head"])
    return HeadSummary(
        key=path.name, head=manifest["head"], title=(cls.title if cls else "") or manifest["head"],
        tv_key=manifest.get("tv_key"), params=manifest.get("params", {}),
        seed=int(manifest.get("seed", 0)), cross_fit_folds=int(manifest.get("cross_fit_folds", 0)),
        val_accuracy=metrics.get("val_accuracy"), test_accuracy=metrics.get("test_accuracy"),
        chance_accuracy=metrics.get("chance_accuracy"), train_seconds=metrics.get("train_seconds"),
        created=manifest.get("created", ""), path=path,
        degenerate=is_degenerate(metrics, history=manifest.get("history", ())),
        fine_tunes_backbone=bool(cls and cls.fine_tunes_backbone), metrics=metrics,
        task=manifest.get("task", "classification"), target=manifest.get("target"),
        target_key=manifest.get("target_key"), val_r2=metrics.get("val_r2"),
        test_r2=metrics.get("test_r2"))


def list_heads(*, tv_key: str | None = None, cache_dir: str | Path | None = None,
               task: str | None = "classification") -> list[HeadSummary]:
    """The cached heads on the transfer values `tv_key` (None: all), newest first; of one
    task ("classification", the default, as before regression heads existed, or
    "regression"; None: every head). Unreadable entries are skipped."""
    cache = _cache(cache_dir)
    summaries = []
    for key in cache.keys():
        try:
            summary = _summary(cache.entry_path(key))
        except (TransferLensError, KeyError, TypeError, ValueError):
            continue
        if (tv_key is None or summary.tv_key == tv_key) and (task is None
                                                              or summary.task == task):
            summaries.append(summary)
    return sorted(summaries, key=lambda s: s.created, reverse=True)


def _rank(summary: HeadSummary) -> tuple:
    missing = float("-inf")
    if summary.task == "regression":
        return (summary.val_r2 if summary.val_r2 is not None else missing,
                summary.test_r2 if summary.test_r2 is not None else missing, summary.created)
    return (summary.val_accuracy if summary.val_accuracy is not None else missing,
            summary.test_accuracy if summary.test_accuracy is not None else missing,
            summary.created)


def best_head(*, tv_key: str, cache_dir: str | Path | None = None,
              fine_tunes_backbone: bool | None = None, target=None) -> HeadSummary | None:
    """The non-degenerate head with the highest validation accuracy (ties: test accuracy,
    then the newest); optionally only heads that do (True) or do not (False) fine-tune the
    backbone. With `target` (a `core.datasets.targets.Target`): the regression head on
    exactly that target's values with the highest validation R². None when there is none."""
    task = "classification" if target is None else "regression"
    candidates = [s for s in list_heads(tv_key=tv_key, cache_dir=cache_dir, task=task)
                  if s.degenerate is None and (fine_tunes_backbone is None
                                               or s.fine_tunes_backbone == fine_tunes_backbone)
                  and (target is None or s.target_key == target.key)]
    return max(candidates, key=_rank, default=None)


def head_path(*, key: str, cache_dir: str | Path | None = None) -> Path:
    """The folder of the cached head `key` (TransferLensError when there is none)."""
    if not _KEY.match(key or ""):
        raise TransferLensError(f"'{key}' is not a head key (see `python -m core heads`).")
    cache = _cache(cache_dir)
    if not cache.exists(key):
        raise TransferLensError(f"No saved head with key {key} in {cache.dir}.")
    return cache.entry_path(key)


def summarize_head(*, key: str, cache_dir: str | Path | None = None) -> HeadSummary:
    return _summary(head_path(key=key, cache_dir=cache_dir))


def load_head_by_key(*, key: str, cache_dir: str | Path | None = None) -> TrainedHead:
    """The cached head `key`, ready to predict (Keras heads load TensorFlow)."""
    return load_head(head_path(key=key, cache_dir=cache_dir))


def delete_head(*, key: str, cache_dir: str | Path | None = None) -> None:
    """Remove the cached head `key` (TransferLensError when there is none). Refused in a
    public app: its cache is shared, and one visitor must not delete another's head."""
    from core.base.public import refuse_if_public

    refuse_if_public("Deleting a head from the shared cache",
                     why="every visitor's heads live in one cache")
    head_path(key=key, cache_dir=cache_dir)
    _cache(cache_dir).remove(key)
