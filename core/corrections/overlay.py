"""Corrections: one overlay per dataset (and namespace) that relabels or excludes samples
without touching the user's files.

The overlay lives in the cache root, beside the dataset's cache entries, at
`corrections/<dataset fingerprint>/<namespace>.jsonl` — JSON lines, an open format:
the first line a header (format, version, dataset, class names), then one line per
correction record, then the undo stack (one line per step, oldest first). Every change
rewrites the file atomically (core.base.atomic), so a reader sees the old overlay or the new
one. `content_hash` hashes only what changes training (sample → label or excluded), so it
is stable across saves, reasons and times. A public visitor's overlay lies in their session's
own folder instead (`corrections_path`); every undo history is bounded by entries as well
as by steps (`_bounded_undo`).
"""

from __future__ import annotations

import fcntl
import json
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Optional, Sequence

import numpy as np

from core.base.atomic import atomic_write_bytes
from core.base.errors import TransferLensError
from core.base.hashing import hash_key
from core.base.paths import cache_root

FORMAT = "transfer-lens-corrections"
FORMAT_VERSION = 1
KIND = "corrections"  # the folder under the cache root
DEFAULT_NAMESPACE = "local"
REASONS = ("label_issue", "outlier", "duplicate", "manual")
ACTIONS = ("relabel", "exclude", "keep")  # keep: reviewed, label confirmed (changes nothing)
# the bound on records per overlay (a public visitor's namespace gets the public policy's
# `max_corrections`, see `record_limit`); undo keeps this many steps, holding at most
# UNDO_ENTRIES_PER_RECORD × that bound sample changes (a step holds one per sample it changed:
# "Relabel all" on 2,000 images, clicked 200 times, would otherwise keep 400,000 changes)
MAX_RECORDS = 50_000
MAX_UNDO_STEPS = 200
UNDO_ENTRIES_PER_RECORD = 2
MAX_FILE_BYTES = 64_000_000  # a corrections file read from outside (apply, load)
_NAMESPACE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CorrectionsError(TransferLensError):
    """A correction names an unknown sample or class, exceeds a bound, or a file is bad."""


@dataclass(frozen=True)
class Correction:
    """One sample's correction: `action` relabel (to class `label`), exclude or keep."""

    sample_id: str
    action: str
    label: Optional[str]  # the new class name (relabel only)
    reason: str
    source: str  # the view or tool it came from ("label_issues", "cli", "review", ...)
    when: str  # UTC, ISO 8601
    original: str  # the class name the dataset gives

    @property
    def changes_training(self) -> bool:
        return self.action != "keep"


def record_limit() -> int:
    """Records allowed per overlay: MAX_RECORDS, or the public policy's smaller bound."""
    from core.base.public import policy

    current = policy()
    return current.max_corrections if current.enabled else MAX_RECORDS


def _bounded_undo(steps: list[list[dict]], *, entries: int) -> list[list[dict]]:
    """The newest undo steps: at most MAX_UNDO_STEPS of them holding at most `entries` sample
    changes in all (the newest step is always kept), so the overlay file and the work of
    reading it on every run stay a small multiple of its records."""
    steps = steps[-MAX_UNDO_STEPS:]
    total = sum(len(step) for step in steps)
    while len(steps) > 1 and total > entries:
        total -= len(steps.pop(0))
    return steps


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def dataset_id_of(tv) -> str:
    """The content fingerprint of the dataset behind transfer values (imported arrays have
    none: their values' key stands in)."""
    fields = tv.manifest.get("key_fields", {})
    return str(fields.get("dataset") or tv.key)


class Corrections:
    """The overlay of one dataset in one namespace. Open it with `open_corrections`.

    Changes (relabel / exclude / keep / accept_suggestions / apply_records / remove) each
    take many ids at once, are validated whole before anything is written, and push one
    undo step; `undo()` reverts the last step, `undo_sample(id)` drops one sample's record
    (itself undoable)."""

    def __init__(self, *, path: Path | None, dataset: str, namespace: str, sample_ids: np.ndarray,
                 labels: np.ndarray, class_names: Sequence[str]) -> None:
        self.path = path
        self.dataset = dataset
        self.namespace = namespace
        self.class_names = tuple(str(c) for c in class_names)
        self._ids = np.asarray(sample_ids).astype(str)
        self._labels = np.asarray(labels, dtype=np.int64)
        self._row = {sample_id: i for i, sample_id in enumerate(self._ids)}
        if len(self._row) != len(self._ids):
            raise CorrectionsError("the dataset's sample ids are not unique; corrections need "
                                   "one id per sample")
        self.records: dict[str, Correction] = {}
        self.undo_stack: list[list[dict]] = []  # each step: [{"sample_id", "before"}, ...]
        if path is not None and path.is_file():
            self._read()

    @property
    def sample_ids(self) -> np.ndarray:
        """The dataset's sample ids, in row order (what the overlay validates against)."""
        return self._ids

    # --- reading and writing ---

    def _read(self) -> None:
        header, records, steps = read_corrections_file(self.path)
        if header.get("dataset") != self.dataset:
            raise CorrectionsError(f"{self.path} belongs to dataset {header.get('dataset')}, "
                                   f"not {self.dataset}. Fix: delete the file or open the "
                                   f"dataset it was made for.")
        self.records = {r.sample_id: r for r in records}
        self.undo_stack = steps

    def _header(self) -> dict:
        return {"format": FORMAT, "version": FORMAT_VERSION, "dataset": self.dataset,
                "namespace": self.namespace, "class_names": list(self.class_names),
                "content_hash": self.content_hash, "records": len(self.records)}

    def to_jsonl(self, *, with_undo: bool = True) -> bytes:
        """The overlay as JSON lines: the header, the records (sorted by sample id) and, with
        `with_undo`, the undo steps."""
        lines = [json.dumps({"type": "header", **self._header()})]
        lines += [json.dumps({"type": "record", **asdict(self.records[k])})
                  for k in sorted(self.records)]
        if with_undo:
            lines += [json.dumps({"type": "undo", "step": step}) for step in self.undo_stack]
        return ("\n".join(lines) + "\n").encode()

    def _save(self) -> None:
        if self.path is not None:  # None: a detached overlay, held in memory only
            atomic_write_bytes(self.path, self.to_jsonl())

    # --- what it says ---

    @property
    def content_hash(self) -> str:
        """A hash of sample → new label / excluded, the part that changes training ("" when
        nothing does): the same corrections give the same hash whenever they were made."""
        effective = sorted((k, r.action, r.label) for k, r in self.records.items()
                           if r.changes_training)
        return hash_key({"corrections": effective}) if effective else ""

    def __len__(self) -> int:
        return len(self.records)

    def counts(self) -> dict[str, int]:
        """Records per action, and how many undo steps there are."""
        found = {action: 0 for action in ACTIONS}
        for record in self.records.values():
            found[record.action] += 1
        return {**found, "total": len(self.records), "undo_steps": len(self.undo_stack)}

    def labels_and_kept(self) -> tuple[np.ndarray, np.ndarray]:
        """(corrected labels, mask of kept samples), in the dataset's row order."""
        labels = self._labels.copy()
        kept = np.ones(len(labels), dtype=bool)
        index = {name: i for i, name in enumerate(self.class_names)}
        for sample_id, record in self.records.items():
            row = self._row[sample_id]
            if record.action == "relabel":
                labels[row] = index[record.label]
            elif record.action == "exclude":
                kept[row] = False
        return labels, kept

    def status(self, sample_ids: Sequence) -> np.ndarray:
        """Per sample id its record's action (relabel, exclude, keep) or "" (none): badges in
        a gallery, a review queue's reviewed/changed/left counts."""
        return np.array([self.records[str(k)].action if str(k) in self.records else ""
                         for k in sample_ids], dtype=object)

    def rows(self, *, actions: Iterable[str] = ("relabel", "exclude")) -> np.ndarray:
        """Dataset rows of the records with these actions, ascending."""
        wanted = set(actions)
        return np.array(sorted(self._row[k] for k, r in self.records.items()
                               if r.action in wanted), dtype=np.int64)

    def table(self):
        """Every record as a DataFrame (row, sample_id, action, label, original, reason,
        source, when), by dataset row."""
        import pandas as pd

        columns = ["row", "sample_id", "action", "label", "original", "reason", "source", "when"]
        rows = [{"row": self._row[k], **asdict(r)} for k, r in self.records.items()]
        frame = pd.DataFrame(rows, columns=columns)
        return frame.sort_values("row", kind="stable").reset_index(drop=True)

    # --- validation ---

    def _check_ids(self, sample_ids: Iterable) -> list[str]:
        ids = [str(s) for s in sample_ids]
        unknown = [s for s in ids if s not in self._row]
        if unknown:
            shown = ", ".join(repr(s) for s in unknown[:5])
            raise CorrectionsError(f"{len(unknown)} sample id(s) are not in dataset "
                                   f"{self.dataset}: {shown}{' …' if len(unknown) > 5 else ''}. "
                                   f"Fix: use the ids `python -m core corrections list` or the "
                                   f"quality report shows.")
        if len(set(ids)) != len(ids):
            raise CorrectionsError("a sample id appears twice in one change; give each once")
        return ids

    def _check_class(self, label) -> str:
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if 0 <= int(label) < len(self.class_names):
                return self.class_names[int(label)]
        elif str(label) in self.class_names:
            return str(label)
        raise CorrectionsError(f"unknown class {label!r}; the classes are: "
                               f"{', '.join(self.class_names)}")

    @staticmethod
    def _check_reason(reason: str) -> str:
        if reason not in REASONS:
            raise CorrectionsError(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
        return reason

    # --- changes ---

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the overlay's inter-process lock and start from what is on disk: two tabs
        (or processes) on one namespace add to each other's changes, never erase them."""
        if self.path is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                if self.path.is_file():
                    self._read()
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _change(self, new: Mapping[str, Optional[Correction]]) -> int:
        """Set (a Correction) or drop (None) each sample's record as one undoable step;
        returns how many records changed."""
        with self._writing():
            return self._change_now(new)

    def _change_now(self, new: Mapping[str, Optional[Correction]]) -> int:
        step = [{"sample_id": k, "before": None if k not in self.records
                 else asdict(self.records[k])}
                for k, record in new.items() if self.records.get(k) != record]
        if not step:
            return 0
        added = sum(1 for k, r in new.items() if r is not None and k not in self.records)
        limit = record_limit()
        if len(self.records) + added > limit:
            raise CorrectionsError(f"this change would hold {len(self.records) + added:,} "
                                   f"corrections; an overlay holds at most {limit:,}. Fix: "
                                   f"export and clear some, or correct fewer samples.")
        for k, record in new.items():
            if record is None:
                self.records.pop(k, None)
            else:
                self.records[k] = record
        self.undo_stack = _bounded_undo(self.undo_stack + [step],
                                         entries=UNDO_ENTRIES_PER_RECORD * limit)
        self._save()
        return len(step)

    def _record(self, sample_id: str, *, action: str, label: Optional[str], reason: str,
                source: str, when: str) -> Correction:
        original = self.class_names[self._labels[self._row[sample_id]]]
        return Correction(sample_id=sample_id, action=action, label=label, reason=reason,
                          source=str(source)[:64], when=when, original=original)

    def relabel(self, *, sample_ids: Sequence, labels, reason: str = "manual",
                source: str = "manual") -> int:
        """Give each sample a new class (one label for all, or one per id). A label equal to
        the dataset's own records a keep. Returns how many records changed."""
        return self._change(self._relabel_records(sample_ids, labels, reason=reason,
                                                  source=source))

    def _relabel_records(self, sample_ids: Sequence, labels, *, reason: str,
                         source: str) -> dict[str, Correction]:
        ids = self._check_ids(sample_ids)
        self._check_reason(reason)
        if isinstance(labels, (str, int, np.integer)):
            labels = [labels] * len(ids)
        labels = [self._check_class(label) for label in labels]
        if len(labels) != len(ids):
            raise CorrectionsError(f"{len(labels)} labels for {len(ids)} sample ids")
        when = _now()
        new = {}
        for sample_id, label in zip(ids, labels):
            same = self.class_names[self._labels[self._row[sample_id]]] == label
            new[sample_id] = self._record(sample_id, action="keep" if same else "relabel",
                                          label=None if same else label, reason=reason,
                                          source=source, when=when)
        return new

    def exclude(self, *, sample_ids: Sequence, reason: str = "manual",
                source: str = "manual") -> int:
        """Leave these samples out of training and evaluation."""
        return self._mark(sample_ids, action="exclude", reason=reason, source=source)

    def keep(self, *, sample_ids: Sequence, reason: str = "manual",
             source: str = "review") -> int:
        """Mark samples reviewed with their label confirmed (a review queue's "keep")."""
        return self._mark(sample_ids, action="keep", reason=reason, source=source)

    def _mark(self, sample_ids: Sequence, *, action: str, reason: str, source: str) -> int:
        return self._change(self._mark_records(sample_ids, action=action, reason=reason,
                                               source=source))

    def _mark_records(self, sample_ids: Sequence, *, action: str, reason: str,
                      source: str) -> dict[str, Correction]:
        ids = self._check_ids(sample_ids)
        self._check_reason(reason)
        when = _now()
        return {k: self._record(k, action=action, label=None, reason=reason, source=source,
                                when=when) for k in ids}

    def remove(self, *, sample_ids: Sequence) -> int:
        """Drop these samples' records (back to the dataset's label), as one undoable step."""
        ids = self._check_ids(sample_ids)
        return self._change({k: None for k in ids if k in self.records})

    def accept_suggestions(self, *, issues, top: Optional[int] = None,
                           flagged_only: bool = True, source: str = "label_issues") -> int:
        """Accept the first `top` rows (all when None) of a
        `core.analysis.label_issues.find_label_issues` table (columns sample_id and
        suggested_class), flagged rows only unless `flagged_only=False`, as one undoable
        step: each row's suggested `action` — relabel to the suggested class, exclude, or
        keep (left as it is) — and relabel for a table without that column. The measured
        no-human policy is `find_label_issues(include_all=True)` with `flagged_only=False`."""
        missing = {"sample_id", "suggested_class"} - set(issues.columns)
        if missing:
            raise CorrectionsError(f"the label-issue table lacks {sorted(missing)}; pass the "
                                   f"result of core.analysis.label_issues.find_label_issues")
        if flagged_only and "flagged" in issues.columns:
            issues = issues[issues["flagged"].astype(bool)]
        if top is not None:
            if top < 0:
                raise CorrectionsError(f"top must be 0 or more, got {top}")
            issues = issues.head(top)
        if not len(issues):
            return 0
        actions = (issues["action"].astype(str) if "action" in issues.columns
                   else np.full(len(issues), "relabel", dtype=object))
        unknown = sorted(set(actions) - {"relabel", "exclude", "keep"})
        if unknown:
            raise CorrectionsError(f"suggested actions must be relabel, exclude or keep, got "
                                   f"{unknown}")
        relabel = issues[np.asarray(actions) == "relabel"]
        exclude = issues[np.asarray(actions) == "exclude"]
        new = self._relabel_records(relabel["sample_id"].tolist(),
                                    relabel["suggested_class"].tolist(),
                                    reason="label_issue", source=source)
        new.update(self._mark_records(exclude["sample_id"].tolist(), action="exclude",
                                      reason="label_issue", source=source))
        return self._change(new)

    def apply_records(self, records: Iterable[Correction], *, source: Optional[str] = None) -> int:
        """Apply records (e.g. from another corrections file) as one step, validated whole."""
        records = list(records)
        ids = self._check_ids([r.sample_id for r in records])
        new = {}
        for sample_id, record in zip(ids, records):
            if record.action not in ACTIONS:
                raise CorrectionsError(f"{sample_id}: action must be one of {ACTIONS}, "
                                       f"not {record.action!r}")
            label = self._check_class(record.label) if record.action == "relabel" else None
            new[sample_id] = self._record(sample_id, action=record.action, label=label,
                                          reason=self._check_reason(record.reason),
                                          source=source or record.source,
                                          when=record.when or _now())
        return self._change(new)

    def apply_file(self, path: str | Path) -> int:
        """`apply_records` of a corrections file (one this module wrote, or by hand)."""
        header, records, _ = read_corrections_file(path)
        if header.get("dataset") not in (None, self.dataset):
            raise CorrectionsError(f"{path} holds corrections of dataset {header['dataset']}, "
                                   f"not {self.dataset}. Fix: apply it to that dataset.")
        return self.apply_records(records)

    def undo(self) -> int:
        """Revert the last change; returns how many records it touched (0: nothing to undo)."""
        with self._writing():
            if not self.undo_stack:
                return 0
            step = self.undo_stack.pop()
            for entry in step:
                before = entry["before"]
                if before is None:
                    self.records.pop(entry["sample_id"], None)
                else:
                    self.records[entry["sample_id"]] = Correction(**before)
            self._save()
            return len(step)

    def undo_sample(self, sample_id: str) -> int:
        """Drop one sample's record (undoable like any change)."""
        return self.remove(sample_ids=[sample_id])

    def clear(self) -> int:
        """Drop every record (undoable)."""
        return self._change({k: None for k in self.records})


def read_corrections_file(path: str | Path) -> tuple[dict, list[Correction], list[list[dict]]]:
    """(header, records, undo steps) of a corrections JSON-lines file. A record line needs
    sample_id and action; the other fields are optional (files written by hand)."""
    path = Path(path)
    if not path.is_file():
        raise CorrectionsError(f"no corrections file at {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CorrectionsError(f"{path} is larger than {MAX_FILE_BYTES:,} bytes; a corrections "
                               f"file holds at most {MAX_RECORDS:,} records")
    header: dict = {}
    records: list[Correction] = []
    steps: list[list[dict]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            kind = item.pop("type", "record")
            if kind == "header":
                header = item
            elif kind == "undo":
                steps.append(list(item["step"]))
            else:
                records.append(Correction(
                    sample_id=str(item["sample_id"]), action=str(item["action"]),
                    label=None if item.get("label") is None else str(item["label"]),
                    reason=str(item.get("reason", "manual")),
                    source=str(item.get("source", "file")), when=str(item.get("when", "")),
                    original=str(item.get("original", ""))))
        except (ValueError, KeyError, TypeError) as error:
            raise CorrectionsError(f"{path}, line {number}: not a correction record ({error}). "
                                   f"Fix: each line is a JSON object with sample_id and "
                                   f"action (relabel with label, exclude, keep).") from error
    if header and header.get("format") not in (None, FORMAT):
        raise CorrectionsError(f"{path} is not a Transfer Lens corrections file")
    if len(records) > MAX_RECORDS:
        raise CorrectionsError(f"{path} holds {len(records):,} records; at most {MAX_RECORDS:,}")
    return header, records, steps


def corrections_path(*, dataset: str, namespace: str = DEFAULT_NAMESPACE,
                     cache_dir: str | Path | None = None) -> Path:
    """Where the overlay of `dataset` (its content fingerprint) in `namespace` is kept. In a
    public app the namespace is a visitor's session and its overlays lie in that session's
    own uploads folder (public_uploads/<session>/corrections/<dataset>.jsonl), as its
    uploads, exports and stored selections do: they go when the session ends or stops
    using them (core.datasets.uploads), so visitors cannot fill the disk over time."""
    from core.base.public import is_public, uploads_root

    if not _NAMESPACE.match(namespace):
        raise CorrectionsError(f"namespace must be 1-64 letters, digits, '-' or '_', "
                               f"not {namespace!r}")
    if not re.match(r"^[A-Za-z0-9_-]{1,128}$", dataset):
        raise CorrectionsError(f"not a dataset fingerprint: {dataset!r}")
    root = cache_root(cache_dir)
    if is_public():
        return uploads_root(root) / namespace / KIND / f"{dataset}.jsonl"
    return root / KIND / dataset / f"{namespace}.jsonl"


def open_corrections(*, tv, namespace: Optional[str] = None,
                     cache_dir: str | Path | None = None) -> Corrections:
    """The overlay of tv's dataset in `namespace` (created empty on first change). In public
    mode each visitor needs their own namespace (e.g. the session id), so one is required."""
    from core.base.public import PublicModeError, is_public

    if namespace is None:
        if is_public():
            raise PublicModeError("Corrections in a public Transfer Lens belong to a session: "
                                  "pass namespace= (the visitor's session id).")
        namespace = DEFAULT_NAMESPACE
    dataset = dataset_id_of(tv)
    base = tv.manifest.get("corrections", {})
    if base:
        raise CorrectionsError("these transfer values already carry corrections; open the "
                               "overlay on the uncorrected values")
    return Corrections(path=corrections_path(dataset=dataset, namespace=namespace,
                                             cache_dir=cache_dir),
                       dataset=dataset, namespace=namespace, sample_ids=tv.sample_ids,
                       labels=tv.labels, class_names=tv.class_names)


def corrections_from_file(*, tv, path: str | Path) -> Corrections:
    """A detached overlay (in memory, never saved) holding a corrections file's records,
    validated against tv: e.g. to train once on corrected labels (`train --corrections`)."""
    overlay = Corrections(path=None, dataset=dataset_id_of(tv), namespace=DEFAULT_NAMESPACE,
                          sample_ids=tv.sample_ids, labels=tv.labels, class_names=tv.class_names)
    overlay.apply_file(path)
    return overlay
