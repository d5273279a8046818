"""Corrections on digits pixels: the overlay's round trip, atomic writes, undo, hashes,
bounds, namespaces, corrected keys, retrain-and-compare and the exports."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.base.errors import TransferLensError
from core.corrections import (CorrectionsError, corrected, kept_rows, open_corrections,
                              read_corrections_file, retrain_and_compare)
from core.corrections.export import (cleaned_frame, cleaned_zip_bytes, export_csv,
                                     export_folder)
from core.datasets import load_dataset
from core.features.feature_sets import pixel_values
from core.heads import train_head


@pytest.fixture(scope="module")
def digits():
    return load_dataset(name="digits")


@pytest.fixture
def tv(digits):
    return pixel_values(dataset=digits)


def _ids(tv, rows):
    return [str(tv.sample_ids[r]) for r in rows]


def test_round_trip_and_stable_hash(tv):
    overlay = open_corrections(tv=tv)
    assert overlay.content_hash == "" and not overlay.path.exists()
    overlay.relabel(sample_ids=_ids(tv, [0, 1]), labels="7", reason="label_issue",
                    source="label_issues")
    overlay.exclude(sample_ids=_ids(tv, [2]), reason="outlier", source="outliers")
    assert overlay.path.is_file() and overlay.path.suffix == ".jsonl"
    again = open_corrections(tv=tv)
    assert again.records == overlay.records and again.content_hash == overlay.content_hash
    assert again.counts()["relabel"] == 2 and again.counts()["exclude"] == 1
    record = again.records[str(tv.sample_ids[0])]
    assert (record.label, record.reason, record.source) == ("7", "label_issue", "label_issues")
    assert record.original == tv.class_names[tv.labels[0]] and record.when.endswith("Z")
    # JSON lines, an open format: a header and one object per line
    lines = [json.loads(line) for line in overlay.path.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["content_hash"] == overlay.content_hash
    # the hash is of what changes training: a keep leaves it alone
    before = overlay.content_hash
    overlay.keep(sample_ids=_ids(tv, [3]))
    assert overlay.content_hash == before
    overlay.relabel(sample_ids=_ids(tv, [4]), labels="3")
    assert overlay.content_hash != before


def test_writes_are_atomic(tv, monkeypatch):
    overlay = open_corrections(tv=tv)
    overlay.relabel(sample_ids=_ids(tv, [0]), labels="5")
    saved = overlay.path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("core.base.atomic.os.replace", crash)
    with pytest.raises(OSError):
        overlay.relabel(sample_ids=_ids(tv, [1]), labels="5")
    assert overlay.path.read_bytes() == saved  # the old file, whole
    assert not [p for p in overlay.path.parent.iterdir() if ".tmp" in p.name]  # no temp left


def test_undo_last_change_and_one_sample(tv):
    overlay = open_corrections(tv=tv)
    overlay.relabel(sample_ids=_ids(tv, [0, 1, 2]), labels="9")
    first = overlay.content_hash
    overlay.relabel(sample_ids=_ids(tv, [1]), labels="4")
    overlay.exclude(sample_ids=_ids(tv, [5]))
    assert overlay.undo() == 1 and str(tv.sample_ids[5]) not in overlay.records
    assert overlay.undo() == 1 and overlay.content_hash == first  # 1 is back to "9"
    assert overlay.undo_sample(str(tv.sample_ids[0])) == 1
    assert str(tv.sample_ids[0]) not in overlay.records
    assert overlay.undo() == 1 and overlay.records[str(tv.sample_ids[0])].label == "9"
    reopened = open_corrections(tv=tv)  # the undo stack survives a reload
    assert reopened.undo() == 3 and len(reopened) == 0 and reopened.undo() == 0
    assert reopened.content_hash == ""


def test_validation_names_the_fault(tv):
    overlay = open_corrections(tv=tv)
    with pytest.raises(CorrectionsError, match="not in dataset"):
        overlay.relabel(sample_ids=["no-such-sample"], labels="1")
    with pytest.raises(CorrectionsError, match="unknown class 'eleven'"):
        overlay.relabel(sample_ids=_ids(tv, [0]), labels="eleven")
    with pytest.raises(CorrectionsError, match="reason must be"):
        overlay.exclude(sample_ids=_ids(tv, [0]), reason="because")
    with pytest.raises(CorrectionsError, match="twice"):
        overlay.exclude(sample_ids=_ids(tv, [0, 0]))
    with pytest.raises(CorrectionsError, match="namespace"):
        open_corrections(tv=tv, namespace="../escape")
    assert len(overlay) == 0 and not overlay.path.exists()  # nothing half-applied
    assert issubclass(CorrectionsError, TransferLensError)


def test_bound_on_records(tv, monkeypatch):
    monkeypatch.setattr("core.corrections.overlay.MAX_RECORDS", 5)
    overlay = open_corrections(tv=tv)
    overlay.exclude(sample_ids=_ids(tv, range(5)))
    with pytest.raises(CorrectionsError, match="at most 5"):
        overlay.exclude(sample_ids=_ids(tv, [6]))
    overlay.relabel(sample_ids=_ids(tv, [0]), labels="1")  # changing a record adds none
    assert len(overlay) == 5


def test_undo_history_is_bounded_by_entries_too(tv, monkeypatch):
    """"Relabel all" clicked again and again on the same images (each click a step of every
    image): the undo history keeps at most UNDO_ENTRIES_PER_RECORD × the record bound in
    sample changes, so the file read on every run stays small (issue 27, redteam: it grew
    by every image of every click; docs/public-mode.md has the measured growth)."""
    from core.corrections.overlay import UNDO_ENTRIES_PER_RECORD

    monkeypatch.setattr("core.corrections.overlay.MAX_RECORDS", 20)
    overlay = open_corrections(tv=tv)
    ids = _ids(tv, range(20))
    for click in range(12):
        assert overlay.relabel(sample_ids=ids, labels=str(1 + click % 2)) == 20
    _, records, steps = read_corrections_file(overlay.path)
    assert len(records) == 20
    assert sum(map(len, steps)) <= UNDO_ENTRIES_PER_RECORD * 20 and len(steps) >= 2
    assert overlay.undo() == 20 and overlay.undo() == 20  # the newest steps still undo
    labels, _ = open_corrections(tv=tv).labels_and_kept()  # back to the 10th click's "2"
    assert set(labels[:20]) == {list(tv.class_names).index("2")}


def test_public_overlays_go_with_their_session(tv, monkeypatch, isolated_cache):
    """A visitor's corrections lie in their session's own folder, so they are removed with
    it (session end, or an hour unused) instead of piling up in the shared cache."""
    import time

    from core.datasets.uploads import prune_uploads, remove_session_uploads

    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    session = "0123456789abcdef0123456789abcdef"
    overlay = open_corrections(tv=tv, namespace=session)
    overlay.exclude(sample_ids=_ids(tv, [0]))
    assert overlay.path.is_relative_to(isolated_cache / "public_uploads" / session)
    remove_session_uploads(session_id=session)
    assert len(open_corrections(tv=tv, namespace=session)) == 0
    open_corrections(tv=tv, namespace=session).exclude(sample_ids=_ids(tv, [1]))
    assert prune_uploads(max_age_seconds=60, now=time.time() + 120) == 1
    assert not overlay.path.exists()


def test_namespaces_are_isolated_and_public_mode_needs_one(tv, monkeypatch):
    alice = open_corrections(tv=tv, namespace="alice")
    bob = open_corrections(tv=tv, namespace="bob")
    alice.exclude(sample_ids=_ids(tv, [0]))
    assert len(open_corrections(tv=tv, namespace="bob")) == 0 and len(bob) == 0
    assert len(open_corrections(tv=tv)) == 0  # the local namespace is another one
    assert alice.path.parent == bob.path.parent  # one folder per dataset fingerprint
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    with pytest.raises(TransferLensError, match="session"):
        open_corrections(tv=tv)
    from core.base.public import PublicPolicy

    monkeypatch.setattr("core.base.public.policy", lambda: PublicPolicy(
        enabled=True, allow_fine_tuning=False, max_corrections=2))
    with pytest.raises(CorrectionsError, match="at most 2"):
        open_corrections(tv=tv, namespace="carol").exclude(sample_ids=_ids(tv, range(3)))


def test_corrected_values_have_their_own_key_and_uncorrected_stay_cached(tv):
    before = train_head(tv=tv, head="logreg")
    overlay = open_corrections(tv=tv)
    assert corrected(tv, overlay) is tv  # no corrections: the same values, the same key
    overlay.relabel(sample_ids=_ids(tv, [0, 1]), labels="8")
    overlay.exclude(sample_ids=_ids(tv, [2, 3]))
    fixed = corrected(tv, overlay)
    assert fixed.key != tv.key and fixed.n == tv.n - 2
    assert list(kept_rows(fixed)) == [0, 1] + list(range(4, tv.n))
    assert list(fixed.labels[:2]) == [8, 8] and np.array_equal(fixed.values[2], tv.values[4])
    after = train_head(tv=fixed, head="logreg")
    assert after.key != before.key and after.cache == "miss"
    assert train_head(tv=tv, head="logreg").cache == "hit"  # before stays cached
    assert train_head(tv=fixed, head="logreg").cache == "hit"
    overlay.relabel(sample_ids=_ids(tv, [0]), labels="6")
    assert corrected(tv, overlay).key != fixed.key


def test_accept_top_suggestions(tv):
    from core.analysis.label_issues import find_label_issues
    from tests.support.data import with_flipped_labels

    noisy, flipped = with_flipped_labels(tv, fraction=0.03, seed=1)
    probabilities = train_head(tv=noisy, head="logreg", cross_fit_folds=3).probabilities
    issues = find_label_issues(tv=noisy, probabilities=probabilities)
    overlay = open_corrections(tv=noisy)
    assert overlay.accept_suggestions(issues=issues, top=10) == 10
    table = overlay.table()
    assert set(table["sample_id"]) == set(issues["sample_id"].head(10))
    assert (table["reason"] == "label_issue").all()
    labels, kept = overlay.labels_and_kept()
    top = issues.head(10)
    assert (top["action"] == "exclude").all()  # the measured no-human policy
    assert kept.sum() == tv.n - 10 and not kept[top["index"].to_numpy()].any()
    assert overlay.undo() == 10 and len(overlay) == 0  # one undoable step
    # each row's action is carried: relabel where the evidence backs the suggested class
    mixed = top.assign(action=np.where(top["relabel_backed"], "relabel", "exclude"))
    assert overlay.accept_suggestions(issues=mixed) == 10
    labels, kept = overlay.labels_and_kept()
    backed = top["relabel_backed"].to_numpy()
    fixed_rows, dropped_rows = top["index"].to_numpy()[backed], top["index"].to_numpy()[~backed]
    assert backed.any() and kept[fixed_rows].all() and not kept[dropped_rows].any()
    assert np.array_equal(labels[fixed_rows], top["suggested"].to_numpy()[backed])
    # most backed relabels undo a planted flip
    assert np.mean(labels[fixed_rows] == tv.labels[fixed_rows]) >= 0.7
    overlay.clear()
    # a table without the action column (before it existed) relabels every row
    assert overlay.accept_suggestions(issues=top.drop(columns="action"), top=3) == 3
    assert overlay.counts()["relabel"] == 3
    overlay.clear()
    # the whole ranking: flagged rows exclude, the rest keep; accepting it all = the flagged
    ranked = find_label_issues(tv=noisy, probabilities=probabilities, include_all=True)
    flagged_rows = ranked["flagged"].to_numpy(dtype=bool)
    assert np.array_equal(ranked["action"].to_numpy() == "exclude", flagged_rows)
    assert (ranked.loc[~flagged_rows, "action"] == "keep").all() and (~flagged_rows).any()
    assert overlay.accept_suggestions(issues=ranked, flagged_only=False) == len(issues)
    labels, kept = overlay.labels_and_kept()
    assert np.array_equal(np.flatnonzero(~kept), np.sort(issues["index"].to_numpy()))
    with pytest.raises(CorrectionsError, match="relabel, exclude or keep"):
        overlay.accept_suggestions(issues=ranked.assign(action="drop"), flagged_only=False)


def test_retrain_and_compare(tv):
    overlay = open_corrections(tv=tv)
    test = np.flatnonzero(tv.splits == 2)
    # "correct" five test labels to a wrong class, exclude two test samples
    wrong = [(int(tv.labels[r]) + 1) % 10 for r in test[:5]]
    overlay.relabel(sample_ids=_ids(tv, test[:5]), labels=wrong)
    overlay.exclude(sample_ids=_ids(tv, test[5:7]))
    result = retrain_and_compare(tv=tv, corrections=overlay, head="logreg")
    before = train_head(tv=tv, head="logreg")
    assert result.accuracy["before_original"] == pytest.approx(before.metrics["test_accuracy"])
    # only test labels changed: the after head is trained on the same train split
    assert result.accuracy["after_original"] == pytest.approx(result.accuracy["before_original"])
    assert result.accuracy["after_corrected"] < result.accuracy["after_original"]
    assert len(result.kept_test_rows) == len(test) - 2
    assert result.confusion_before.sum() == len(test) - 2
    assert result.confusion_difference.shape == (10, 10)
    assert {e["sample_id"] for e in result.label_errors} == set(_ids(tv, test[:5]))
    assert json.dumps(result.as_dict())


def test_exports_csv_zip_folder(tv, digits, tmp_path):
    overlay = open_corrections(tv=tv)
    overlay.relabel(sample_ids=_ids(tv, [0, 10]), labels="4")
    overlay.exclude(sample_ids=_ids(tv, [1]))
    csv = pd.read_csv(export_csv(dataset=digits, corrections=overlay, path=tmp_path / "c.csv"),
                      dtype=str)
    assert list(csv.columns[:2]) == ["path", "label"] and len(csv) == tv.n - 1
    assert str(tv.sample_ids[1]) not in set(csv["sample_id"])
    by_id = dict(zip(csv["sample_id"], csv["label"]))
    assert by_id[str(tv.sample_ids[0])] == "4" and by_id[str(tv.sample_ids[10])] == "4"

    archive = zipfile.ZipFile(io.BytesIO(cleaned_zip_bytes(dataset=digits, corrections=overlay)))
    labels = pd.read_csv(archive.open("labels.csv"), dtype=str)
    folder_label = {name.split("/")[1]: name.split("/")[0]
                    for name in archive.namelist() if name.endswith(".png")}
    assert len(folder_label) == tv.n - 1
    expected_labels, kept = overlay.labels_and_kept()
    expected = {str(tv.sample_ids[r]): tv.class_names[expected_labels[r]]
                for r in np.flatnonzero(kept)}
    assert dict(zip(labels["sample_id"], labels["label"])) == expected
    assert all(folder_label[path.split("/")[1]] == label
               for path, label in zip(labels["path"], labels["label"]))
    png = archive.read(labels["path"][0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(CorrectionsError, match="more than|passed"):
        cleaned_zip_bytes(dataset=digits, corrections=overlay, max_bytes=1000)

    out = export_folder(dataset=digits, corrections=overlay, out=tmp_path / "clean")
    assert out["images"] == tv.n - 1 and out["written"] == tv.n - 1
    assert (tmp_path / "clean" / "4").is_dir()
    assert len(list((tmp_path / "clean").rglob("*.png"))) == tv.n - 1
    with pytest.raises(CorrectionsError, match="exists"):
        export_folder(dataset=digits, corrections=overlay, out=tmp_path / "clean")


def test_folder_export_hard_links_files(tmp_path):
    from PIL import Image

    from core.corrections.export import export_folder
    from core.datasets import load_dataset as load

    root = tmp_path / "photos"
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(root / label / f"{i}.png")
    dataset = load(name=str(root))
    tv = pixel_values(dataset=dataset) if dataset.images.uniform_shape else None
    from core.features.feature_sets import from_arrays

    tv = tv or from_arrays(values=np.zeros((len(dataset), 2)), labels=dataset.labels,
                           splits=dataset.splits, sample_ids=dataset.sample_ids,
                           class_names=dataset.class_names)
    overlay = open_corrections(tv=tv)
    cat_id = next(s for s in dataset.sample_ids if s.startswith("cat/"))
    overlay.relabel(sample_ids=[cat_id], labels="dog")
    frame = cleaned_frame(dataset=dataset, corrections=overlay)
    assert frame.set_index("sample_id").loc[cat_id, "label"] == "dog"
    assert frame.set_index("sample_id").loc[cat_id, "path"] == str(root / cat_id)
    result = export_folder(dataset=dataset, corrections=overlay, out=tmp_path / "out")
    assert result["linked"] + result["copied"] == 12 and result["written"] == 0
    moved = tmp_path / "out" / "dog" / cat_id.replace("/", "__")
    assert moved.is_file() and moved.read_bytes() == (root / cat_id).read_bytes()


def test_apply_a_corrections_file(tv, tmp_path):
    from core.corrections.export import export_corrections_file

    source = open_corrections(tv=tv, namespace="source")
    source.relabel(sample_ids=_ids(tv, [0, 1]), labels="2")
    source.exclude(sample_ids=_ids(tv, [3]), reason="duplicate")
    path = export_corrections_file(corrections=source, path=tmp_path / "fixes.jsonl")
    header, records, steps = read_corrections_file(path)
    assert len(records) == 3 and steps == [] and header["dataset"] == source.dataset
    target = open_corrections(tv=tv, namespace="target")
    assert target.apply_file(path) == 3 and target.content_hash == source.content_hash
    assert target.undo() == 3 and len(target) == 0
    (tmp_path / "bad.jsonl").write_text('{"sample_id": "x"}\n')
    with pytest.raises(CorrectionsError, match="line 1"):
        target.apply_file(tmp_path / "bad.jsonl")


def test_two_openers_of_one_namespace_add_up_and_status(tv):
    tab_a, tab_b = open_corrections(tv=tv), open_corrections(tv=tv)
    tab_a.exclude(sample_ids=_ids(tv, [0]))
    tab_b.relabel(sample_ids=_ids(tv, [1]), labels="3")  # b had not seen a's change
    assert set(open_corrections(tv=tv).records) == set(_ids(tv, [0, 1]))
    assert list(tab_b.status(_ids(tv, [0, 1, 2]))) == ["exclude", "relabel", ""]
    assert tab_a.undo() == 1 and set(tab_a.records) == set(_ids(tv, [0]))  # b's step undone
