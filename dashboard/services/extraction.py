"""Transfer values for the sidebar's settings: memo, disk cache, else one background
extraction per set of values for the whole server (core.base.background)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.backbones.runtime import RUNTIME_DEFAULTS
from core.base.background import BackgroundJob, JobBoard
from core.base.paths import cache_root
from core.datasets.base import ImageDataset
from dashboard.services import allocator, cache
from dashboard.services.datasets import limited_dataset
from dashboard.services.memo import memo, root
from dashboard.state import session


@dataclass(frozen=True)
class Settings:
    """Everything in the sidebar that the transfer values depend on."""

    dataset: str  # a built-in name or a folder path
    dataset_label: str
    backbone: str
    image_size: int
    limit: int | None  # None: the whole dataset
    # a numeric target's name, None: the classes (not part of the transfer values' key, so
    # switching it never re-embeds)
    target: str | None = None
    # what runs the forward pass (core.backbones.runtime); f32 runtimes share one key
    runtime: str = RUNTIME_DEFAULTS["runtime"]
    precision: str = RUNTIME_DEFAULTS["precision"]


class ExtractionWatch(Protocol):
    """What the ui layer shows while values are extracted (dashboard.ui.extraction)."""

    def wait(self, job: BackgroundJob, settings: Settings, dataset: ImageDataset,
             key: str) -> None:
        """Progress of the running job (with Stop) until it is done."""

    def paused(self, why: str, n: int, kept: int) -> None:
        """The user paused this extraction (session.STOPPED) or cleared the cache
        (session.CLEARED): say so, with the `kept` of `n` images a resume starts from, and
        offer to resume."""


def tv_key(settings: Settings) -> str:
    """The cache key of the settings' transfer values (no extraction, no file read)."""
    from core.features.transfer_values import transfer_values_key

    dataset = limited_dataset(settings.dataset, settings.limit)
    return transfer_values_key(dataset=dataset, backbone=settings.backbone,
                               image_size=settings.image_size, precision=settings.precision)


def transfer_values(settings: Settings, *, watch: ExtractionWatch, wait: bool = True):
    """Transfer values for the settings: memo, then disk cache, else extracted in the
    background (core.base.background) with `watch` showing its progress. `wait`: until they
    are ready; otherwise return None at once while the extraction runs (the caller shows
    the previous workspace meanwhile). None also while the user has paused this
    extraction."""
    from core.features.transfer_values import kept_images, load_transfer_values

    dataset = limited_dataset(settings.dataset, settings.limit)
    key = tv_key(settings)
    cached = memo().get((root(), "tv", key))
    if cached is not None:
        return cached
    tv, finished = None, _extractions.get(key)
    if finished is not None and finished.done:  # extracted in the background since
        tv = _collect_extraction(finished, key)
        if tv is not None:
            session.record_tv_status(key, "miss", tv.seconds)
            cache.cache_overview.clear()
    tv = tv or load_transfer_values(key=key)
    if tv is None:
        if (why := session.extraction_paused(key)) is not None:
            _extractions.release(key, session.session_token())
            watch.paused(why, len(dataset), kept_images(key=key))
            return None
        job = _extraction_job(settings, dataset, key)
        if not job.done and not wait:
            return None
        if not job.done:
            watch.wait(job, settings, dataset, key)
        tv = _collect_extraction(job, key)
        if tv is None:  # stopped by everyone else just as this session asked again
            return transfer_values(settings, watch=watch, wait=wait)
        session.record_tv_status(key, "miss", tv.seconds)
        cache.cache_overview.clear()
    return memo().put((root(), "tv", key), tv)


def stop_extraction(key: str) -> None:
    """Stop: this session pauses `key`'s extraction, and the job ends at its next batch
    even if other watchers (a closed tab) still hold it; finished chunks stay for Resume."""
    session.pause_extraction(key)
    _extractions.stop(key)


def values_ready(settings: Settings) -> bool:
    """These settings' transfer values open without extraction (memo or disk)."""
    from core.base.errors import TransferLensError
    from core.features.transfer_values import has_transfer_values

    try:
        key = tv_key(settings)
    except TransferLensError:  # e.g. a folder that has gone since
        return False
    return memo().get((root(), "tv", key)) is not None or has_transfer_values(key=key)


# One extraction per set of transfer values for the whole server: sessions asking for the
# same values share it, and a rerun of the script (any click) does not interrupt it.
_extractions = JobBoard()


def _extraction_job(settings: Settings, dataset: ImageDataset, key: str) -> BackgroundJob:
    """The running extraction of `key` (joined), or a new one; a session waits for one
    extraction at a time, so the one it asked for before is let go (it stops unless
    another session still waits for it)."""
    from core.features.extractor import release_run_memory
    from core.features.transfer_values import compute_transfer_values

    me = session.session_token()
    before = session.watch_extraction(key)
    if before is not None:
        _extractions.release(before, me)
    folder = str(cache_root())

    def work(progress):
        try:
            return compute_transfer_values(dataset=dataset, backbone=settings.backbone,
                                           image_size=settings.image_size, cache_dir=folder,
                                           progress=progress, runtime=settings.runtime,
                                           precision=settings.precision)
        finally:  # the server lives on: no runtime arena kept for the next visitor's job,
            release_run_memory()  # and the freed batches' pages go back now, not in 30 s
            allocator.trim()

    return _extractions.submit(key, name=f"embedding {len(dataset):,} images", work=work,
                               watcher=me)


def runtime_label(settings: Settings) -> str:
    """The runtime and precision an extraction with these settings starts on ("openvino
    f32"); the progress line then names what ran, after any fallback."""
    from core.backbones.runtime import resolve_runtime

    return resolve_runtime(runtime=settings.runtime, precision=settings.precision).label


def running_extraction(settings: Settings) -> BackgroundJob | None:
    """The background extraction for these settings, while it runs."""
    job = _extractions.get(tv_key(settings))
    return job if job is not None and not job.done else None


def _collect_extraction(job: BackgroundJob, key: str):
    """The finished job's values; its error (a clear message) if it failed; None if it was
    stopped for want of watchers (the caller asks again)."""
    _extractions.forget(key, job)
    session.unwatch_extraction(key)
    if job.error is None:
        return job.result
    if job.cancelled:
        return None
    raise job.error
