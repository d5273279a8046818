"""Corrections in the app (issue 29), driven headless with AppTest on digits and the tiny
test backbone: per-image and bulk actions, the review queue, undo, a reload that finds the
corrections again, retrain-and-compare, and public visitors kept apart."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import (assert_clean, open_app, reviewed,  # noqa: E402
                                   show, sidebar_texts, texts)

pytestmark = pytest.mark.slow  # the whole app (AppTest), each test from its first run


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert_clean(at)
    return at




def overlay_records(dataset: str, backbone: str):
    """What core's store holds for the app's values (the local namespace)."""
    from core.corrections import open_corrections
    from core.datasets import load_dataset
    from core.features.transfer_values import compute_transfer_values

    tv = compute_transfer_values(dataset=load_dataset(name=dataset), backbone=backbone,
                                 image_size=32)
    return open_corrections(tv=tv).records


def test_review_queue_undo_reload_and_retrain(app: AppTest, tiny_backbone,
                                              monkeypatch) -> None:
    show(app, "Review")
    assert "check the data quality first" in texts(app)
    show(app, "Data quality")
    click(app, "find_issues")
    show(app, "Review")
    done, total, changed = reviewed(app)
    assert (done, changed) == (0, 0) and total > 3
    assert "Image **1 of" in texts(app)
    click(app, "review_accept")  # relabel to the suggestion, next image
    click(app, "review_keep")
    click(app, "review_exclude")
    assert reviewed(app) == (3, total, 2)
    assert "Image **4 of" in texts(app)
    click(app, "review_back")
    assert "Image **3 of" in texts(app) and "excluded" in texts(app)
    assert "**1 relabelled, 1 excluded** (1 kept as given)" in sidebar_texts(app)
    click(app, "review_undo_last")  # the exclusion
    assert reviewed(app) == (2, total, 1)
    records = overlay_records("digits", tiny_backbone)
    assert sorted(r.action for r in records.values()) == ["keep", "relabel"]

    # a reload (a new session on the same link) finds them, and resumes at the first open one
    again = open_app(dataset="digits", backbone=tiny_backbone, monkeypatch=monkeypatch)
    show(again, "Review")
    assert reviewed(again) == (2, total, 1)
    assert "Image **3 of" in texts(again)
    assert "**1 relabelled, 0 excluded**" in sidebar_texts(again)
    click(again, "retrain_compare")
    page = texts(again)
    assert "**Before → after**" in page
    labels = [m.label for m in again.metric]
    assert labels == ["Before · test labels as given", "After · test labels as given",
                      "Before · corrected test labels", "After · corrected test labels"]
    assert all(re.fullmatch(r"\d+\.\d%", m.value) for m in again.metric)


def test_bulk_and_per_image_actions(app: AppTest, tiny_backbone) -> None:
    show(app, "Data quality")
    click(app, "find_issues")
    flagged = int(re.search(r"\*\*([\d,]+) suspected label errors\*\*", texts(app)).group(1))
    assert flagged > 1
    click(app, "issues_accept_all")
    assert f"**{flagged} relabelled, 0 excluded**" in sidebar_texts(app)
    first = next(b.key for b in app.button if b.key and b.key.startswith("issue_fix_undo_"))
    click(app, first)  # one image back to its given label
    assert f"**{flagged - 1} relabelled, 0 excluded**" in sidebar_texts(app)
    row = int(first.rsplit("_", 1)[1])
    app.selectbox(key=f"issue_fix_to_{row}").set_value((row + 1) % 10).run()  # any class
    assert_clean(app)
    assert f"**{flagged} relabelled, 0 excluded**" in sidebar_texts(app)

    # Inspect: the image shown, excluded and back
    show(app, "Inspect")
    index = app.number_input(key="inspect_index").value
    click(app, f"inspect_fix_exclude_{index}")
    assert "excluded" in texts(app) and "1 excluded" in sidebar_texts(app)
    click(app, f"inspect_fix_undo_{index}")
    assert "0 excluded" in sidebar_texts(app)

    # the map rings the relabelled points
    show(app, "Projections")
    import json

    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert any(t["name"] == f"relabelled ({flagged})" for t in figure["data"])
    records = overlay_records("digits", tiny_backbone)
    assert sum(r.action == "relabel" for r in records.values()) == flagged

