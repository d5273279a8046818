"""What every view works on: the embedded dataset and its transfer values, from the
sidebar's settings or from a published bundle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.background import BackgroundJob
from core.base.errors import ParameterError, TransferLensError
from core.datasets.base import ImageDataset
from dashboard.services.analysis import build_knn_in_background, graph_worth_building
from dashboard.services.bundles import BUNDLE_PREFIX, bundles, published
from dashboard.services.datasets import full_dataset, limited_dataset
from dashboard.services.extraction import (ExtractionWatch, Settings, running_extraction,
                                           transfer_values, tv_key, values_ready)
from dashboard.services.heads import active_head, regression_head
from dashboard.services.memo import remembered
from dashboard.services.public import visible
from dashboard import state
from dashboard.state import results, session, url
from dashboard.state.results import HeadRecord


@dataclass
class Workspace:
    """What every view works on: the embedded dataset and its transfer values."""

    settings: Settings
    dataset: ImageDataset  # the embedded subset, aligned row-for-row with tv
    total: int  # images in the whole dataset
    tv: Any  # core.features.transfer_values.TransferValues
    # set when the views show a fine-tuned backbone's values: the fine-tuning
    # (core.finetune.evaluate.FineTuned) whose `after` is `tv`
    finetuned: Any = None
    # set when the workspace was opened from a published bundle (core.publish.Bundle):
    # its projections, kNN graph, head and label issues are served from the bundle
    bundle: Any = None
    # set while the sidebar's settings are being embedded in the background and the views
    # show the previous workspace meanwhile (PendingExtraction)
    pending: Any = None

    @property
    def fine_tuned_view(self) -> bool:
        return self.finetuned is not None and self.tv is self.finetuned.after

    @property
    def values_backbone(self) -> str:
        """The backbone that turns an image into `tv`'s kind of values (for new images)."""
        return self.finetuned.result.backbone_name if self.fine_tuned_view else \
            self.settings.backbone

    @property
    def head(self) -> HeadRecord | None:
        """The active head on exactly these transfer values, if any (see active_head)."""
        return active_head(self.tv.key)

    @property
    def regression_head(self) -> HeadRecord | None:
        """The chosen target's regression head (see heads.regression_head), None when the
        views work on the classes."""
        target = self.target
        return None if target is None else regression_head(self.tv.key, target)

    @property
    def view_head(self) -> HeadRecord | None:
        """The head the views use: the chosen target's regression head, else the active
        classification head."""
        return self.head if self.target is None else self.regression_head

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.tv.class_names

    @property
    def target(self):
        """The chosen numeric target (core.datasets.targets.Target) of tv's samples, or
        None when the views work on the classes."""
        name = self.settings.target
        if name is None or self.bundle is not None:
            return None
        return remembered(("target", self.tv.key, name), lambda: self.dataset.target(name))

    def describe(self) -> str:
        s = self.settings
        count = (f"{self.tv.n:,} images" if self.tv.n == self.total
                 else f"{self.tv.n:,} of {self.total:,} images")
        backbone = f"**{s.backbone}**" + (" **fine-tuned**" if self.fine_tuned_view else "")
        if self.bundle is not None:
            backbone += " (precomputed)"
        target = f" · target **{s.target}**" if s.target and self.bundle is None else ""
        return (f"**{s.dataset_label}** · {count} · {len(self.class_names)} classes{target} · "
                f"{backbone} at {s.image_size} px → {self.tv.dim:,}-d transfer values")


@dataclass(frozen=True)
class PendingExtraction:
    """Transfer values being extracted in the background while the views show others."""

    settings: Settings
    key: str  # of the transfer values being extracted
    job: BackgroundJob
    images: int

    def describe(self) -> str:
        s = self.settings
        return (f"{s.dataset_label} · {self.images:,} images · {s.backbone} at "
                f"{s.image_size} px")


def workspace(settings: Settings, *, watch: ExtractionWatch) -> Workspace | None:
    """The workspace for the settings; None while the user has paused extraction.

    When these settings' transfer values must be extracted and the session has shown
    other values before, the extraction runs in the background and the previous workspace
    is returned meanwhile, with `pending` saying what is being embedded. `watch` shows an
    extraction waited for (dashboard.ui.extraction)."""
    previous = session.ready_settings()
    fallback = (previous is not None and previous != settings and values_ready(previous)
                and _images_there(previous))
    tv = transfer_values(settings, watch=watch, wait=not fallback)
    if tv is None:
        # paused: the job ends at its next batch; the note with Resume shows, not its progress
        paused = session.extraction_paused(tv_key(settings)) is not None
        job = running_extraction(settings) if fallback and not paused else None
        if job is None:
            return None
        ws = _open_workspace(previous, transfer_values(previous, watch=watch))
        ws.pending = PendingExtraction(settings=settings, key=tv_key(settings), job=job,
                                       images=len(limited_dataset(settings.dataset,
                                                                  settings.limit)))
        return ws
    session.set_ready_settings(settings)
    return _open_workspace(settings, tv)


def _images_there(settings: Settings) -> bool:
    """False when the settings' dataset was an upload that has since been removed (replaced
    by a new upload, or pruned): its images cannot be shown while the new values embed."""
    folder = Path(settings.dataset)
    return not folder.is_absolute() or folder.is_dir()


def _open_workspace(settings: Settings, tv) -> Workspace:
    dataset = limited_dataset(settings.dataset, settings.limit)
    done = results.finetuned(tv.key) or _linked_fine_tuning(
        dataset=dataset, backbone=settings.backbone, tv_key=tv.key)
    _linked_space(fine_tuned=done is not None)
    if done is not None and state.fine_tuned_space():
        tv = done.after
    if graph_worth_building(tv):  # else it would slow every view while it builds
        build_knn_in_background(tv)
    return Workspace(settings=settings, dataset=dataset,
                     total=len(full_dataset(settings.dataset)), tv=tv, finetuned=done)


def _linked_fine_tuning(*, dataset, backbone: str, tv_key: str):
    """The link's `ft=`, taken once: that finished fine-tuning of `backbone` on these images,
    read from the cache (core.finetune.evaluate.load_fine_tuned) and kept as this session's
    on the original values `tv_key`; None without one, or when it cannot be used (a note)."""
    key = url.take_url(url.URL_FINETUNE)
    if key is None:
        return None
    from core.finetune.evaluate import load_fine_tuned

    try:
        done = load_fine_tuned(key=key, dataset=dataset, backbone=backbone)
        if done.before.key != tv_key:
            raise ParameterError("this fine-tuning ended at another input size")
    except TransferLensError as error:
        url.reject_url(url.URL_FINETUNE, key,
                       f"{visible(str(error))}; the original backbone alone is shown")
        return None
    results.store_finetuned(tv_key, done)
    return done


def _linked_space(*, fine_tuned: bool) -> None:
    """The link's `space=`, taken once, as the sidebar's feature space: the fine-tuned
    backbone's values when there is a fine-tuning to show (`fine_tuned`, the link's `ft=`
    brings one), else a note and the original values (core.finetune.config checks it)."""
    value = url.take_url(url.URL_SPACE)
    if value is None:
        return
    from core.finetune.config import linked_feature_space

    try:
        fine = linked_feature_space(value, fine_tuned=fine_tuned)
    except ParameterError as error:
        url.reject_url(url.URL_SPACE, value, f"{error}; the original is shown")
        return
    state.put(state.FEATURE_SPACE_KEY, state.FINE_TUNED if fine else state.ORIGINAL)


def bundle_workspace(source: str) -> Workspace:
    """The workspace of a published bundle: values, thumbnails, projections, kNN graph,
    head and label issues all read from its files. Only names found by `bundles()` open
    (never a path from the session), so a forged choice cannot reach the disk."""
    info = bundles().get(source)
    if info is None:
        raise TransferLensError(
            f"No published bundle {source.removeprefix(BUNDLE_PREFIX)!r} here. Fix: choose "
            "one in the sidebar, or publish it with `python -m core publish --out demo/NAME`.")
    bundle, dataset, tv = published(info["path"])
    settings = Settings(dataset=source, dataset_label=info["label"],
                        backbone=bundle.manifest["backbone"],
                        image_size=int(bundle.manifest["image_size"]), limit=None)
    if results.head_record(tv.key) is None:
        results.store_head(tv.key, bundle.head)  # the published head, until the user trains one
    if results.crossfit_head(tv.key) is None:
        results.store_crossfit_head(tv.key, bundle.head)  # quality_report() serves the bundle's
    if session.tv_status(tv.key) is None:
        session.record_tv_status(tv.key, "bundle", 0.0)
    return Workspace(settings=settings, dataset=dataset, total=bundle.n, tv=tv, bundle=bundle)
