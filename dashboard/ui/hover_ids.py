"""The hover's name for a point on a map: its sample id, the name galleries, CSVs and
Inspect show, sent without a string per point where the ids allow it."""

from __future__ import annotations

import re

import numpy as np

from dashboard.ui.figures import escape

# a trace splits into at most this many id patterns (text + number + text); beyond, its ids
# go as strings (one trace per pattern: a folder of arbitrary file names would make thousands)
MAX_ID_PATTERNS = 8
_ID_NUMBER = re.compile(r"^(.*?)(\d{1,9})(\D*)$")  # up to 9 digits: fits a uint32

ID_SLOT = "{id}"  # where a hover template names the point: filled in by `hover_ids`


def hover_ids(rows: np.ndarray, sample_ids: np.ndarray,
              template: str) -> list[tuple[np.ndarray, dict]]:
    """Split `rows` into traces whose hover names each point by its sample id: a list of
    (rows, trace keywords: customdata, hovertemplate and, for irregular ids, text).

    customdata[0] is always the row (the selection maps back through it). Ids of one
    pattern, a fixed text around a number (`train/00024`), carry the number as
    customdata[1] and the template writes the text around it: 2–4 bytes a point instead of
    a string. Ids that fit no pattern, or a set with more than MAX_ID_PATTERNS patterns, go
    as strings in `text`. Either way the hover shows exactly the id, as galleries and
    Inspect do.
    """
    rows = np.asarray(rows, dtype=np.int64)
    ids = np.asarray(sample_ids)[rows].astype(str)
    if not len(rows):
        return []
    groups = _id_patterns(ids)
    if groups is None:
        return [(rows, {"customdata": rows.astype(_index_dtype(rows)),
                        "text": [escape(t) for t in ids],
                        "hovertemplate": template.replace(ID_SLOT, "%{text}")})]
    parts = []
    for (head, width, tail), (positions, numbers) in groups.items():
        # width 0: numbers as they are; else zero-padded to that many digits
        number = f"%{{customdata[1]:0{width}d}}" if width > 1 else "%{customdata[1]}"
        data = np.column_stack([rows[positions], numbers])
        parts.append((rows[positions], {
            "customdata": data.astype(_index_dtype(data)),
            "hovertemplate": template.replace(ID_SLOT, escape(head) + number + escape(tail))}))
    return parts


def _id_patterns(ids: np.ndarray) -> dict | None:
    """{(text before, width, text after): (positions, numbers)} with `width` 0 for unpadded
    numbers, or None when an id has no number or there are over MAX_ID_PATTERNS patterns."""
    split: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for position, text in enumerate(ids):
        match = _ID_NUMBER.match(text)
        if match is None:
            return None
        head, digits, tail = match.groups()
        split.setdefault((head, tail), []).append((position, digits))
        if len(split) > MAX_ID_PATTERNS:
            return None
    groups: dict = {}
    for (head, tail), members in split.items():
        lengths = {len(d) for _, d in members}
        padded = {len(d) for _, d in members if len(d) > 1 and d[0] == "0"}
        for position, digits in members:
            # one format for the pair when it can write every number back exactly
            width = (0 if not padded else next(iter(padded)) if lengths == padded
                     else len(digits))
            entry = groups.setdefault((head, width, tail), ([], []))
            entry[0].append(position)
            entry[1].append(int(digits))
        if len(groups) > MAX_ID_PATTERNS:
            return None
    return {key: (np.asarray(positions), np.asarray(numbers, dtype=np.int64))
            for key, (positions, numbers) in groups.items()}


def _index_dtype(values: np.ndarray) -> type:
    """uint16 when every value fits (half the bytes on the wire), else uint32."""
    return np.uint16 if int(np.max(values, initial=0)) <= np.iinfo(np.uint16).max else np.uint32
