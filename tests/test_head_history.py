"""The heads cache as a history: listed without TensorFlow, the best head never a degenerate
one, delete and compare by key, the `heads` command; CSV and Parquet exports."""

import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from core.base.errors import TransferLensError
from core.heads import (HEADS, HeadModel, best_head, compare_cached_heads, compare_heads,
                        delete_head, is_degenerate, list_heads, load_head_by_key, register_head,
                        train_head)
from core.base.params import Params, param
from tests.support import ROOT
from tests.support.cli import cli_json
from tests.support.data import digits_pixels


@pytest.fixture
def constant_head():
    """A head that always answers class 0: what a run that learned nothing looks like."""

    @dataclass(frozen=True)
    class ConstantConfig(Params):
        label: int = param(0, min=0, max=9, help="the class always answered")

    @register_head
    class Constant(HeadModel):
        name = "test_constant"
        config = ConstantConfig

        def fit(self, data, *, progress=None, on_epoch=None):
            self.num_classes_ = data.num_classes
            return self

        def predict_proba(self, X):
            out = np.zeros((len(X), self.num_classes_), np.float32)
            out[:, self.params["label"]] = 1
            return out

        def save_state(self, folder):
            return []

    yield Constant.name
    HEADS.pop(Constant.name, None)


@pytest.fixture
def trained(isolated_cache, constant_head):
    tv = digits_pixels()
    good = train_head(tv=tv, head="logreg")
    weaker = train_head(tv=tv, head="logreg", params={"C": 0.0001, "max_iter": 5})
    bad = train_head(tv=tv, head=constant_head)  # the newest
    return tv, good, weaker, bad


def test_degenerate_rule():
    assert "no better than chance" in is_degenerate(
        {"val_accuracy": 0.103, "chance_accuracy": 0.1, "n_val": 360})
    assert is_degenerate({"val_accuracy": 0.89, "chance_accuracy": 0.1, "n_val": 360}) is None
    nan_loss = [{"epoch": 1, "loss": 2.3, "val_loss": 2.3}, {"epoch": 2, "loss": float("nan"),
                                                             "val_loss": None}]
    assert "loss became nan in epoch 2" in is_degenerate({"val_accuracy": 0.9}, history=nan_loss)
    assert is_degenerate({}) is None  # nothing to judge on


def test_history_lists_best_and_never_picks_a_degenerate_head(trained):
    tv, good, weaker, bad = trained
    assert is_degenerate(bad) and is_degenerate(good) is None
    rows = list_heads(tv_key=tv.key)
    assert {r.key for r in rows} == {good.key, weaker.key, bad.key}
    row = next(r for r in rows if r.key == good.key)
    assert row.head == "logreg" and row.title == "Logistic regression"
    assert row.val_accuracy == good.metrics["val_accuracy"] and row.params == good.params
    assert row.created and row.path.is_dir() and row.degenerate is None
    assert next(r for r in rows if r.key == bad.key).degenerate
    assert best_head(tv_key=tv.key).key == good.key
    assert best_head(tv_key="no-such-values") is None
    json.dumps([r.fields() for r in rows])  # plain data


def test_history_survives_a_fresh_process_without_tensorflow(trained, isolated_cache):
    tv, good, _, bad = trained
    code = ("import json, sys; from core.heads.history import list_heads, best_head; "
            f"rows = list_heads(tv_key={tv.key!r}); "
            f"print(json.dumps([[r.key for r in rows], best_head(tv_key={tv.key!r}).key, "
            "'tensorflow' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    keys, best, tensorflow = json.loads(out.strip().splitlines()[-1])
    assert set(keys) >= {good.key, bad.key} and best == good.key and not tensorflow


def test_load_and_delete_by_key(trained):
    tv, good, weaker, _ = trained
    loaded = load_head_by_key(key=good.key)
    np.testing.assert_allclose(loaded.probabilities, good.probabilities)
    delete_head(key=good.key)
    assert good.key not in {r.key for r in list_heads(tv_key=tv.key)}
    assert best_head(tv_key=tv.key).key == weaker.key
    with pytest.raises(TransferLensError, match="No saved head"):
        delete_head(key=good.key)
    with pytest.raises(TransferLensError, match="not a head key"):
        load_head_by_key(key="../transfer_values")


def test_compare_two_heads(trained):
    tv, good, weaker, _ = trained
    result = compare_heads(weaker, good, tv=tv)
    assert result["a"]["key"] == weaker.key and result["b"]["test_accuracy"] == good.metrics["test_accuracy"]
    assert len(result["per_class"]) == 10
    row = result["per_class"][3]
    assert row["f1_change"] == pytest.approx(row["f1_b"] - row["f1_a"])
    change = np.array(result["confusion_change"])
    assert change.shape == (10, 10) and change.sum() == 0
    np.testing.assert_array_equal(change, np.array(result["confusion_b"]) - result["confusion_a"])
    counts = result["test"]
    assert counts["n"] == sum(v for k, v in counts.items() if k != "n") == good.metrics["n_test"]
    by_key = compare_cached_heads(key_a=weaker.key, key_b=good.key)
    assert by_key["confusion_change"] == result["confusion_change"]
    assert by_key["per_class"] == result["per_class"]
    json.dumps(by_key)


def test_heads_command(trained, capsys):
    tv, good, weaker, bad = trained
    listed = cli_json(capsys, "heads", "--dataset", "digits", "--backbone", "pixels")
    assert listed["tv_key"] == tv.key
    best = [row["key"] for row in listed["heads"] if row["best"]]
    assert best == [good.key]
    compared = cli_json(capsys, "heads", "--compare", weaker.key, good.key)
    assert np.array(compared["confusion_change"]).sum() == 0
    assert cli_json(capsys, "heads", "--delete", bad.key) == {"deleted": bad.key}
    assert len(cli_json(capsys, "heads", "--all")["heads"]) == 2


def test_rows_csv_and_values_parquet_exports(trained, tmp_path):
    from core.serving.export import export_rows_csv, export_values

    tv, good, _, _ = trained
    rows = np.array([5, 1, 700])
    path = export_rows_csv(tv=tv, rows=rows, path=tmp_path / "issues.csv", head=good,
                           extra_columns={"score": [0.9, 0.5, 0.1],
                                          "suggested": ["3", "1", "7"]})
    frame = pd.read_csv(path, dtype={"class": str, "predicted_class": str, "suggested": str})
    assert list(frame.columns[:5]) == ["sample_id", "index", "label", "class", "split"]
    assert {"predicted", "predicted_class", "confidence", "p_0", "p_9", "score",
            "suggested"} <= set(frame.columns)
    assert frame["index"].tolist() == rows.tolist()
    assert frame["label"].tolist() == tv.labels[rows].tolist()
    assert frame["predicted"].tolist() == good.predictions[rows].tolist()
    plain = pd.read_csv(export_rows_csv(tv=tv, rows=rows, path=tmp_path / "sel.csv"))
    assert list(plain.columns) == ["sample_id", "index", "label", "class", "split"]
    with pytest.raises(ValueError, match="column 'score'"):
        export_rows_csv(tv=tv, rows=rows, path=tmp_path / "x.csv", extra_columns={"score": [1]})

    parquet = pd.read_parquet(export_values(tv=tv, path=tmp_path / "v.parquet",
                                            format="parquet", head=good))
    assert len(parquet) == tv.n and "f63" in parquet.columns
    np.testing.assert_array_equal(parquet["predicted"], good.predictions)
    np.testing.assert_allclose(parquet["confidence"], good.probabilities.max(axis=1))
    np.testing.assert_allclose(parquet[[f"p_{c}" for c in tv.class_names]].sum(axis=1), 1,
                               atol=1e-5)
    without = pd.read_parquet(export_values(tv=tv, path=tmp_path / "w.parquet", format="parquet"))
    assert "predicted" not in without.columns
