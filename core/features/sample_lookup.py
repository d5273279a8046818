"""One name per image: a sample's id (e.g. `train/00024`, or a file's path in its folder),
the name every view, CSV and export shows. `sample_index` turns what a person types back
into a row, accepting `#123` (a row index) only as a fallback."""

from __future__ import annotations

import numpy as np

from core.base.errors import ParameterError
from core.base.params import whole_number

MAX_ID_CHARS = 512  # longer than any id a dataset makes (paths are capped at 1,024 bytes)


def sample_index(sample_ids: np.ndarray, text: str) -> int:
    """The row whose sample id is `text` (surrounding spaces ignored), or `#N` / `N` as a
    row index when no id is that text. Raises ParameterError naming the text and the fix."""
    text = str(text).strip()
    if not text or len(text) > MAX_ID_CHARS:
        raise ParameterError(f"a sample id is 1–{MAX_ID_CHARS} characters, got {len(text)}. "
                             "Fix: type an id as shown under an image, e.g. "
                             f"{sample_ids[0]}")
    rows = np.flatnonzero(np.asarray(sample_ids).astype(str) == text)
    if len(rows):
        return int(rows[0])
    index = whole_number(text[1:] if text.startswith("#") else text, max_digits=MAX_ID_CHARS)
    if index is not None:
        if index < len(sample_ids):
            return index
        raise ParameterError(f"index {index:,} is past the last image ({len(sample_ids) - 1:,}). "
                             f"Fix: an index from 0 to {len(sample_ids) - 1:,}, or a sample id")
    raise ParameterError(f"no image here has the id “{text}”. Fix: type an id as shown under "
                         f"an image (e.g. {sample_ids[0]}), or #N for the N-th image")
