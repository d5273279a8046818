"""Corrected transfer values: the same features with the overlay's labels, excluded samples
left out. Nothing is re-extracted (labels do not change features); the key folds in the
corrections' hash, so heads, evaluations and quality reports on corrected labels are cached
apart from the uncorrected ones, which stay cached."""

from __future__ import annotations

import dataclasses

import numpy as np

from core.base.hashing import hash_key
from core.corrections.overlay import Corrections, CorrectionsError
from core.features.transfer_values import TransferValues

APPLY_VERSION = 1


def corrected_key(*, tv_key: str, content_hash: str) -> str:
    """The key of `tv_key`'s values under corrections with `content_hash` ("": tv_key)."""
    if not content_hash:
        return tv_key
    return hash_key({"tv": tv_key, "corrections": content_hash, "version": APPLY_VERSION})


def corrected(tv: TransferValues, corrections: Corrections) -> TransferValues:
    """tv with the corrected labels and without the excluded samples (rows keep their order;
    `kept_rows(result)` maps them back to tv's rows). No corrections that change training:
    tv itself, so every cached result on it is found again."""
    if not np.array_equal(np.asarray(tv.sample_ids).astype(str), corrections.sample_ids):
        raise CorrectionsError("these corrections were opened on other transfer values "
                               "(sample ids differ); open them with open_corrections(tv=...)")
    content_hash = corrections.content_hash
    if not content_hash:
        return tv
    labels, kept = corrections.labels_and_kept()
    if not kept.any():
        raise CorrectionsError("every sample is excluded; undo some exclusions")
    rows = np.flatnonzero(kept)
    whole = bool(kept.all())
    values = tv.values if whole else np.asarray(tv.values[rows])  # only exclusions copy
    counts = corrections.counts()
    manifest = {**tv.manifest, "corrections": {
        "base_key": tv.key, "content_hash": content_hash, "namespace": corrections.namespace,
        "relabelled": counts["relabel"], "excluded": counts["exclude"],
        "kept_rows": None if whole else rows}}
    return dataclasses.replace(
        tv, values=values, labels=labels[rows], splits=np.asarray(tv.splits)[rows],
        sample_ids=np.asarray(tv.sample_ids)[rows],
        key=corrected_key(tv_key=tv.key, content_hash=content_hash), cache="hit",
        seconds=0.0, manifest=manifest, images_computed=0)


def kept_rows(tv: TransferValues) -> np.ndarray:
    """The rows of the uncorrected values that corrected values `tv` hold (all of them for
    uncorrected values)."""
    info = tv.manifest.get("corrections") or {}
    rows = info.get("kept_rows")
    return np.arange(tv.n) if rows is None else np.asarray(rows, dtype=np.int64)


def is_corrected(tv: TransferValues) -> bool:
    return bool(tv.manifest.get("corrections"))
