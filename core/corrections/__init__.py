"""Corrections: relabel or exclude samples in an overlay beside the dataset's cache entries
(never the user's files), apply it to transfer values without re-extracting, retrain and
compare before/after, and export the cleaned dataset.

- `overlay`: the records, their storage (JSON lines, atomic), undo, bounds, content hash.
- `apply`: `corrected(tv, overlay)` → TransferValues with corrected labels and its own key.
- `compare`: `retrain_and_compare` → `CorrectionComparison` (before/after on test).
- `export`: the corrections file, a `path,label` CSV, a class-folder zip or folder.
"""

from core.corrections.apply import corrected, corrected_key, is_corrected, kept_rows
from core.corrections.compare import CorrectionComparison, retrain_and_compare
from core.corrections.overlay import (ACTIONS, DEFAULT_NAMESPACE, MAX_RECORDS, REASONS,
                                      Correction, Corrections, CorrectionsError,
                                      corrections_from_file, corrections_path,
                                      dataset_id_of, open_corrections,
                                      read_corrections_file, record_limit)

__all__ = ["ACTIONS", "DEFAULT_NAMESPACE", "MAX_RECORDS", "REASONS", "Correction",
           "CorrectionComparison", "Corrections", "CorrectionsError", "corrected",
           "corrected_key", "corrections_from_file", "corrections_path", "dataset_id_of",
           "is_corrected", "kept_rows", "open_corrections", "read_corrections_file", "record_limit", "retrain_and_compare"]
