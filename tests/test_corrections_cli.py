"""`python -m core corrections` and `train --corrections` on digits pixels, with --json."""

from __future__ import annotations

import json
import zipfile

import pandas as pd

from core.cli.main import main

DATA = ["--dataset", "digits", "--backbone", "pixels"]


def _run(capsys, *argv) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_accept_list_undo_export_and_train(capsys, tmp_path):
    code, listed = _run(capsys, "corrections", "list", *DATA)
    assert code == 0 and listed["counts"]["total"] == 0 and listed["content_hash"] == ""

    code, accepted = _run(capsys, "corrections", "accept", *DATA, "--k", "2", "--cross-fit", "3")
    # accepting with no human excludes the flagged samples (benchmarks section 12)
    assert code == 0 and accepted["changed"] == 2 and accepted["counts"]["exclude"] == 2
    assert all(r["reason"] == "label_issue" and r["source"] == "cli"
               for r in accepted["records"])

    out = tmp_path / "out"
    code, exported = _run(capsys, "corrections", "export", *DATA, "--file", str(tmp_path / "c.jsonl"),
                          "--csv", str(tmp_path / "c.csv"), "--zip", str(tmp_path / "c.zip"),
                          "--folder", str(out))
    assert code == 0 and exported["exported"]["folder"]["images"] == 1795
    excluded = {r["sample_id"] for r in accepted["records"]}
    csv = pd.read_csv(tmp_path / "c.csv", dtype=str).set_index("sample_id")
    assert len(csv) == 1795 and not excluded & set(csv.index)
    with zipfile.ZipFile(tmp_path / "c.zip") as archive:
        labels = pd.read_csv(archive.open("labels.csv"), dtype=str).set_index("sample_id")
    assert len(labels) == 1795 and not excluded & set(labels.index)

    code, trained = _run(capsys, "train", *DATA, "--corrections", str(tmp_path / "c.jsonl"))
    assert code == 0 and trained["corrections"]["excluded"] == 2
    assert trained["corrections"]["content_hash"] == accepted["content_hash"]
    code, plain = _run(capsys, "train", *DATA)
    assert code == 0 and plain["key"] != trained["key"] and "corrections" not in plain

    code, compared = _run(capsys, "corrections", "compare", *DATA)
    assert code == 0 and set(compared["comparison"]["accuracy"]) == {
        "before_original", "before_corrected", "after_original", "after_corrected"}
    assert compared["comparison"]["after_key"] == trained["key"]

    code, undone = _run(capsys, "corrections", "undo", *DATA)
    assert code == 0 and undone["changed"] == 2 and undone["counts"]["total"] == 0
    code, applied = _run(capsys, "corrections", "apply", *DATA, "--namespace", "other",
                         "--file", str(tmp_path / "c.jsonl"))
    assert code == 0 and applied["changed"] == 2 and applied["content_hash"] == accepted["content_hash"]
    code, one = _run(capsys, "corrections", "undo", *DATA, "--namespace", "other",
                     "--sample", next(iter(excluded)))
    assert code == 0 and one["changed"] == 1 and one["counts"]["exclude"] == 1


def test_errors_are_one_json_line(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"sample_id": "nope", "action": "exclude"}) + "\n")
    code, error = _run(capsys, "corrections", "apply", *DATA, "--file", str(bad))
    assert code == 2 and "not in dataset" in error["error"]
    code, error = _run(capsys, "corrections", "apply", *DATA)
    assert code == 2 and "--file" in error["error"]
    code, error = _run(capsys, "train", *DATA, "--corrections", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no corrections file" in error["error"]
