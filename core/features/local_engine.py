"""The default extraction engine: chunks one after another in this process."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from core.features.chunk_engine import DEFAULT_CHUNK, ChunkProgress, ChunkTask, ExtractionJob


class LocalEngine:
    """Runs the backbone here, batch by batch (`core.features.extractor`)."""

    name = "local"
    default_chunk = DEFAULT_CHUNK

    def chunks(self, *, job: ExtractionJob, todo: list[ChunkTask],
               progress: ChunkProgress) -> Iterator[tuple[int, np.ndarray]]:
        from core.base import timeline
        from core.features.extractor import FeatureExtractor

        progress.note("loading the backbone")
        extractor = FeatureExtractor.for_backbone(spec=job.spec, image_size=job.image_size,
                                                  runtime=job.runtime, cache_dir=job.cache_dir)
        timeline.mark("model")  # built, or converted (or found converted) and loaded
        progress.ran(extractor.runtime, asked=job.runtime)
        progress.started()
        for task in todo:
            parts = []
            for batch in extractor.run(dataset=job.dataset, indices=np.arange(task.start, task.stop),
                                       batch_size=job.batch_size,
                                       crop_fraction=job.dataset.crop_fraction):
                parts.append(batch.astype(job.dtype))
                progress.advance(len(batch))
            yield task.index, np.concatenate(parts)
