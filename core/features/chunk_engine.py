"""What an extraction engine is: something that turns the unfinished chunks of a resumable
extraction into transfer values, in any order.

`core.features.transfer_values` owns everything else — the cache key, the plan, the chunk
files, the manifest and the lock — so every engine writes the same entry. Engines:
`LocalEngine` (this process, the default) and `RayEngine` (Ray Data actors, optional).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np

from core.backbones.runtime import RuntimeChoice
from core.backbones.spec import BackboneSpec
from core.base.progress import ProgressTracker
from core.datasets.base import ImageDataset

DEFAULT_CHUNK = 2048  # images per resumable chunk in this process; a multiple of the batch size


@dataclass(frozen=True)
class ChunkTask:
    """Rows [start, stop) of the dataset, saved as chunk `index`."""

    index: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ExtractionJob:
    """Everything that decides the values: the same for every engine."""

    dataset: ImageDataset
    spec: BackboneSpec
    image_size: int
    dtype: str
    batch_size: int
    weights: str  # the key's weights id, checked again where the model is built
    runtime: RuntimeChoice = RuntimeChoice()  # what runs the forward pass (f32: any runtime)
    cache_dir: str | None = None  # where this process keeps converted models


class ChunkProgress:
    """The engine's side of the progress bar: count images, say what it is doing, and say
    when the set-up (model, workers) is over so the rate measures the work alone."""

    def __init__(self, tracker: ProgressTracker, *, done: int) -> None:
        self.tracker = tracker
        self.done = done
        self.runtime: RuntimeChoice | None = None  # what the engine ran, once it says

    def ran(self, runtime: RuntimeChoice, *, asked: RuntimeChoice) -> None:
        """The runtime the engine built instead of `asked` (or the same): the progress line
        names it, and a fallback's note is said once."""
        self.runtime = runtime
        self.tracker.stage = self.tracker.stage.replace(asked.label, runtime.label)
        if runtime.note:
            self.note(runtime.note)

    def note(self, message: str) -> None:
        self.tracker.update(self.done, message)

    def started(self) -> None:
        self.tracker.restart_clock(self.done)

    def advance(self, images: int, message: str = "") -> None:
        """Count finished images; the caller's callback may raise CancelledError here."""
        self.done += images
        self.tracker.update(self.done, message)


class ChunkEngine(Protocol):
    name: str
    default_chunk: int  # images per chunk when a run starts (a resumed run keeps its own)

    def chunks(self, *, job: ExtractionJob, todo: list[ChunkTask],
               progress: ChunkProgress) -> Iterator[tuple[int, np.ndarray]]:
        """(chunk index, values of dtype job.dtype) for every task in `todo`, as each
        finishes. Closing the iterator early (cancel, error) must stop the work."""
