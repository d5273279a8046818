"""The Data quality view (issue 18) driven headless with AppTest on digits and the tiny
test backbone: every section, the CSV of all flagged items read back and compared with
`python -m core quality --csv`."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402,F401

from tests.support.apptest import (all_captions, assert_clean,  # noqa: E402
                                   digits_test_count, download, metric, show, texts)

pytestmark = pytest.mark.slow  # the whole app (AppTest), each test from its first run


def section(at: AppTest, name: str) -> AppTest:
    at.segmented_control(key="quality_section").set_value(name).run()
    assert_clean(at)
    return at


def test_class_balance_needs_no_head(app: AppTest) -> None:
    show(app, "Data quality")
    section(app, "Class balance")
    assert "**10 classes**, 1,797 images" in texts(app)
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert [trace["name"] for trace in figure["data"]] == ["train", "val", "test"]
    assert sum(sum(trace["y"]) for trace in figure["data"]) == 1797
    assert figure["data"][0]["marker"]["color"][:2] == ["#636EFA", "#EF553B"]  # as the scatter
    assert "needs the cross-fitted head" in texts(app)


def test_every_section_and_the_csv_equal_to_the_cli(app: AppTest, downloads, tiny_backbone,
                                                   tmp_path, capsys) -> None:
    from core.cli.main import main as cli

    show(app, "Data quality")
    assert "never saw the image" in texts(app)
    app.button(key="find_issues").click().run()
    assert_clean(app)
    page = texts(app)
    labels = int(re.search(r"\*\*([\d,]+) suspected label errors\*\*", page).group(1)
                 .replace(",", ""))
    if labels:
        assert "Flagged by " in page
        assert any(b.key.startswith("issue_nb_") for b in app.button if b.key)

    section(app, "Outliers")
    outliers = int(re.search(r"\*\*([\d,]+) outliers\*\* among 1,797 images", texts(app))
                   .group(1).replace(",", ""))
    assert "Outlier score **" in texts(app)  # every image ranked, most unusual first
    scores = [float(s) for s in re.findall(r"Outlier score \*\*([\d.]+)\*\*", texts(app))]
    assert len(scores) == 8 and scores == sorted(scores, reverse=True)
    assert re.search(r"Label: \*\*\d\*\* \((train|val|test)\)", texts(app))  # split names
    first = next(b.key for b in app.button if b.key and b.key.startswith("outlier_nb_"))
    app.button(key=first).click().run()
    assert_clean(app)
    assert f"Nearest neighbours of digits/{int(first.rsplit('_', 1)[1]):04d}" in texts(app)

    section(app, "Near-duplicates and leakage")
    assert app.slider(key="quality_dup_threshold").value == 0.1
    assert "Core's default 0.1" in app.slider(key="quality_dup_threshold").help
    assert "`--pixel-threshold`" in app.slider(key="quality_dup_threshold").help
    assert metric(app, "Test images with a duplicate in train").endswith(
        f" of {digits_test_count():,}")
    metric(app, "Test accuracy")
    app.slider(key="quality_dup_threshold").set_value(1.5).run()  # look-alikes group too
    assert_clean(app)
    groups = int(metric(app, "Duplicate groups").replace(",", ""))
    assert groups > 0 and "Group 1 · " in texts(app)
    # each group says which confirmation matched (the view passes the images to core)
    assert re.search(r"Group 1 · \d+ images( · :red\[spans splits\])? · same (pixels|transfer "
                     r"values)", texts(app))
    assert any(re.fullmatch(r"digits/\d+ · \d · (train|val|test)", c) for c in all_captions(app))
    assert any(b.key.startswith("dup_") for b in app.button if b.key)
    app.slider(key="quality_dup_threshold").set_value(0.1).run()
    assert_clean(app)

    section(app, "Class balance")
    table = app.dataframe[0].value
    assert list(table["class"]) == [str(c) for c in range(10)]
    assert table["total"].sum() == 1797 and "flagged_share" in table

    section(app, "Export flagged")
    ours = download(app, "quality_csv", downloads)
    assert {"sample_id", "class", "split", "issue", "score", "suggested_class"} <= set(ours)
    assert (ours["issue"] == "label").sum() == labels
    assert (ours["issue"] == "outlier").sum() == outliers
    assert f"**{len(ours):,} flagged items**" in texts(app)

    path = tmp_path / "flagged.csv"
    capsys.readouterr()
    assert cli(["quality", "--dataset", "digits", "--backbone", tiny_backbone,
                "--image-size", "32", "--json", "--csv", str(path)]) in (0, None)
    theirs = pd.read_csv(path)
    pd.testing.assert_frame_equal(ours[theirs.columns], theirs)


def test_the_cross_fitted_head_becomes_the_sessions_head(app: AppTest) -> None:
    """Issue 28 item 1: the session's first head, cross-fitted by Data quality, was called
    'none usable of 1 kept (degenerate runs)' although it scored far above chance."""
    from tests.support.apptest import sidebar_texts

    show(app, "Data quality")
    assert "Head: none trained on these transfer values yet" in sidebar_texts(app)
    app.button(key="find_issues").click().run()
    assert_clean(app)
    sidebar = sidebar_texts(app)
    assert "degenerate" not in sidebar, sidebar
    assert re.search(r"Head: \*\*logreg\*\*, test accuracy \d+\.\d%", sidebar), sidebar
    show(app, "Confusion")
    assert "Train a head first" not in texts(app)
    assert app.get("plotly_chart"), "the confusion matrix of the cross-fitted head"
